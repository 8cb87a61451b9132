"""The recording's overall state in the Dagster UI, per partition.

`analytics_state` is a check of the `recording` asset: it fails (red) for a recording with a job that
failed for good, warns while jobs are under way or pending, and passes once every job completed, so
the `recording` asset is no longer green for a recording whose analytics failed. The
`recording_state_sensor` reports it (with an observation carrying the job table and the pictures)
whenever the change log says a recording changed; the check can also be executed from the UI.
"""

from collections.abc import Sequence

from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    AssetObservation,
    MetadataValue,
    asset_check,
)

from ras_assets.partitions import recordings_partitions
from ras_core import catalogue, pictures
from ras_core.records import JobStatus
from ras_core.states import JobState, overall_state
from resources import StateStoreResource

RECORDING = AssetKey("recording")
CHECK_NAME = "analytics_state"


def jobs_table(statuses: Sequence[JobStatus]) -> str:
    rows = [
        f"| {s.job_type} | {s.state.value} | {s.attempt} | {(s.reason or '').replace('|', '/')[:160]} |"
        for s in statuses
    ]
    return "\n".join(["| job | state | attempt | reason |", "|---|---|---|---|", *rows])


def pictures_markdown(api_base_url: str, recording_id: str, statuses: Sequence[JobStatus]) -> str:
    """Markdown images of the pictures whose source job has completed (the API draws them)."""
    done = {s.job_type: s.attempt for s in statuses if s.state is JobState.COMPLETED}
    images = []
    for picture in pictures.PICTURES:
        job = catalogue.job_of_processed(picture.source).name
        if job in done:
            # The attempt in the query string: a re-run's new picture is not hidden by a browser cache.
            path = f"/recordings/{recording_id}/pictures/{picture.name}.png?attempt={done[job]}"
            url = api_base_url.rstrip("/") + path
            images.append(f"**{picture.title}**\n\n![{picture.title}]({url})")
    return "\n\n".join(images)


def _verdict(statuses: Sequence[JobStatus]) -> tuple[bool, AssetCheckSeverity, str]:
    overall = overall_state([s.state for s in statuses])
    failed = [s for s in statuses if s.state is JobState.FAILED]
    if failed:
        first = failed[0]
        return (
            False,
            AssetCheckSeverity.ERROR,
            f"{first.job_type} failed (attempt {first.attempt}): {first.reason}",
        )
    if overall == "completed":
        return True, AssetCheckSeverity.WARN, "every job completed"
    waiting = [s.job_type for s in statuses if s.state is not JobState.COMPLETED]
    return False, AssetCheckSeverity.WARN, f"{overall}: waiting for {', '.join(waiting)}"


def state_metadata(statuses: Sequence[JobStatus]) -> dict[str, object]:
    return {
        "overall": overall_state([s.state for s in statuses]),
        "jobs": MetadataValue.md(jobs_table(statuses)),
        "failed_jobs": ", ".join(s.job_type for s in statuses if s.state is JobState.FAILED) or "-",
    }


def state_events(
    recording_id: str, statuses: Sequence[JobStatus], api_base_url: str
) -> tuple[AssetObservation, AssetCheckEvaluation]:
    """What the sensor reports for one recording: an observation of the `recording` asset with its
    state, jobs and pictures, and the `analytics_state` check's verdict."""
    passed, severity, description = _verdict(statuses)
    metadata = state_metadata(statuses)
    shown = pictures_markdown(api_base_url, recording_id, statuses)
    observation = AssetObservation(
        asset_key=RECORDING,
        partition=recording_id,
        description=description,
        metadata={**metadata, **({"pictures": MetadataValue.md(shown)} if shown else {})},
    )
    check = AssetCheckEvaluation(
        asset_key=RECORDING,
        check_name=CHECK_NAME,
        passed=passed,
        severity=severity,
        description=description,
        metadata=metadata,
        partition=recording_id,
    )
    return observation, check


@asset_check(
    asset="recording",
    name=CHECK_NAME,
    partitions_def=recordings_partitions,
    description="The recording's analytics: fails when a job failed for good, warns while jobs are "
    "pending or under way, passes when every job completed. Reported by recording_state_sensor.",
)
def analytics_state(context: AssetCheckExecutionContext, state_store: StateStoreResource) -> AssetCheckResult:
    statuses = state_store.store.job_states(context.partition_key)
    passed, severity, description = _verdict(statuses)
    return AssetCheckResult(
        passed=passed, severity=severity, description=description, metadata=state_metadata(statuses)
    )
