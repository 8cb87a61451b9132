"""`upload_sensor`: watches the uploads area of the object store (never the API) for complete videos.

The cursor is the (last modified, key) of the last video taken in, as dagster-aws's S3 sensors keep
a last-modified cursor, but compared as a pair: videos completed in the same second are neither
skipped (dagster-aws's `since_last_modified` is strict) nor taken twice. Each tick takes at most
VIDEOS_PER_TICK videos, oldest first, and starts none after TICK_BUDGET_S, so a backlog drains over
several ticks within Dagster's 60 s tick limit. What happens to each video is
`ras_platform.upload_intake.take_in`.
"""

import hashlib
import time
from datetime import timedelta

from dagster import (
    AddDynamicPartitionsRequest,
    AssetObservation,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from ras_assets.recording import validate_recordings
from ras_assets.video import process_video_job, uploads_area
from ras_core import catalogue
from ras_platform.dagster_client import RECORDINGS_PARTITIONS
from ras_platform.upload_intake import Intake, UploadCursor, take_in, videos_after
from resources import ObjectStoreResource, StateStoreResource, UploadsResource
from sensors import TICK_INTERVAL_S

# Probing a video costs ~0.1 s locally, plus its download from S3: 20 stay far inside a 60 s tick.
VIDEOS_PER_TICK = 20
EXPIRIES_PER_TICK = 50
# A probe downloads the video from S3 first: past this much of a tick, no further video is started.
TICK_BUDGET_S = 30.0
# Clocks of the API, the store and this sensor differ a little: list a little further back.
HORIZON_MARGIN = timedelta(hours=1)


def _observation(intake: Intake) -> AssetObservation:
    outcome = intake.outcome
    return AssetObservation(
        asset_key=uploads_area.key,
        metadata={
            "upload_id": intake.upload_id,
            "recording_id": outcome.recording_id or "-",
            "state": outcome.state,
            "reason": outcome.reason or "-",
            "started_analysis": outcome.started_analysis,
            **({"video": outcome.video} if outcome.video else {}),
        },
    )


def _video_request(upload_id: str, recording_id: str) -> RunRequest:
    """The video's own run (thumbnail, renditions); keyed per upload, so a re-evaluated tick asks once."""
    return RunRequest(
        run_key=f"upload:{upload_id}:video",
        job_name=process_video_job.name,
        partition_key=recording_id,
        tags={"ras/recording": recording_id, "ras/upload": upload_id},
    )


def _validation_request(upload_ids: list[str]) -> RunRequest:
    """One `validate_recordings` run for the recordings this tick started, as POST /jobs launches it
    (their validation requests are written first); keyed by the uploads, so a re-evaluated tick asks once."""
    digest = hashlib.sha1("|".join(sorted(upload_ids)).encode()).hexdigest()[:16]
    return RunRequest(run_key=f"uploads:{digest}:validate", job_name=validate_recordings.name)


@sensor(
    name="upload_sensor",
    minimum_interval_seconds=TICK_INTERVAL_S,
    jobs=[validate_recordings, process_video_job],
    default_status=DefaultSensorStatus.RUNNING,
    description="Takes in complete videos under uploads/: probes each, registers its recording, adds its "
    "partition and starts its analysis and renditions; a file that is no video fails its upload with "
    "the prober's reason. Also expires uploads never completed.",
)
def upload_sensor(
    context: SensorEvaluationContext,
    object_store: ObjectStoreResource,
    state_store: StateStoreResource,
    uploads: UploadsResource,
) -> SensorResult:
    objects = object_store.store
    cursor = UploadCursor.decode(context.cursor)
    intakes = []
    horizon = uploads.over(objects).expiry + HORIZON_MARGIN
    started = time.monotonic()
    for info in videos_after(objects, cursor, VIDEOS_PER_TICK, horizon=horizon):
        if time.monotonic() - started > TICK_BUDGET_S:
            break  # large videos downloaded from S3: the rest wait for the next tick
        intakes.append(take_in(info.key, objects, state_store.store))
        cursor = UploadCursor.of(info)
    decided = [intake for intake in intakes if not intake.already_decided]
    for intake in decided:
        outcome = intake.outcome
        message = f"upload {intake.upload_id} ({outcome.recording_id or '?'}): {outcome.state}"
        if outcome.reason:
            message += f": {outcome.reason}"
        (context.log.warning if outcome.state == "failed" else context.log.info)(message)
    starting = [intake for intake in decided if intake.start_recording]
    for intake in starting:  # what POST /recordings/{id}/jobs decides before it launches the run
        state_store.lifecycle.start(intake.start_recording or "", list(catalogue.job_type_names()))
        state_store.store.request_validation(intake.start_recording or "")
    expired = uploads.over(objects).expire_stale(limit=EXPIRIES_PER_TICK)
    if expired:
        context.log.info(f"expired {len(expired)} uploads never completed: {', '.join(expired)}")
    return SensorResult(
        run_requests=[_video_request(i.upload_id, i.start_recording or "") for i in starting]
        + ([_validation_request([i.upload_id for i in starting])] if starting else []),
        dynamic_partitions_requests=[
            AddDynamicPartitionsRequest(
                RECORDINGS_PARTITIONS, sorted({i.start_recording or "" for i in starting})
            )
        ]
        if starting
        else [],
        asset_events=[_observation(intake) for intake in decided],
        cursor=cursor.encode() if cursor else None,
    )
