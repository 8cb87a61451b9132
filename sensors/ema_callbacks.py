"""`ema_callback_sensor`: applies inbox callbacks to the state machine, reports raw EMA assets
materialized and launches import runs, one per recording for all its outputs that are ready.

The API's callback fast path applies most callbacks before this sensor sees them, and launches
their imports itself while Dagster's run queue has room. This sensor is the safety net for both: it
applies what the fast path did not (within a time budget per tick, so a backlog never makes a tick
long) and launches the imports that wait, whether the fast path left them to a full queue or lost
them. It keeps at most `RAS_MAX_ACTIVE_IMPORT_RUNS` import runs queued or under way, launching the
longest-waiting first: an import that waits in the state store rather than in Dagster's run queue
picks up the recording's outputs that become ready meanwhile, so a wave of jobs goes into one run.
When more recordings wait than there are free slots, it packs them into `import_recordings` runs of
up to `RECORDINGS_PER_RUN` recordings each: under load a run per recording is what keeps imports
waiting (every run costs about a CPU-second before it imports anything).
"""

import math
import os
import time
from collections.abc import Collection
from datetime import UTC, datetime

from dagster import (
    AssetMaterialization,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from ras_assets.imports import RECORDINGS_PER_RUN, import_recordings
from ras_assets.jobs import import_processed_job
from ras_assets.raw import raw_asset_key
from ras_assets.runs import active_import_runs, import_recordings_request, import_run_request, recordings_of
from ras_core.states import JobState
from ras_platform.callback_fast_path import (
    raw_event_description,
    raw_event_metadata,
)
from ras_platform.lifecycle import READY_IMPORT_GRACE, STUCK_IMPORT_AFTER, Lifecycle, RawMaterialization
from ras_platform.state_store import JobStatus, StateStore
from resources import EmaResource, ObjectStoreResource, StateStoreResource
from sensors import TICK_INTERVAL_S

CALLBACKS_PER_TICK = 200
# Applying a callback is a few milliseconds on a quiet machine and ten times that on a saturated
# one: past this budget the rest of the inbox waits for the next tick, so that no tick runs long
# (bench `load`: a tick's p95).
INBOX_BUDGET_S = 3.0
# Jobs `succeeded` read per tick to find waiting imports, oldest first.
WAITING_JOBS_PER_TICK = 500
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


def _waiting_imports(jobs: Lifecycle, skip: Collection[str], room: int) -> dict[str, set[str]]:
    """Imports that wait for a launch, for the `room` recordings waiting longest: jobs `succeeded`
    past the grace (or past their backoff) whose recording has no import run queued or under way.
    The lifecycle names the outputs to import (or completes a job that has none)."""
    now = datetime.now(UTC)
    due: dict[str, list[str]] = {}
    for status in jobs.store.jobs_in_state(JobState.SUCCEEDED, limit=WAITING_JOBS_PER_TICK):
        if status.recording_id in skip or not _import_due(status, now):
            continue
        if status.recording_id in due or len(due) < room:
            due.setdefault(status.recording_id, []).append(status.job_type)
    waiting: dict[str, set[str]] = {}
    for recording_id, job_types in due.items():
        for job_type in job_types:
            if outputs := jobs.sweep_import(recording_id, job_type).imports:
                waiting.setdefault(recording_id, set()).update(outputs)
    return waiting


def _import_due(status: JobStatus, now: datetime) -> bool:
    """A backed-off import retry is due at its `not_before`; any other after the grace."""
    if status.not_before is not None:
        return _aware(status.not_before) <= now
    return now - _aware(status.updated_at) >= READY_IMPORT_GRACE


def _waiting_salt(jobs: Lifecycle, recording_id: str) -> str:
    """A run key of its own for each sweep interval (a request whose run was lost is asked for
    again in the next one; within one, Dagster skips a key it has seen) and for each backoff."""
    bucket = str(int(time.time() // STUCK_IMPORT_AFTER.total_seconds()))
    backoffs = ",".join(
        s.not_before.isoformat() for s in jobs.store.job_states(recording_id) if s.not_before is not None
    )
    return f"{bucket}:{backoffs}"


# One recording's waiting imports: (recording id, outputs, run-key salt).
Pending = tuple[str, set[str], str]


def _pack(pending: list[Pending], room: int) -> list[list[Pending]]:
    """The runs to launch now, at most `room`, in waiting order: a recording each while they fit,
    else the recordings shared out evenly, up to `RECORDINGS_PER_RUN` a run (what does not fit waits
    in the state store for a later tick)."""
    if len(pending) <= room:
        return [[p] for p in pending]
    size = min(RECORDINGS_PER_RUN, math.ceil(len(pending) / max(1, room)))
    return [pending[start : start + size] for start in range(0, len(pending), size)][:room]


def _run_request(store: StateStore, group: list[Pending]) -> RunRequest:
    """A recording alone gets an `import_processed` run (its partition's own run in the UI)."""
    if len(group) > 1:
        return import_recordings_request(store, group)
    [(recording_id, outputs, salt)] = group
    return import_run_request(store, recording_id, outputs, salt=salt)


def _reference_runs(pending: list[Pending], room: int) -> list[list[Pending]]:
    """The benchmark's reference, the design before issue 18: a run per recording for the waiting
    imports, a run per output for this tick's (salt-less) ones."""
    runs = [
        [(rec, outputs, salt)] if salt else [(rec, {output}, salt)]
        for rec, outputs, salt in pending
        for output in ([None] if salt else sorted(outputs))
    ]
    return runs[:room]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@sensor(
    name="ema_callback_sensor",
    minimum_interval_seconds=TICK_INTERVAL_S,
    jobs=[import_processed_job, import_recordings],
    default_status=DefaultSensorStatus.RUNNING,
    description="Applies EMA callbacks from the durable inbox that the API has not, reports raw EMA "
    "outputs materialized and launches import runs for the ready outputs, up to "
    "RAS_MAX_ACTIVE_IMPORT_RUNS queued or under way: one recording per run while they fit, else "
    "up to 8 recordings per import_recordings run.",
)
def ema_callback_sensor(
    context: SensorEvaluationContext,
    state_store: StateStoreResource,
    object_store: ObjectStoreResource,
    ema: EmaResource,
) -> SensorResult:
    jobs = state_store.lifecycle
    store = jobs.store
    capacity = state_store.platform.settings.max_active_import_runs
    clock = time.monotonic()
    plan = jobs.process_inbox(limit=CALLBACKS_PER_TICK, budget_s=INBOX_BUDGET_S)
    inbox_s = time.monotonic() - clock
    running = active_import_runs(context.instance)
    room, importing = max(0, capacity - len(running)), recordings_of(running)
    applied = {rec: set(outputs) for rec, outputs in plan.imports.items() if outputs and rec not in importing}
    waiting = _waiting_imports(jobs, skip=importing, room=room * RECORDINGS_PER_RUN) if room else {}
    # Waiting imports first (oldest first; with what this tick applied for the same recording),
    # then this tick's; what finds no free slot waits in the state store for a tick that has one.
    pending: list[Pending] = []
    for recording_id, outputs in waiting.items():
        outputs |= applied.pop(recording_id, set())
        pending.append((recording_id, outputs, _waiting_salt(jobs, recording_id)))
    pending += [(recording_id, outputs, "") for recording_id, outputs in sorted(applied.items())]
    groups = (
        _reference_runs(pending, room) if os.environ.get(RUN_PER_ASSET_ENV) == "1" else _pack(pending, room)
    )
    launched = [_run_request(store, group) for group in groups]
    held = len(pending) - len({rec for group in groups for rec, _, _ in group})
    if plan.failed:
        context.log.warning(
            f"callbacks failed={plan.failed} quarantined={plan.quarantined} (dead_letters; ras redrive)"
        )
    if plan.applied or plan.ignored or plan.deferred or plan.left or launched or held:
        context.log.info(
            f"callbacks applied={plan.applied} ignored={plan.ignored} deferred={plan.deferred} "
            f"left for the next tick={plan.left} (inbox {inbox_s:.1f} s); "
            f"raw outputs={len(plan.raw_materializations)}; import runs launched={len(launched)}, "
            f"waiting for a slot={held} (free {room} of {capacity}); "
            f"evaluated in {time.monotonic() - clock:.1f} s"
        )
    return SensorResult(
        run_requests=launched,
        asset_events=[_raw_event(raw) for raw in plan.raw_materializations],
    )
