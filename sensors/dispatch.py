"""`dispatch_sensor`: triggers every ready job, reading dependency order from the catalogue."""

import hashlib
import time
from datetime import UTC, datetime, timedelta

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from ras_assets.jobs import import_processed_job, trigger_ema_jobs
from ras_assets.recording import validate_recordings
from ras_assets.runs import has_active_run, import_run_request, recordings_importing
from ras_platform.state_store import StateStore
from resources import EmaResource, ObjectStoreResource, StateStoreResource
from sensors import TICK_INTERVAL_S

TRIGGERS_PER_RUN = 100  # one short run triggers EMA jobs of many recordings
# POST /jobs launches (or joins) a validation run itself; a request older than this with no such run
# queued or under way lost its run (the API killed between request and launch, a run that crashed).
VALIDATION_REQUEST_GRACE = timedelta(seconds=30)


def _unanswered_validations(
    context: SensorEvaluationContext, store: StateStore, bucket: str
) -> list[RunRequest]:
    """One `validate_recordings` run when a validation request waits with no run to answer it."""
    stale = store.validation_requests(limit=1, requested_before=datetime.now(UTC) - VALIDATION_REQUEST_GRACE)
    if not stale or has_active_run(context.instance, validate_recordings.name):
        return []
    context.log.info(f"validation of {stale[0][0]} (asked {stale[0][1]:%H:%M:%S}) has no run: launching one")
    return [RunRequest(run_key=f"validate-requested:{bucket}", job_name=validate_recordings.name)]


@sensor(
    name="dispatch_sensor",
    minimum_interval_seconds=TICK_INTERVAL_S,
    jobs=[trigger_ema_jobs, import_processed_job, validate_recordings],
    default_status=DefaultSensorStatus.RUNNING,
    description="Schedules pending jobs whose recording validated and whose upstream jobs completed; "
    "one trigger run per tick for all recordings.",
)
def dispatch_sensor(
    context: SensorEvaluationContext,
    state_store: StateStoreResource,
    object_store: ObjectStoreResource,
    ema: EmaResource,
) -> SensorResult:
    store = state_store.store
    # A platform job scheduled here while the import run of its inputs is queued or under way
    # would be built twice: by that run and by the one requested here (stuck ones included).
    importing = recordings_importing(context.instance)
    # A trigger run still queued or under way will take care of the jobs it lists: re-asking for
    # "stuck" ones while the queue is merely slow would only grow it.
    plan = state_store.lifecycle.dispatch(
        importing=importing,
        include_stuck=not has_active_run(context.instance, trigger_ema_jobs.name),
        trigger_timeout=timedelta(seconds=ema.trigger_timeout_s),
    )
    encoded = [ref.encode() for ref in plan.ema_jobs]
    # Run keys carry the interval: Dagster skips a run key it has seen whatever became of that run,
    # so a re-request of jobs whose run was lost (a killed daemon takes its run workers with it)
    # needs a fresh key. Re-triggering is harmless: EMA dedupes on the Idempotency-Key.
    bucket = str(int(time.time() // ema.trigger_timeout_s))
    run_requests = []
    for start in range(0, len(encoded), TRIGGERS_PER_RUN):
        batch = encoded[start : start + TRIGGERS_PER_RUN]
        run_requests.append(
            RunRequest(
                run_key="trigger:" + hashlib.sha1("|".join([*batch, bucket]).encode()).hexdigest()[:16],
                job_name=trigger_ema_jobs.name,
                run_config={"ops": {"trigger_ema": {"config": {"jobs": batch}}}},
                tags={"ras/jobs": str(len(batch))},
            )
        )
    run_requests += [
        import_run_request(store, rec, outs) for rec, outs in sorted(plan.platform_imports.items())
    ]
    run_requests += [
        import_run_request(store, rec, outs, salt=bucket)
        for rec, outs in sorted(plan.stuck_platform_imports.items())
        if rec not in importing
    ]
    run_requests += _unanswered_validations(context, store, bucket)
    if run_requests:
        context.log.info(f"scheduled {len(encoded)} EMA jobs, {len(plan.platform_imports)} platform imports")
    return SensorResult(run_requests=run_requests)
