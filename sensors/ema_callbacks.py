"""`ema_callback_sensor`: applies inbox callbacks to the state machine, reports raw EMA assets
materialized and asks for import runs, grouping the ready imports of one recording into one run."""

import os
import time
from collections import defaultdict
from datetime import UTC, datetime

from dagster import (
    AssetMaterialization,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from ras_assets.jobs import import_processed_job
from ras_assets.raw import raw_asset_key
from ras_assets.runs import has_active_run, import_run_request
from ras_core.states import JobState
from ras_platform.callback_fast_path import (
    raw_event_description,
    raw_event_metadata,
)
from ras_platform.lifecycle import STUCK_IMPORT_AFTER, Lifecycle, RawMaterialization
from ras_platform.state_store import JobStatus
from resources import EmaResource, ObjectStoreResource, StateStoreResource
from sensors import TICK_INTERVAL_S

CALLBACKS_PER_TICK = 200  # bounds a tick well under Dagster's 60 s sensor timeout
# Benchmark reference only (bench/throughput.py): "1" asks for one import run per asset instead of one
# run for all the ready assets of a recording, to measure what the grouping saves.
RUN_PER_ASSET_ENV = "RAS_BENCH_RUN_PER_ASSET"


def _raw_event(raw: RawMaterialization) -> AssetMaterialization:
    return AssetMaterialization(
        asset_key=raw_asset_key(raw.raw_name),
        partition=raw.recording_id,
        description=raw_event_description(raw),
        metadata=raw_event_metadata(raw),
    )


def _sweep_stuck_imports(
    context: SensorEvaluationContext, jobs: Lifecycle, requests: dict[str, set[str]]
) -> list[RunRequest]:
    """Jobs left `succeeded` with no import run under way (a crash lost their import request or its
    run, or an import met a transient fault and waits for its backoff): the lifecycle completes them
    or names the imports to ask for again."""
    now = datetime.now(UTC)
    bucket = str(int(time.time() // STUCK_IMPORT_AFTER.total_seconds()))
    stuck: dict[str, set[str]] = defaultdict(set)
    for status in jobs.store.jobs_in_state(JobState.SUCCEEDED, limit=100):
        if status.recording_id in requests or not _import_due(status, now):
            continue
        if has_active_run(context.instance, import_processed_job.name, status.recording_id):
            continue
        stuck[status.recording_id] |= jobs.sweep_import(status.recording_id, status.job_type).imports
    return [
        import_run_request(
            jobs.store, recording_id, outputs, salt=f"{bucket}:{_retry_salt(jobs, recording_id)}"
        )
        for recording_id, outputs in sorted(stuck.items())
        if outputs
    ]


def _import_due(status: JobStatus, now: datetime) -> bool:
    """A backed-off import retry is due at its `not_before`; a lost import after the sweep interval."""
    if status.not_before is not None:
        return _aware(status.not_before) <= now
    return now - _aware(status.updated_at) >= STUCK_IMPORT_AFTER


def _retry_salt(jobs: Lifecycle, recording_id: str) -> str:
    # A retry after a backoff needs a run key of its own, even within one sweep interval.
    return ",".join(
        s.not_before.isoformat() for s in jobs.store.job_states(recording_id) if s.not_before is not None
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@sensor(
    name="ema_callback_sensor",
    minimum_interval_seconds=TICK_INTERVAL_S,
    jobs=[import_processed_job],
    default_status=DefaultSensorStatus.RUNNING,
    description="Applies EMA callbacks from the durable inbox, reports raw EMA outputs materialized "
    "and launches one import run per recording for the outputs that became ready.",
)
def ema_callback_sensor(
    context: SensorEvaluationContext,
    state_store: StateStoreResource,
    object_store: ObjectStoreResource,
    ema: EmaResource,
) -> SensorResult:
    jobs = state_store.lifecycle
    store = jobs.store
    plan = jobs.process_inbox(limit=CALLBACKS_PER_TICK)
    imports: dict[str, set[str]] = defaultdict(set, {k: set(v) for k, v in plan.imports.items() if v})
    per_asset = os.environ.get(RUN_PER_ASSET_ENV) == "1"
    groups = [
        (rec, group)
        for rec, outputs in sorted(imports.items())
        for group in ([{o} for o in sorted(outputs)] if per_asset else [outputs])
    ]
    run_requests = [import_run_request(store, rec, outputs) for rec, outputs in groups]
    run_requests += _sweep_stuck_imports(context, jobs, imports)
    if plan.failed:
        context.log.warning(
            f"callbacks failed={plan.failed} quarantined={plan.quarantined} (dead_letters; ras redrive)"
        )
    if plan.applied or plan.ignored or plan.deferred:
        context.log.info(
            f"callbacks applied={plan.applied} ignored={plan.ignored} deferred={plan.deferred}; "
            f"raw outputs={len(plan.raw_materializations)} import runs={len(run_requests)}"
        )
    return SensorResult(
        run_requests=run_requests,
        asset_events=[_raw_event(raw) for raw in plan.raw_materializations],
    )
