"""The recording's overall state in the Dagster UI, per partition.

`recording_state_sensor` records an observation of the `recording` asset whenever the change log says
a recording changed: its overall state, what it waits for or why it failed, the job table (state,
attempt, reason) and the pictures, so a recording's partition page tells its story.

Not an asset check: Dagster keeps one run-less check evaluation per check and partition (a unique key
of its storage), so a sensor's second verdict on a recording fails the tick; and a check-only run of
a partitioned check is refused ("no PartitionsDefinition shared by all the provided assets").
"""

from collections.abc import Sequence

from dagster import AssetKey, AssetObservation, MetadataValue

from ras_core import catalogue, pictures
from ras_core.records import JobStatus
from ras_core.states import JobState, overall_state

RECORDING = AssetKey("recording")


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


def state_description(statuses: Sequence[JobStatus]) -> str:
    """One line: why a recording failed, what it waits for, or that it is complete."""
    overall = overall_state([s.state for s in statuses])
    failed = [s for s in statuses if s.state is JobState.FAILED]
    if failed:
        first = failed[0]
        return f"failed: {first.job_type} failed for good (attempt {first.attempt}): {first.reason}"
    if overall == "completed":
        return "completed: every job completed"
    waiting = [s.job_type for s in statuses if s.state is not JobState.COMPLETED]
    return f"{overall}: waiting for {', '.join(waiting)}"


def state_metadata(statuses: Sequence[JobStatus]) -> dict[str, object]:
    return {
        "overall": overall_state([s.state for s in statuses]),
        "jobs": MetadataValue.md(jobs_table(statuses)),
        "failed_jobs": ", ".join(s.job_type for s in statuses if s.state is JobState.FAILED) or "-",
    }


def state_observation(
    recording_id: str, statuses: Sequence[JobStatus], api_base_url: str
) -> AssetObservation:
    """What the sensor records for one recording: its state, jobs and pictures."""
    shown = pictures_markdown(api_base_url, recording_id, statuses)
    return AssetObservation(
        asset_key=RECORDING,
        partition=recording_id,
        description=state_description(statuses),
        metadata={**state_metadata(statuses), **({"pictures": MetadataValue.md(shown)} if shown else {})},
    )
