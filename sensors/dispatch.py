"""`dispatch_sensor`: triggers every ready job, reading dependency order from the catalogue."""

import hashlib

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SensorResult, sensor

from ras_assets.jobs import import_processed_job, trigger_ema_jobs
from ras_platform.orchestration import plan_dispatch
from resources import StateStoreResource
from sensors.ema_callbacks import import_run_request

TRIGGERS_PER_RUN = 100  # one short run triggers EMA jobs of many recordings


@sensor(
    name="dispatch_sensor",
    minimum_interval_seconds=5,
    jobs=[trigger_ema_jobs, import_processed_job],
    default_status=DefaultSensorStatus.RUNNING,
    description="Schedules pending jobs whose recording validated and whose upstream jobs completed; "
    "one trigger run per tick for all recordings.",
)
def dispatch_sensor(context: SensorEvaluationContext, state_store: StateStoreResource) -> SensorResult:
    store = state_store.store
    plan = plan_dispatch(store)
    encoded = [ref.encode() for ref in plan.ema_jobs]
    run_requests = []
    for start in range(0, len(encoded), TRIGGERS_PER_RUN):
        batch = encoded[start : start + TRIGGERS_PER_RUN]
        run_requests.append(
            RunRequest(
                run_key="trigger:" + hashlib.sha1("|".join(batch).encode()).hexdigest()[:16],
                job_name=trigger_ema_jobs.name,
                run_config={"ops": {"trigger_ema": {"config": {"jobs": batch}}}},
                tags={"ras/jobs": str(len(batch))},
            )
        )
    run_requests += [
        import_run_request(store, rec, outs) for rec, outs in sorted(plan.platform_imports.items())
    ]
    if run_requests:
        context.log.info(f"scheduled {len(encoded)} EMA jobs, {len(plan.platform_imports)} platform imports")
    return SensorResult(run_requests=run_requests)
