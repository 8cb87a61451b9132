"""The lifecycle service: gathers the facts a decision needs, asks `ras_core.lifecycle` for a plan and
records it in one transaction (`StateStore.apply_plan`).

The only caller of the state store's transition methods (a test keeps it so). The API routes, the
`recording` and processed assets, the trigger op and the sensors make one call here each and
translate the returned plan into HTTP answers, Dagster runs and asset events. Facts that need I/O
(which raw files EMA uploaded, whether a retry's file is byte-identical to one that failed) are
gathered here before the transaction, never inside it.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import tempfile
import time
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from ras_core import catalogue
from ras_core.callbacks import callback_reason
from ras_core.failures import FailureClass
from ras_core.lifecycle import (
    Callback,
    Cancel,
    Delivery,
    Dispatch,
    ImportFailed,
    ImportPassed,
    ImportStarted,
    Input,
    JobRef,
    Plan,
    RetryPolicy,
    Start,
    SweepImport,
    TriggerAnswered,
    TriggerFailed,
    Validated,
    decide_next,
    raw_keys,
    trigger_lost,
)
from ras_core.states import JobState
from ras_platform.dead_letters import INBOX, INBOX_MAX_FAILURES, Failed
from ras_platform.object_store import ObjectStore
from ras_platform.state_store import InboxCallback, JobStatus, RecordingSnapshot, StateStore

# A job left `scheduled` without an EMA job id this long lost its trigger run (a crash between the
# dispatch commit and the run launch): dispatch asks again, and EMA's Idempotency-Key dedupes.
# Deployments set it with RAS_EMA_TRIGGER_TIMEOUT_S.
DEFAULT_TRIGGER_TIMEOUT = timedelta(seconds=90)
# A job left `succeeded` this long lost its import request; the callback sensor asks again.
STUCK_IMPORT_AFTER = timedelta(seconds=60)
# A job `succeeded` this long ago with no import run queued or under way is waiting for a launch:
# the callback fast path leaves it while the run queue is full, and the callback sensor launches it
# once fewer than `RAS_MAX_ACTIVE_IMPORT_RUNS` import runs are queued or under way. The grace covers
# a fast path that applied the callback and is launching.
READY_IMPORT_GRACE = timedelta(seconds=5)
# Faults of the machine, not of EMA's file: an import that meets one is retried after a backoff.
TRANSIENT_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EIO})


@dataclass
class DispatchPlan:
    ema_jobs: list[JobRef] = field(default_factory=list)
    # recording → processed outputs to build (platform-computed jobs)
    platform_imports: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    # The same for platform jobs left scheduled or running past the trigger timeout: their import run
    # was lost (a killed daemon takes its run workers with it). Re-requested under a fresh run key,
    # since Dagster skips a run key it has seen, whatever became of that run.
    stuck_platform_imports: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))


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
    left: int = 0  # rows not tried: the call's time budget was spent


def transient_fault(error: BaseException) -> bool:
    """A fault of the machine an import ran on (full disk, read-only store, database lost), which a
    later attempt may not meet: retried with backoff, never charged to EMA's file."""
    from sqlalchemy.exc import OperationalError

    if isinstance(error, OperationalError):
        return True
    return isinstance(error, OSError) and error.errno in TRANSIENT_ERRNOS


