"""Run requests and run queries the sensors share: the one home of what a sensor asks of Dagster's
run queue, so that sensors never import each other."""

from dagster import AssetKey, DagsterInstance, DagsterRun, DagsterRunStatus, RunRequest, RunsFilter

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


def recordings_of(runs: list[DagsterRun]) -> set[str]:
    return {run.tags["ras/recording"] for run in runs if "ras/recording" in run.tags}


def recordings_with_active_runs(instance: DagsterInstance, job_name: str, limit: int = 1000) -> set[str]:
    """Recordings with a run of `job_name` queued or under way (past `limit` runs a recording is
    merely not recognised as busy)."""
    return recordings_of(active_runs(instance, job_name, limit))
