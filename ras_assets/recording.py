"""The `recording` asset: a registered recording whose metadata validates; the root of the graph."""

from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from ras_assets.jobs import trigger_and_observe
from ras_assets.partitions import recordings_partitions, registered_recording
from ras_core.recording import InvalidRecordingMetadata, parse_recording_metadata
from resources import EmaResource, ObjectStoreResource, StateStoreResource


@asset(partitions_def=recordings_partitions, group_name="recordings", kinds={"python"})
def recording(
    context: AssetExecutionContext,
    state_store: StateStoreResource,
    object_store: ObjectStoreResource,
    ema: EmaResource,
) -> MaterializeResult:
    """A match recording from the registry, validated per contracts.md (fps, duration, pitch, video
    URIs, periods). EMA jobs are dispatched only for recordings whose latest materialization passed;
    the jobs that are ready at once (the independent ones) are triggered in the same run."""
    jobs = state_store.lifecycle
    recording_id = context.partition_key
    meta = registered_recording(context, jobs.store)
    try:
        parse_recording_metadata(meta.to_dict())
    except InvalidRecordingMetadata as invalid:
        jobs.validated(recording_id, str(invalid))
        raise Failure(f"recording metadata invalid: {invalid}", allow_retries=False) from invalid
    # The independent jobs are ready now: the lifecycle schedules them and this run triggers them,
    # rather than a separate run (dagster-notes.md: every run costs seconds).
    plan = jobs.validated(recording_id, None)
    trigger_and_observe(context, plan.refs(recording_id), jobs, ema)
    return MaterializeResult(
        metadata={
            "fps": meta.fps,
            "duration_s": meta.duration_s,
            "pitch": f"{meta.pitch.length_m} x {meta.pitch.width_m} m",
            "periods": len(meta.periods),
            "video_uris": MetadataValue.json(list(meta.video_uris)),
            "teams": f"{meta.home_team or '?'} vs {meta.away_team or '?'}",
        }
    )
