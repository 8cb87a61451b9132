"""One lifecycle: every decision about what happens next to a recording's jobs.

Given the jobs of one recording (as the state store holds them, locked) and one input — a start,
retry or forced re-run, a cancel, the validation verdict, a dispatch pass, EMA's answer to a trigger,
an EMA callback, an import that passed or failed, a sweep of stuck imports — `decide_next` returns a
`Plan`: the transitions to record, the EMA jobs to trigger, the processed outputs to import and the
domain events to publish. It is pure: `ras_platform.lifecycle` applies a plan in one transaction, and
assets, sensors and API routes only translate it into Dagster or HTTP terms.

Attempts are explicit: EMA uploads every attempt to a key of its own (`RawOutput.key`), an import
reads the current, delivered attempt of each job whose file it needs and reports which, and a failed
import is charged to the job whose file failed, for the attempt it read, never to another job.

Retry policy by failure class (`FailureClass`, recorded on every change-log row it explains):
transient faults (EMA 408/429/5xx or unreachable, a dead run worker, a full disk, the database lost
mid-import) and EMA's own failures are retried with exponential backoff while attempts remain; a
contract violation in EMA's file is retried only while EMA's new attempt produces different bytes;
a refused trigger, invalid metadata, a cancel and a failed input job end the job's retries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from ras_core import catalogue
from ras_core.failures import FailureClass
from ras_core.states import TERMINAL, Decision, JobState, Outcome, Source, decide, ready_job_types

# A job whose current attempt's files are in place: an import may read them.
DELIVERED = frozenset({JobState.SUCCEEDED, JobState.COMPLETED})
FAILURE_EVENT = "RecordingAnalysisFailedV1"


# The retry policy by failure class (docs/internals.md). Transient faults and EMA's own failures
# are retried after a backoff; a contract violation waits for nothing (EMA's next attempt is what may
# differ, not the clock) and is not retried once a retry repeats the same bytes (IDENTICAL_BYTES).
TRANSIENT = frozenset({FailureClass.TRANSIENT, FailureClass.EMA_UNREACHABLE})
BACKED_OFF = TRANSIENT | {FailureClass.EMA_FAILED, FailureClass.MISSING_UPLOAD}
RETRIED = BACKED_OFF | {FailureClass.CONTRACT}


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    backoff_s: float = 2.0  # before the first automatic retry; doubles with every attempt
    backoff_cap_s: float = 300.0
    # Transient import failures (disk full, database lost) of one attempt before the job fails.
    import_retries: int = 3

    def backoff(self, failures: int) -> timedelta:
        return timedelta(seconds=min(self.backoff_cap_s, self.backoff_s * 2 ** max(0, failures - 1)))


class JobView(Protocol):
    """What the rules read of a job; the state store's `JobStatus` is one."""

    @property
    def job_type(self) -> str: ...
    @property
    def state(self) -> JobState: ...
    @property
    def attempt(self) -> int: ...
    @property
    def ema_job_id(self) -> str | None: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def not_before(self) -> datetime | None: ...


_J = TypeVar("_J", bound=JobView)


@dataclass(frozen=True)
class Job:
    job_type: str
    state: JobState
    attempt: int
    ema_job_id: str | None = None
    reason: str | None = None
    not_before: datetime | None = None

    @classmethod
    def of(cls, view: JobView) -> Job:
        return cls(view.job_type, view.state, view.attempt, view.ema_job_id, view.reason, view.not_before)


@dataclass(frozen=True)
class JobRef:
    """One attempt of one job: what a trigger run is asked to trigger."""

    recording_id: str
    job_type: str
    attempt: int

    def encode(self) -> str:
        return f"{self.recording_id}:{self.job_type}:{self.attempt}"

    @classmethod
    def decode(cls, value: str) -> JobRef:
        recording_id, job_type, attempt = value.rsplit(":", 2)
        return cls(recording_id, job_type, int(attempt))


# --- inputs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    """POST /jobs: failed jobs (or, with `force`, completed ones too) start a new attempt."""

    job_types: tuple[str, ...]
    force: bool = False


@dataclass(frozen=True)
class Cancel:
    """DELETE /jobs: every pending or in-flight job fails, for good."""


@dataclass(frozen=True)
class Validated:
    """The `recording` asset's verdict: `problem` is None when the metadata is valid."""

    problem: str | None = None


@dataclass(frozen=True)
class Dispatch:
    """Schedule the ready jobs of a validated recording; `ema_only` leaves platform jobs pending
    (their import run builds them)."""

    ema_only: bool = False


