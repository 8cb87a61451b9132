"""Run requests and run queries the sensors share: the one home of what a sensor asks of Dagster's
run queue, so that sensors never import each other."""

from collections.abc import Sequence

from dagster import AssetKey, DagsterInstance, DagsterRun, DagsterRunStatus, RunRequest, RunsFilter

from ras_assets.imports import (
    RECORDINGS_TAG,
    RecordingImports,
    import_recordings,
    import_recordings_run_config,
    import_recordings_run_key,
)
from ras_assets.jobs import import_processed_job
from ras_platform.callback_fast_path import import_run_key, import_run_tags
from ras_platform.state_store import StateStore


def import_run_request(
    store: StateStore, recording_id: str, outputs: set[str], *, salt: str = ""
) -> RunRequest:
    """One run for every output of this recording that is ready now; keyed by the attempts that
    produced its inputs, so a repeated request for the same inputs is launched once (the API's
    callback fast path launches under the same key)."""
    return RunRequest(
        run_key=import_run_key(store, recording_id, outputs, salt=salt),
        job_name=import_processed_job.name,
        partition_key=recording_id,
        asset_selection=[AssetKey(name) for name in sorted(outputs)],
        tags=import_run_tags(recording_id, outputs),
    )


def import_recordings_request(store: StateStore, listed: Sequence[tuple[str, set[str], str]]) -> RunRequest:
    """One run importing several recordings' ready outputs, each (recording, outputs, salt) keyed as
    its own run would be: the same set of imports of the same attempts is launched once."""
    members = [RecordingImports(rec, tuple(sorted(outputs))) for rec, outputs, _ in listed]
    return RunRequest(
        run_key=import_recordings_run_key(
            import_run_key(store, rec, outputs, salt=salt) for rec, outputs, salt in listed
        ),
        job_name=import_recordings.name,
        run_config=import_recordings_run_config(members),
        tags={RECORDINGS_TAG: ",".join(m.recording_id for m in members), "ras/imports": str(len(members))},
    )


ACTIVE_RUN_STATUSES = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


def has_active_run(instance: DagsterInstance, job_name: str, recording_id: str | None = None) -> bool:
    """Whether a run of `job_name` (for this recording) is queued or under way: a job waiting for
    it is not stuck, and asking again would only grow the queue it waits in."""
    tags = {"ras/recording": recording_id} if recording_id else {}
    return bool(
        instance.get_run_ids(RunsFilter(job_name=job_name, statuses=ACTIVE_RUN_STATUSES, tags=tags), limit=1)
    )


def active_runs(instance: DagsterInstance, job_name: str, limit: int = 1000) -> list[DagsterRun]:
    """Runs of `job_name` queued or under way; bounded by the run queue, never a scan of all runs."""
    return list(instance.get_runs(RunsFilter(job_name=job_name, statuses=ACTIVE_RUN_STATUSES), limit=limit))


def active_import_runs(instance: DagsterInstance, limit: int = 1000) -> list[DagsterRun]:
    """Import runs queued or under way, of one recording (`import_processed`) or several."""
    return active_runs(instance, import_processed_job.name, limit) + active_runs(
        instance, import_recordings.name, limit
    )


def recordings_of(runs: list[DagsterRun]) -> set[str]:
    """The recordings these runs are for: one (`ras/recording`) or several (`ras/recordings`)."""
    found = {run.tags["ras/recording"] for run in runs if "ras/recording" in run.tags}
    for run in runs:
        found.update(r for r in run.tags.get(RECORDINGS_TAG, "").split(",") if r)
    return found


def recordings_importing(instance: DagsterInstance, limit: int = 1000) -> set[str]:
    """Recordings with an import run queued or under way (past `limit` runs of each import job a
    recording is merely not recognised as busy)."""
    return recordings_of(active_import_runs(instance, limit))
