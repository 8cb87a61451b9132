"""What the sensors and runs decide, without Dagster: dispatch, callbacks, completion, retries.

The sensors in `sensors/` call these functions and turn their plans into Dagster run requests and
asset events. Keeping the decisions here means they are tested against a real state store and object
store without a Dagster instance, and the dependency order lives in exactly one place (`ready_job_types`),
read from the catalogue.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

from ras_core import catalogue
from ras_core.catalogue import JobType
from ras_core.states import JobState, Source, ready_job_types
from ras_platform.dead_letters import INBOX, INBOX_MAX_FAILURES, Failed
from ras_platform.object_store import ObjectStore
from ras_platform.state_store import JobStatus, StateStore

# A job left `scheduled` without an EMA job id this long lost its trigger run (a crash between the
# dispatch commit and the run launch): dispatch asks again, and EMA's Idempotency-Key dedupes.
# Deployments set it with RAS_EMA_TRIGGER_TIMEOUT_S.
DEFAULT_TRIGGER_TIMEOUT = timedelta(seconds=90)
# A job left `succeeded` this long lost its import request; the callback sensor asks again.
STUCK_IMPORT_AFTER = timedelta(seconds=60)


@dataclass(frozen=True)
class JobRef:
    recording_id: str
    job_type: str
    attempt: int

    def encode(self) -> str:
        return f"{self.recording_id}:{self.job_type}:{self.attempt}"

    @classmethod
    def decode(cls, value: str) -> JobRef:
        recording_id, job_type, attempt = value.rsplit(":", 2)
        return cls(recording_id, job_type, int(attempt))


@dataclass
class DispatchPlan:
    ema_jobs: list[JobRef] = field(default_factory=list)
    # recording → processed outputs to build (platform-computed jobs)
    platform_imports: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    # The same for platform jobs left scheduled or running past the trigger timeout: their import run
    # was lost (a killed daemon takes its run workers with it). Re-requested under a fresh run key,
    # since Dagster skips a run key it has seen, whatever became of that run.
    stuck_platform_imports: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))


def ready_jobs(statuses: list[JobStatus]) -> list[JobStatus]:
    """Pending jobs whose upstream job types are all completed (`ready_job_types`)."""
    ready = set(ready_job_types({s.job_type: s.state for s in statuses}))
    return [s for s in statuses if s.job_type in ready]


def plan_dispatch(
    store: StateStore,
    *,
    recording_ids: list[str] | None = None,
    importing: Collection[str] = (),
    include_stuck: bool = True,
    trigger_timeout: timedelta = DEFAULT_TRIGGER_TIMEOUT,
    now: datetime | None = None,
    limit: int = 500,
) -> DispatchPlan:
    """Schedule every ready job of every validated recording that has pending work.

    With `recording_ids` (the `recording` asset, right after validating one recording) only those
    recordings' EMA jobs are scheduled; platform jobs and stuck triggers are left to the sensor,
    which can launch the runs they need. Recordings in `importing` have an import run queued or under
    way: their platform jobs stay pending, because that run builds them itself when it imports their
    inputs (training clips with shot details), and a tick after it ends schedules any it did not.
    `include_stuck` also plans jobs whose trigger or platform run was lost (no progress for
    `trigger_timeout`); the sensor turns it off while a trigger run is still queued or under way.
    """
    now = now or datetime.now(UTC)
    plan = DispatchPlan()
    pending = recording_ids or store.recordings_with_ready_jobs(limit=limit)
    for recording_id in pending:
        ema_only = recording_ids is not None or recording_id in importing
        for status in store.schedule_ready_jobs(recording_id, ema_only=ema_only):
            _add_to_plan(plan, status)
    if recording_ids is None and include_stuck:
        _plan_stuck(store, plan, now=now, timeout=trigger_timeout, limit=limit)
    return plan


def _plan_stuck(
    store: StateStore, plan: DispatchPlan, *, now: datetime, timeout: timedelta, limit: int
) -> None:
    """Jobs whose trigger or platform run was lost (a crash between the dispatch commit and the
    run launch, or a run killed midway) are asked for again."""
    for state in (JobState.SCHEDULED, JobState.RUNNING):
        for status in store.jobs_in_state(state, limit=limit):
            is_ema = catalogue.job_type(status.job_type).is_ema
            if now - _aware(status.updated_at) <= timeout:
                continue
            if is_ema and state is JobState.SCHEDULED and status.ema_job_id is None:
                _add_to_plan(plan, status)
            elif not is_ema:
                _add_to_plan(plan, status, stuck=True)


def _add_to_plan(plan: DispatchPlan, status: JobStatus, *, stuck: bool = False) -> None:
    job = catalogue.job_type(status.job_type)
    if job.is_ema:
        plan.ema_jobs.append(JobRef(status.recording_id, status.job_type, status.attempt))
    elif stuck:
        plan.stuck_platform_imports[status.recording_id].update(job.processed_outputs)
    else:
        plan.platform_imports[status.recording_id].update(job.processed_outputs)


@dataclass(frozen=True)
class RawMaterialization:
    recording_id: str
    raw_name: str
    key: str
    uri: str
    size: int
    ema_job_id: str | None
    attempt: int


@dataclass
class InboxPlan:
    raw_materializations: list[RawMaterialization] = field(default_factory=list)
    imports: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    applied: int = 0
    ignored: int = 0
    deferred: int = 0
    failed: int = 0  # rows whose apply raised (counted in dead_letters)
    quarantined: int = 0  # of those, rows set aside by this tick


def process_inbox(
    store: StateStore, objects: ObjectStore, *, max_attempts: int, limit: int = 200
) -> InboxPlan:
    """Apply unprocessed callbacks to the state machine; plan raw events and import runs."""
    plan = InboxPlan()
    for callback in store.pending_callbacks(limit=limit):
        # A row that cannot be applied is counted and, after a few ticks, quarantined; the loop goes on.
        outcome = store.dead_letters.isolate(
            INBOX,
            callback.id,
            callback.recording_id,
            partial(store.apply_callback, callback, retry_within=max_attempts),
            max_failures=INBOX_MAX_FAILURES,
        )
        if isinstance(outcome, Failed):
            plan.failed += 1
            plan.quarantined += outcome.quarantined
            continue
        result = outcome.value
        if result is None:
            plan.deferred += 1
            continue
        if not result.decision.applied:
            plan.ignored += 1
            continue
        plan.applied += 1
        status = result.status
        if status.state is JobState.SUCCEEDED:
            _on_ema_succeeded(store, objects, status, plan, max_attempts=max_attempts)
    return plan


def _on_ema_succeeded(
    store: StateStore, objects: ObjectStore, status: JobStatus, plan: InboxPlan, *, max_attempts: int
) -> None:
    job = catalogue.job_type(status.job_type)
    found: list[RawMaterialization] = []
    for raw in job.raw_outputs:
        key = raw.key(status.recording_id)
        info = objects.stat(key)
        if info is None:
            fail_job(
                store,
                status.recording_id,
                job.name,
                f"EMA reported succeeded but {key} was not uploaded",
                source=Source.CALLBACK,
                max_attempts=max_attempts,
            )
            return
        found.append(
            RawMaterialization(
                status.recording_id,
                raw.name,
                key,
                objects.uri(key),
                info.size,
                status.ema_job_id,
                status.attempt,
            )
        )
    plan.raw_materializations.extend(found)
    plan.imports[status.recording_id].update(imports_after_success(objects, status.recording_id, job))


def imports_after_success(objects: ObjectStore, recording_id: str, job: JobType) -> set[str]:
    """Processed outputs that read this job's raw files and have every raw input in place, plus
    the outputs computed from those (training clips from shot details), so one run builds them."""
    produced = {raw.name for raw in job.raw_outputs}
    direct = {
        out.name
        for out in catalogue.PROCESSED_OUTPUTS
        if produced & set(out.raw_inputs)
        and all(objects.exists(catalogue.raw_output(r).key(recording_id)) for r in out.raw_inputs)
    }
    return with_derived_outputs(direct)


def with_derived_outputs(outputs: set[str]) -> set[str]:
    """`outputs` and every processed output computed from them, transitively."""
    closure = set(outputs)
    while derived := {
        out.name
        for out in catalogue.PROCESSED_OUTPUTS
        if out.name not in closure and closure & set(out.processed_inputs)
    }:
        closure |= derived
    return closure


def fail_job(
    store: StateStore,
    recording_id: str,
    job_type: str,
    reason: str,
    *,
    source: Source,
    max_attempts: int,
    retryable: bool = True,
) -> JobStatus:
    """Fail the job's current attempt; a retryable failure with attempts to spare is sent back to
    pending in the same transaction."""
    result = store.transition(
        recording_id,
        job_type,
        JobState.FAILED,
        source=source,
        reason=reason,
        retry_within=max_attempts if retryable else None,
    )
    return result.status


def complete_if_imported(
    store: StateStore, recording_id: str, job_type: str, imported_at: dict[str, datetime | None]
) -> bool:
    """Mark a succeeded job completed once every processed output it owns was imported after it
    succeeded. `imported_at` maps output name → time of its latest successful import."""
    status = store.job_status(recording_id, job_type)
    if status.state is not JobState.SUCCEEDED:
        return status.state is JobState.COMPLETED
    since = _aware(status.updated_at)
    job = catalogue.job_type(job_type)
    if not all(
        (t := imported_at.get(name)) is not None and _aware(t) >= since for name in job.processed_outputs
    ):
        return False
    store.transition(recording_id, job_type, JobState.COMPLETED, source=Source.IMPORT)
    return True


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