@dataclass(frozen=True)
class TriggerAnswered:
    job_type: str
    attempt: int
    ema_job_id: str


@dataclass(frozen=True)
class TriggerFailed:
    job_type: str
    attempt: int
    reason: str
    reason_class: FailureClass  # EMA_UNREACHABLE (retried) or EMA_REFUSED (final)


@dataclass(frozen=True)
class Delivery:
    """What the object store holds for one attempt, gathered before a `succeeded` callback is applied."""

    attempt: int
    missing: tuple[str, ...] = ()  # raw keys EMA did not upload
    # Set when a raw file is byte-identical to the one an earlier attempt failed its contract with:
    # that failure's reason.
    identical_to_failed: str | None = None


@dataclass(frozen=True)
class Callback:
    job_type: str
    ema_job_id: str
    job_state: str  # EMA's job_state
    reason: str | None = None
    received_at: datetime | None = None
    delivery: Delivery | None = None  # for `succeeded`: the files of the job's current attempt


@dataclass(frozen=True)
class ImportStarted:
    """An import run is about to build `output`: which attempt of each input job it reads."""

    output: str


@dataclass(frozen=True)
class ImportPassed:
    output: str
    read: Mapping[str, int]  # job type → attempt whose file (or processed output) was read
    # Every processed output's latest import: output → the attempts it read (the state store's).
    imported: Mapping[str, Mapping[str, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportFailed:
    output: str
    read: Mapping[str, int]
    reason: str
    reason_class: FailureClass  # CONTRACT (a check failed) or TRANSIENT (disk, database)
    file: str | None = None  # the object key whose content failed, when a file is to blame
    sha256: str | None = None  # its content hash, so a retry with the same bytes is recognised
    earlier_transient: int = 0  # transient import failures this attempt already had


@dataclass(frozen=True)
class SweepImport:
    """A job left `succeeded` past the sweep interval: complete it, or ask again for its imports."""

    job_type: str
    imported: Mapping[str, Mapping[str, int]] = field(default_factory=dict)


Input = (
    Start
    | Cancel
    | Validated
    | Dispatch
    | TriggerAnswered
    | TriggerFailed
    | Callback
    | ImportStarted
    | ImportPassed
    | ImportFailed
    | SweepImport
)


# --- the plan -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One change-log row: `decision` about `job_type`, which was in `from_state`."""

    job_type: str
    from_state: JobState
    decision: Decision
    source: Source
    ema_job_id: str | None = None
    reason_class: FailureClass | None = None
    detail: Mapping[str, Any] | None = None
    not_before: datetime | None = None


@dataclass(frozen=True)
class FailureAlert:
    """`RecordingAnalysisFailedV1`: the recording's first job to fail for good, once per attempt."""

    job_type: str
    attempt: int
    reason: str
    reason_class: FailureClass


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    trigger: list[tuple[str, int]] = field(default_factory=list)  # EMA (job type, attempt) to trigger
    platform_imports: set[str] = field(default_factory=set)  # platform jobs' outputs to build
    imports: set[str] = field(default_factory=set)  # processed outputs to import now, in one run
    alerts: list[FailureAlert] = field(default_factory=list)
    # ImportStarted: the attempt of each job the import reads (None: it may not run now, see `why`).
    read: dict[str, int] | None = None
    tracked: bool = False  # ImportStarted: the import decides its owning job's state
    # ImportPassed: (output, job type → attempt read), kept as the output's latest import.
    record_import: tuple[str, dict[str, int]] | None = None
    deferred: bool = False  # a callback that must wait (its trigger has not answered yet)
    why: str | None = None  # why nothing (more) was done, for logs

    @property
    def outcome(self) -> Outcome | None:
        """The first change's outcome: what became of a callback."""
        return self.changes[0].decision.outcome if self.changes else None

    def refs(self, recording_id: str) -> list[JobRef]:
        return [JobRef(recording_id, job_type, attempt) for job_type, attempt in self.trigger]


# A callback that beat its trigger's answer waits this long for the EMA job id before it is stale.
DEFER_LIMIT = timedelta(seconds=300)


def decide_next(
    jobs: Mapping[str, JobView],
    event: Input,
    *,
    policy: RetryPolicy,
    now: datetime,
    validated: bool = True,
) -> Plan:
    """The plan for one recording whose jobs are `jobs` (job type → job) on `event`."""
    draft = _Draft({name: Job.of(view) for name, view in jobs.items()}, policy, now)
    match event:
        case Start():
            _start(draft, event)
        case Cancel():
            _cancel(draft)
        case Validated(problem=None):
            _dispatch(draft, ema_only=True, validated=True)
        case Validated(problem=str() as problem):
            _invalid(draft, problem)
        case Dispatch():
            _dispatch(draft, ema_only=event.ema_only, validated=validated)
        case TriggerAnswered():
            _trigger_answered(draft, event)
        case TriggerFailed():
            _trigger_failed(draft, event)
        case Callback():
            _callback(draft, event)
        case ImportStarted():
            _import_started(draft, event)
        case ImportPassed():
            _import_passed(draft, event)
        case ImportFailed():
            _import_failed(draft, event)
        case SweepImport():
            _sweep_import(draft, event)
    return draft.plan


# --- rules ----------------------------------------------------------------------------------------


class _Draft:
    """The recording's jobs as the plan leaves them, so chained changes see each other."""

    def __init__(self, jobs: dict[str, Job], policy: RetryPolicy, now: datetime) -> None:
        self.jobs, self.policy, self.now = jobs, policy, now
        self.plan = Plan()

    def move(
        self,
        job_type: str,
        target: JobState,
        source: Source,
        *,
        reason: str | None = None,
        reason_class: FailureClass | None = None,
        ema_job_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
        not_before: datetime | None = None,
    ) -> Decision:
        return self.record(
            job_type,
            decide(self.jobs[job_type].state, self.jobs[job_type].attempt, target, reason=reason),
            source,
            reason_class=reason_class,
            ema_job_id=ema_job_id,
            detail=detail,
            not_before=not_before,
        )

    def record(
        self,
        job_type: str,
        decision: Decision,
        source: Source,
        *,
        reason_class: FailureClass | None = None,
        ema_job_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
        not_before: datetime | None = None,
    ) -> Decision:
        job = self.jobs[job_type]
        self.plan.changes.append(
            Change(job_type, job.state, decision, source, ema_job_id, reason_class, detail, not_before)
        )
        if decision.applied:
            keeps_id = decision.to_state is not JobState.PENDING
            self.jobs[job_type] = replace(
                job,
                state=decision.to_state,
                attempt=decision.attempt,
                ema_job_id=(ema_job_id or job.ema_job_id) if keeps_id else None,
                reason=None if decision.to_state is JobState.PENDING else decision.reason,
                not_before=not_before,
            )
        return decision

    def note(
        self,
        job_type: str,
        reason: str | None,
        source: Source,
        *,
        reason_class: FailureClass | None = None,
        ema_job_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
        not_before: datetime | None = None,
    ) -> None:
        """An applied change that keeps the state: a new EMA job id, a backoff, a reason."""
        job = self.jobs[job_type]
        keep = Decision(Outcome.APPLIED, job.state, job.attempt, reason)
        self.record(
            job_type,
            keep,
            source,
            reason_class=reason_class,
            ema_job_id=ema_job_id,
            detail=detail,
            not_before=not_before,
        )

    def states(self) -> dict[str, JobState]:
        return {name: job.state for name, job in self.jobs.items()}


def _start(draft: _Draft, event: Start) -> None:
    for name in event.job_types:
        job = draft.jobs.get(name)
        if job is None:
            continue
        if job.state is JobState.FAILED or (event.force and job.state in TERMINAL):
            reason = "forced re-run" if job.state is JobState.COMPLETED else "retry requested"
            draft.move(name, JobState.PENDING, Source.API, reason=reason)


def _cancel(draft: _Draft) -> None:
    for name, job in list(draft.jobs.items()):
        if job.state not in TERMINAL:
            _fail(draft, name, "cancelled by Zola", FailureClass.CANCELLED, Source.API)


def _invalid(draft: _Draft, problem: str) -> None:
    for name, job in list(draft.jobs.items()):
        if job.state is JobState.PENDING:
            reason = f"recording metadata invalid: {problem}"
            _fail(draft, name, reason, FailureClass.INVALID_METADATA, Source.DISPATCH)


def _dispatch(draft: _Draft, *, ema_only: bool, validated: bool) -> None:
    """Schedule every ready job (the one dependency rule, `ready_job_types`) whose backoff is over."""
    if not validated:
        draft.plan.why = "recording not validated"
        return
    for name in ready_job_types(draft.states()):
        job = draft.jobs[name]
        if job.not_before is not None and job.not_before > draft.now:
            continue
        is_ema = catalogue.job_type(name).is_ema
        if ema_only and not is_ema:
            continue
        if draft.move(name, JobState.SCHEDULED, Source.DISPATCH).applied:
            if is_ema:
                draft.plan.trigger.append((name, job.attempt))
            else:
                draft.plan.platform_imports.update(catalogue.job_type(name).processed_outputs)


def _trigger_answered(draft: _Draft, event: TriggerAnswered) -> None:
    job = draft.jobs[event.job_type]
    if job.attempt != event.attempt or job.state is JobState.PENDING:
        draft.plan.why = f"attempt {event.attempt} is superseded (now {job.state.value}@{job.attempt})"
        return
    if job.ema_job_id is not None:
        draft.plan.why = "already recorded" if job.ema_job_id == event.ema_job_id else "another EMA job"
        return
    draft.note(event.job_type, job.reason, Source.DISPATCH, ema_job_id=event.ema_job_id)


def _trigger_failed(draft: _Draft, event: TriggerFailed) -> None:
    job = draft.jobs[event.job_type]
    if job.attempt != event.attempt or job.state is not JobState.SCHEDULED:
        draft.plan.why = f"attempt {event.attempt} is superseded (now {job.state.value}@{job.attempt})"
        return
    _fail(draft, event.job_type, event.reason, event.reason_class, Source.DISPATCH)


def _callback(draft: _Draft, event: Callback) -> None:
    name = event.job_type
    job = draft.jobs[name]
    awaiting_trigger = job.state is JobState.SCHEDULED and job.ema_job_id is None
    # Its trigger has not stored EMA's answer yet: wait for the job id (bounded).
    if awaiting_trigger and (event.received_at is None or draft.now - event.received_at < DEFER_LIMIT):
        draft.plan.deferred = True
        return
    if event.ema_job_id != job.ema_job_id:
        why = f"stale callback from EMA job {event.ema_job_id}; current EMA job is {job.ema_job_id or 'none'}"
        draft.record(name, Decision(Outcome.STALE, job.state, job.attempt, why), Source.CALLBACK,
                     ema_job_id=event.ema_job_id)  # fmt: skip
        return
    target = JobState(event.job_state)
    if target is JobState.FAILED:
        reason = event.reason or "EMA reported the job failed without a reason"
        _fail(draft, name, reason, FailureClass.EMA_FAILED, Source.CALLBACK, ema_job_id=event.ema_job_id)
        return
    if target is JobState.SUCCEEDED and decide(job.state, job.attempt, target).applied:
        delivery = event.delivery
        if delivery is None or delivery.attempt != job.attempt:
            draft.plan.deferred = True  # the files were looked up for another attempt: look again
            draft.plan.why = "delivery facts are for another attempt"
            return
    decision = draft.move(name, target, Source.CALLBACK, reason=event.reason, ema_job_id=event.ema_job_id)
    if decision.applied and target is JobState.SUCCEEDED:
        _delivered(draft, name, event.delivery)


def _delivered(draft: _Draft, name: str, delivery: Delivery | None) -> None:
    """EMA says the attempt's files are uploaded: check that, then import what became importable."""
    assert delivery is not None
    if delivery.missing:
        reason = f"EMA reported succeeded but {', '.join(delivery.missing)} was not uploaded"
        _fail(draft, name, reason, FailureClass.MISSING_UPLOAD, Source.CALLBACK)
        return
    if delivery.identical_to_failed is not None:
        reason = (
            f"attempt {draft.jobs[name].attempt} uploaded the same bytes as an earlier attempt that failed "
            f"its contract ({delivery.identical_to_failed}); not imported again"
        )
        _fail(draft, name, reason, FailureClass.IDENTICAL_BYTES, Source.CALLBACK)
        return
    if _fail_if_input_failed(draft, name):
        return
    draft.plan.imports |= importable_outputs(draft.jobs, name)


def _import_started(draft: _Draft, event: ImportStarted) -> None:
    out = catalogue.processed_output(event.output)
    owner = catalogue.job_of_processed(out.name)
    if not owner.is_ema:
        _start_platform_job(draft, owner.name)
    read = {}
    for job_name in input_jobs(out):
        job = draft.jobs[job_name]
        if job.state not in DELIVERED:
            draft.plan.why = (
                f"{out.name} reads {job_name}, which is {job.state.value} (attempt {job.attempt})"
            )
            return
        read[job_name] = job.attempt
    owner_job = draft.jobs[owner.name]
    draft.plan.tracked = owner_job.state is JobState.RUNNING if not owner.is_ema else True
    read[owner.name] = owner_job.attempt
    draft.plan.read = read


def _start_platform_job(draft: _Draft, name: str) -> None:
    """A platform-computed job (training clips) moves to running when this import run builds it.

    Its inputs are imported in the same run just before it, so it is dispatched here through the one
    dependency rule rather than by the next dispatch tick. A plain rebuild (the job is not due)
    changes no state.
    """
    job = draft.jobs[name]
    if job.state is JobState.PENDING and name in ready_job_types(draft.states()):
        draft.move(name, JobState.SCHEDULED, Source.DISPATCH)
    if draft.jobs[name].state in {JobState.SCHEDULED, JobState.STARTING}:
        draft.move(name, JobState.RUNNING, Source.IMPORT)


def _import_passed(draft: _Draft, event: ImportPassed) -> None:
    owner = catalogue.job_of_processed(event.output)
    job = draft.jobs[owner.name]
    draft.plan.record_import = (event.output, dict(event.read))
    if event.read.get(owner.name) != job.attempt:
        draft.plan.why = f"imported from {owner.name} attempt {event.read.get(owner.name)}, now {job.attempt}"
        return
    if not owner.is_ema and job.state is JobState.RUNNING:
        draft.move(owner.name, JobState.SUCCEEDED, Source.IMPORT)
    imported = {**event.imported, event.output: event.read}
    if _complete_if_imported(draft, owner.name, imported):
        # What became ready (the dependent jobs once the independent ones are done) is triggered
        # from this run rather than by a dispatch tick; platform jobs are built by this run itself.
        _dispatch(draft, ema_only=True, validated=True)


def _complete_if_imported(draft: _Draft, name: str, imported: Mapping[str, Mapping[str, int]]) -> bool:
    """A succeeded job completes once every processed output it owns was imported from its attempt."""
    job = draft.jobs[name]
    if job.state is not JobState.SUCCEEDED:
        return False
    outputs = catalogue.job_type(name).processed_outputs
    if not all(imported.get(out, {}).get(name) == job.attempt for out in outputs):
        return False
    return draft.move(name, JobState.COMPLETED, Source.IMPORT).applied


def _import_failed(draft: _Draft, event: ImportFailed) -> None:
    owner = catalogue.job_of_processed(event.output)
    charged, attempt = _charged_job(event, owner.name)
    job = draft.jobs[charged]
    detail: dict[str, Any] = {"output": event.output, "read": dict(event.read)}
    if event.file:
        detail |= {"file": event.file, "sha256": event.sha256}
    if attempt != job.attempt:
        why = f"{event.output}: {event.reason} (charged to attempt {attempt}; {charged} is at {job.attempt})"
        draft.record(charged, Decision(Outcome.STALE, job.state, job.attempt, why), Source.IMPORT,
                     reason_class=event.reason_class, detail=detail)  # fmt: skip
        return
    if job.state not in {JobState.SUCCEEDED, JobState.RUNNING}:
        # Already failed, or completed (a rebuild of an output): the import does not decide its state.
        draft.plan.why = f"{charged} attempt {attempt} is {job.state.value}: {event.reason}"
        return
    reason = f"{event.output}: {event.reason}"
    if (
        event.reason_class is FailureClass.TRANSIENT
        and event.earlier_transient + 1 < draft.policy.import_retries
    ):
        # Our fault, not EMA's: import again after a backoff instead of re-running EMA's job.
        failures = event.earlier_transient + 1
        not_before = draft.now + draft.policy.backoff(failures)
        retry = f"import failed ({failures}/{draft.policy.import_retries}), retried after a backoff: {reason}"
        draft.note(charged, retry, Source.IMPORT, reason_class=event.reason_class, detail=detail,
                   not_before=not_before)  # fmt: skip
        return
    _fail(draft, charged, reason, event.reason_class, Source.IMPORT, detail=detail)


def _charged_job(event: ImportFailed, owner: str) -> tuple[str, int | None]:
    """The job whose file failed and the attempt of it the import read; the output's own job when no
    raw file is to blame (a processed input, a full disk)."""
    if event.reason_class is FailureClass.CONTRACT and event.file:
        parsed = catalogue.parse_raw_key(event.file)
        if parsed is not None:
            raw, _, attempt = parsed
            return catalogue.job_of_raw(raw.name).name, attempt
    return owner, event.read.get(owner)


def _sweep_import(draft: _Draft, event: SweepImport) -> None:
    name = event.job_type
    job = draft.jobs[name]
    if job.state is not JobState.SUCCEEDED or (job.not_before and job.not_before > draft.now):
        return
    if _complete_if_imported(draft, name, event.imported):
        return  # what became ready is the dispatch sensor's: a sweep launches no trigger run
    if _fail_if_input_failed(draft, name):
        return
    draft.plan.imports |= importable_outputs(draft.jobs, name)


def _fail(
    draft: _Draft,
    name: str,
    reason: str,
    reason_class: FailureClass,
    source: Source,
    *,
    ema_job_id: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Fail the job's current attempt; a retried class with attempts to spare goes back to pending
    (after its backoff) in the same plan, so a crash cannot leave it failed with attempts to spare."""
    already_failed = any(job.state is JobState.FAILED for job in draft.jobs.values())
    failed = draft.move(name, JobState.FAILED, source, reason=reason, reason_class=reason_class,
                        ema_job_id=ema_job_id, detail=detail)  # fmt: skip
    if not failed.applied:
        return
    policy = draft.policy
    if reason_class in RETRIED and failed.attempt < policy.max_attempts:
        not_before = draft.now + policy.backoff(failed.attempt) if reason_class in BACKED_OFF else None
        retry = f"retry {failed.attempt + 1}/{policy.max_attempts} after {reason_class.value}: {reason}"
        draft.move(name, JobState.PENDING, source, reason=retry, reason_class=reason_class,
                   not_before=not_before)  # fmt: skip
        return
    if not already_failed and reason_class is not FailureClass.CANCELLED:
        draft.plan.alerts.append(FailureAlert(name, failed.attempt, reason, reason_class))
    for other, job in list(draft.jobs.items()):
        if job.state is JobState.SUCCEEDED:
            _fail_if_input_failed(draft, other)


def _fail_if_input_failed(draft: _Draft, name: str) -> bool:
    """A job one of whose outputs reads the file of a job that failed for good can never complete."""
    for out in catalogue.job_type(name).processed_outputs:
        for upstream in input_jobs(catalogue.processed_output(out)):
            if upstream != name and draft.jobs[upstream].state is JobState.FAILED:
                why = draft.jobs[upstream].reason
                reason = f"{out} reads the output of {upstream}, which failed for good: {why}"
                _fail(draft, name, reason, FailureClass.INPUT_FAILED, Source.IMPORT)
                return True
    return False


# --- queries the adapters share -------------------------------------------------------------------


def input_jobs(out: catalogue.ProcessedOutput) -> list[str]:
    """Jobs whose files (raw or processed) `out` reads, in catalogue order."""
    names = {catalogue.job_of_raw(raw).name for raw in out.raw_inputs}
    names |= {catalogue.job_of_processed(name).name for name in out.processed_inputs}
    return [name for name in catalogue.job_type_names() if name in names]


def importable_outputs(jobs: Mapping[str, JobView], name: str) -> set[str]:
    """Outputs that read `name`'s raw files and whose every input job has delivered its current
    attempt, plus the outputs computed from those (training clips from shot details), so one run
    builds them. An output waiting for another job's attempt is imported when that one arrives."""
    produced = {raw.name for raw in catalogue.job_type(name).raw_outputs}
    direct = {
        out.name
        for out in catalogue.PROCESSED_OUTPUTS
        if produced & set(out.raw_inputs) and all(jobs[j].state in DELIVERED for j in input_jobs(out))
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


def ready_jobs(statuses: list[_J]) -> list[_J]:
    """Pending jobs whose upstream job types are all completed (`ready_job_types`)."""
    ready = set(ready_job_types({s.job_type: s.state for s in statuses}))
    return [s for s in statuses if s.job_type in ready]


def trigger_lost(job: JobView, updated_at: datetime, now: datetime, timeout: timedelta) -> bool:
    """An EMA job left scheduled without EMA's job id past `timeout`: its trigger run was lost."""
    return job.state is JobState.SCHEDULED and job.ema_job_id is None and now - updated_at > timeout


def raw_keys(recording_id: str, job_type: str, attempt: int) -> dict[str, str]:
    """Raw output name → the key `attempt` of `job_type` uploads to."""
    return {raw.name: raw.key(recording_id, attempt) for raw in catalogue.job_type(job_type).raw_outputs}