def content_sha256(objects: ObjectStore, key: str) -> str:
    digest = hashlib.sha256()
    with tempfile.TemporaryDirectory(prefix="ras-hash-") as tmp:
        path = objects.local_path(key) or objects.download(key, Path(tmp) / "object")
        with open(path, "rb") as source:
            for block in iter(lambda: source.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


class Lifecycle:
    def __init__(self, store: StateStore, objects: ObjectStore, policy: RetryPolicy) -> None:
        self.store, self.objects, self.policy = store, objects, policy

    def _apply(
        self, recording_id: str, event: Input, *, inbox_id: int | None = None, run_id: str | None = None
    ) -> Plan | None:
        def rule(snapshot: RecordingSnapshot) -> Plan:
            plan = decide_next(
                snapshot.jobs,
                _with_imports(event, snapshot),
                policy=self.policy,
                now=datetime.now(UTC),
                validated=snapshot.validated,
            )
            return _in_run(plan, run_id) if run_id else plan

        return self.store.apply_plan(recording_id, rule, inbox_id=inbox_id)

    def decide(self, recording_id: str, event: Input, *, run_id: str | None = None) -> Plan:
        """Apply `event`; `run_id`: the Dagster run deciding it, recorded in each change's detail."""
        plan = self._apply(recording_id, event, run_id=run_id)
        assert plan is not None
        return plan

    # --- API --------------------------------------------------------------------------------------

    def start(
        self, recording_id: str, job_types: list[str], *, force: bool = False, run_id: str | None = None
    ) -> Plan:
        """POST /jobs: failed (or, forced, completed) jobs start a new attempt; the run is the API's.
        A Dagster backfill or UI materialization starts them the same way, from its run (`run_id`)."""
        return self.decide(recording_id, Start(tuple(job_types), force), run_id=run_id)

    def cancel(self, recording_id: str) -> Plan:
        """DELETE /jobs, after EMA was asked to cancel: every job not yet terminal fails for good."""
        return self.decide(recording_id, Cancel())

    def copy_recording(self, source_id: str, target_id: str) -> None:
        """POST /duplicate: the target's jobs become the source's, one `api` change-log row each."""
        self.store.copy_recording_state(source_id, target_id)

    # --- validation and dispatch ------------------------------------------------------------------

    def validated(self, recording_id: str, problem: str | None) -> Plan:
        """The `recording` asset's verdict: valid metadata schedules the jobs ready now (their trigger
        belongs in the same run); invalid metadata fails the pending jobs with the reason."""
        if problem is None:
            self.store.mark_validated(recording_id)
        return self.decide(recording_id, Validated(problem))

    def dispatch(
        self,
        *,
        recording_ids: list[str] | None = None,
        importing: Collection[str] = (),
        include_stuck: bool = True,
        trigger_timeout: timedelta = DEFAULT_TRIGGER_TIMEOUT,
        now: datetime | None = None,
        limit: int = 500,
        run_id: str | None = None,
    ) -> DispatchPlan:
        """Schedule every ready job of every validated recording that has pending work.

        With `recording_ids` only those recordings' EMA jobs are scheduled; platform jobs and stuck
        triggers are left to the sensor, which can launch the runs they need. Recordings in
        `importing` have an import run queued or under way: their platform jobs stay pending, because
        that run builds them itself. `include_stuck` also plans jobs whose trigger or platform run
        was lost (no progress for `trigger_timeout`); the sensor turns it off while a trigger run is
        still queued or under way. `run_id`: the run dispatching (a backfill's), kept in the change log.
        """
        now = now or datetime.now(UTC)
        plan = DispatchPlan()
        for recording_id in recording_ids or self.store.recordings_with_ready_jobs(limit=limit):
            ema_only = recording_ids is not None or recording_id in importing
            decided = self.decide(recording_id, Dispatch(ema_only=ema_only), run_id=run_id)
            plan.ema_jobs += decided.refs(recording_id)
            if decided.platform_imports:
                plan.platform_imports[recording_id] |= decided.platform_imports
        if recording_ids is None and include_stuck:
            self._plan_stuck(plan, now=now, timeout=trigger_timeout, limit=limit)
        return plan

    def _plan_stuck(self, plan: DispatchPlan, *, now: datetime, timeout: timedelta, limit: int) -> None:
        """Jobs whose trigger or platform run was lost are asked for again (read-only: the job is
        already scheduled; EMA dedupes a repeated trigger by its Idempotency-Key)."""
        for state in (JobState.SCHEDULED, JobState.RUNNING):
            for status in self.store.jobs_in_state(state, limit=limit):
                job = catalogue.job_type(status.job_type)
                if job.is_ema and trigger_lost(status, _aware(status.updated_at), now, timeout):
                    plan.ema_jobs.append(JobRef(status.recording_id, job.name, status.attempt))
                elif not job.is_ema and now - _aware(status.updated_at) > timeout:
                    plan.stuck_platform_imports[status.recording_id].update(job.processed_outputs)

    # --- triggers ---------------------------------------------------------------------------------

    def trigger_answered(self, ref: JobRef, ema_job_id: str) -> Plan:
        return self.decide(ref.recording_id, TriggerAnswered(ref.job_type, ref.attempt, ema_job_id))

    def trigger_failed(self, ref: JobRef, reason: str, *, final: bool) -> Plan:
        reason_class = FailureClass.EMA_REFUSED if final else FailureClass.EMA_UNREACHABLE
        return self.decide(ref.recording_id, TriggerFailed(ref.job_type, ref.attempt, reason, reason_class))

    # --- callbacks --------------------------------------------------------------------------------

    def apply_callback(self, inbox: InboxCallback) -> Plan | None:
        """Apply one inbox row and mark it processed, in one transaction; None when it was already
        processed or must wait (its trigger has not answered). One call per row, so a caller can
        wrap each row on its own."""
        event = Callback(
            job_type=inbox.job_kind,
            ema_job_id=inbox.job_id,
            job_state=inbox.job_state,
            reason=callback_reason(inbox.payload),
            received_at=inbox.received_at,
            delivery=self._delivery(inbox) if inbox.job_state == JobState.SUCCEEDED.value else None,
        )
        return self._apply(inbox.recording_id, event, inbox_id=inbox.id)

    def process_inbox(
        self, *, limit: int = 200, recording_id: str | None = None, budget_s: float | None = None
    ) -> InboxPlan:
        """Apply unprocessed callbacks (of one recording, for a caller that has just stored one);
        the plan names the raw files delivered and the imports to run, per recording. With
        `budget_s`, rows still unapplied when it is spent stay for the next call."""
        plan = InboxPlan()
        deadline = time.monotonic() + budget_s if budget_s is not None else None
        for inbox in self.store.pending_callbacks(limit=limit, recording_id=recording_id):
            if deadline is not None and time.monotonic() >= deadline:
                plan.left += 1
                continue
            # A row that cannot be applied is counted and, after a few ticks, quarantined; the loop
            # goes on (ras_platform/dead_letters.py).
            outcome = self.store.dead_letters.isolate(
                INBOX,
                inbox.id,
                inbox.recording_id,
                partial(self.apply_callback, inbox),
                max_failures=INBOX_MAX_FAILURES,
            )
            if isinstance(outcome, Failed):
                plan.failed += 1
                plan.quarantined += outcome.quarantined
                continue
            self.add_to_inbox_plan(plan, inbox, outcome.value)
        return plan

    def add_to_inbox_plan(self, plan: InboxPlan, inbox: InboxCallback, decided: Plan | None) -> None:
        if decided is None:
            plan.deferred += 1
            return
        change = decided.changes[0] if decided.changes else None
        if change is None or not change.decision.applied:
            plan.ignored += 1
            return
        plan.applied += 1
        if decided.imports:
            plan.imports[inbox.recording_id] |= decided.imports
        if change.decision.to_state is JobState.SUCCEEDED:
            plan.raw_materializations += self._raw_materializations(inbox, change.decision.attempt)

    def _delivery(self, inbox: InboxCallback) -> Delivery | None:
        """What EMA uploaded for the job's current attempt, and whether a file repeats one whose
        contract failed before (compared by content hash, so identical bytes are not imported)."""
        status = self.store.job_status(inbox.recording_id, inbox.job_kind)
        if status.ema_job_id != inbox.job_id:
            return None  # stale or early: the rule decides without files
        keys = raw_keys(inbox.recording_id, inbox.job_kind, status.attempt)
        missing = tuple(key for key in keys.values() if not self.objects.exists(key))
        identical = None if missing else self._repeats_failed_file(status, keys)
        return Delivery(status.attempt, missing, identical)

    def _repeats_failed_file(self, status: JobStatus, keys: Mapping[str, str]) -> str | None:
        failure = self.store.last_failure(status.recording_id, status.job_type, FailureClass.CONTRACT.value)
        detail = failure.detail if failure is not None else None
        if not detail or not detail.get("file") or not detail.get("sha256"):
            return None
        parsed = catalogue.parse_raw_key(detail["file"])
        if parsed is None or parsed[2] >= status.attempt or parsed[0].name not in keys:
            return None
        if content_sha256(self.objects, keys[parsed[0].name]) != detail["sha256"]:
            return None
        return failure.reason if failure is not None else None

    def _raw_materializations(self, inbox: InboxCallback, attempt: int) -> list[RawMaterialization]:
        found = []
        for raw_name, key in raw_keys(inbox.recording_id, inbox.job_kind, attempt).items():
            info = self.objects.stat(key)
            if info is not None:
                found.append(
                    RawMaterialization(
                        inbox.recording_id,
                        raw_name,
                        key,
                        self.objects.uri(key),
                        info.size,
                        inbox.job_id,
                        attempt,
                    )
                )
        return found

    # --- imports ----------------------------------------------------------------------------------

    # Each takes the import run's id, kept in the detail of every change-log row it causes.

    def import_started(self, recording_id: str, output: str, *, run_id: str | None = None) -> Plan:
        """Which attempt of each input job the import of `output` reads (`plan.read`, None when an
        input job has not delivered its current attempt); a platform job due now starts running."""
        return self.decide(recording_id, ImportStarted(output), run_id=run_id)

    def import_passed(
        self, recording_id: str, output: str, read: Mapping[str, int], *, run_id: str | None = None
    ) -> Plan:
        """Record the import; its job completes once all its outputs came from its attempt, and what
        that made ready is scheduled (`plan.trigger`: the caller triggers it in the same run)."""
        return self.decide(recording_id, ImportPassed(output, dict(read)), run_id=run_id)

    def import_failed(
        self,
        recording_id: str,
        output: str,
        read: Mapping[str, int],
        reason: str,
        *,
        transient: bool,
        file: str | None = None,
        sha256: str | None = None,
        run_id: str | None = None,
    ) -> Plan:
        """Charge a failed import: to the job whose file failed, for the attempt read (a contract
        violation), or to the output's job as a transient fault, retried after a backoff."""
        reason_class = FailureClass.TRANSIENT if transient else FailureClass.CONTRACT
        owner = catalogue.job_of_processed(output).name
        earlier = (
            self.store.import_failures(recording_id, owner, read.get(owner, 0), reason_class.value)
            if transient
            else 0
        )
        event = ImportFailed(output, dict(read), reason, reason_class, file, sha256, earlier)
        return self.decide(recording_id, event, run_id=run_id)

    def sweep_import(self, recording_id: str, job_type: str) -> Plan:
        """A job left `succeeded`: completed if its imports are all in, else the imports to ask for."""
        return self.decide(recording_id, SweepImport(job_type))


def _with_imports(event: Input, snapshot: RecordingSnapshot) -> Input:
    """Import facts come from the locked snapshot, so a completion never races another import."""
    if isinstance(event, ImportPassed):
        return ImportPassed(event.output, event.read, snapshot.imported)
    if isinstance(event, SweepImport):
        return SweepImport(event.job_type, snapshot.imported)
    return event


def _in_run(plan: Plan, run_id: str) -> Plan:
    """The plan with the deciding Dagster run in each change's detail (GET analytics/logs shows it)."""
    plan.changes = [
        dataclasses.replace(c, detail={**(c.detail or {}), "run_id": run_id}) for c in plan.changes
    ]
    return plan


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
