"""POST/DELETE /recordings/{id}/jobs: start (through Dagster's GraphQL API) and cancel jobs."""

from __future__ import annotations

import httpx
from fastapi import APIRouter, status

from ras_api.auth import ZolaAuth
from ras_api.deps import ExistingRecording, PlatformDep
from ras_api.edge import GuardedRoute
from ras_api.models import JobsAccepted, JobsCancelled, JobsRequest
from ras_api.problems import Problem
from ras_api.routers.recordings import job_status_model
from ras_core import catalogue
from ras_core.states import IN_FLIGHT, JobState
from ras_platform.dagster_client import RECORDINGS_PARTITIONS, VALIDATE_RECORDINGS_JOB, DagsterError
from ras_platform.ema_client import EmaError

router = APIRouter(tags=["jobs"], route_class=GuardedRoute)


def _requested_job_types(request: JobsRequest) -> list[str]:
    names = request.job_types if request.job_types is not None else list(catalogue.job_type_names())
    unknown = sorted(set(names) - set(catalogue.job_type_names()))
    if unknown or not names:
        raise Problem(
            422,
            f"job_types: unknown {', '.join(unknown) or '(empty list)'}; known: "
            f"{', '.join(catalogue.job_type_names())}",
            invalid_params=[{"name": "job_types", "reason": "unknown job type"}],
        )
    return names


@router.post(
    "/recordings/{recording_id}/jobs",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[ZolaAuth],
    response_model=JobsAccepted,
    summary="Start (or retry, or force) a recording's jobs",
)
def start_jobs(request: JobsRequest, recording: ExistingRecording, platform: PlatformDep) -> JobsAccepted:
    store, recording_id = platform.state_store, recording.recording_id
    platform.lifecycle.start(recording_id, _requested_job_types(request), force=request.force)
    try:
        platform.dagster.add_partition(RECORDINGS_PARTITIONS, recording_id)
        # The request is written before looking for a waiting run: a run that has not begun reads
        # the requests when it does, so it validates this recording too, and no second run is needed.
        store.request_validation(recording_id)
        run_id = platform.dagster.waiting_run_id(VALIDATE_RECORDINGS_JOB) or platform.dagster.launch_run(
            VALIDATE_RECORDINGS_JOB
        )
    except (httpx.HTTPError, DagsterError) as error:
        # Jobs stay pending: a repeated POST launches the run (every step here is idempotent).
        raise Problem(503, f"Dagster did not launch the run: {error}") from error
    return JobsAccepted(
        recording_id=recording_id,
        run_id=run_id,
        jobs=[job_status_model(s) for s in store.job_states(recording_id)],
    )


@router.delete(
    "/recordings/{recording_id}/jobs",
    dependencies=[ZolaAuth],
    response_model=JobsCancelled,
    summary="Cancel in-flight EMA jobs and runs",
)
def cancel_jobs(recording: ExistingRecording, platform: PlatformDep) -> JobsCancelled:
    store, recording_id = platform.state_store, recording.recording_id
    for current in store.job_states(recording_id):
        job = catalogue.job_type(current.job_type)
        if current.state in IN_FLIGHT and current.ema_job_id and job.is_ema:
            try:
                platform.ema.cancel(job, current.ema_job_id)
            except EmaError as error:
                raise Problem(
                    502, f"EMA did not cancel {job.name} ({current.ema_job_id}): {error.message}"
                ) from error
    plan = platform.lifecycle.cancel(recording_id)
    cancelled = [
        change.job_type
        for change in plan.changes
        if change.decision.applied and change.decision.to_state is JobState.FAILED
    ]
    try:
        run_ids = platform.dagster.active_run_ids("ras/recording", recording_id)
        platform.dagster.terminate(run_ids)
    except (httpx.HTTPError, DagsterError) as error:
        raise Problem(503, f"jobs cancelled, but Dagster did not terminate the runs: {error}") from error
    return JobsCancelled(recording_id=recording_id, cancelled=cancelled, terminated_runs=run_ids)
