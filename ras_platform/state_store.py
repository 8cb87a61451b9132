"""The state store: recording registry, job-state projection, change log, callback inbox and outbox.

One SQL database (a SQLite file embedded, PostgreSQL in production) shared by the API, the Dagster
sensors and the runs. Every state change is one transaction that locks the recording's registry row,
records what `ras_core.lifecycle` decided (through `ras_platform.lifecycle`), appends a change-log
row whatever the outcome, updates the projection if applied and writes the domain events it causes
into the outbox. The registry row also counts the recording's change-log versions, so versions are
contiguous under any concurrency.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import and_, bindparam, delete, exists, func, insert, or_, select, update

from ras_core import catalogue
from ras_core import domain_events as events
from ras_core.callbacks import EmaCallback, InvalidCallback, as_callback
from ras_core.lifecycle import Plan
from ras_core.recording import Period, Pitch, RecordingMetadata
from ras_core.records import (
    ChangeLogEntry,
    InboxCallback,
    JobStatus,
    OutboxEvent,
    QualityReport,
    TransitionResult,
    initial_status,
    project,
)
from ras_core.states import IN_FLIGHT, Decision, JobState, Outcome, Source, decide
from ras_platform.db import readings, sql
from ras_platform.db.engine import make_engine, read_transaction, write_transaction
from ras_platform.db.migrate import migrate as migrate_schema
from ras_platform.db.rows import (
    change_from_row,
    inbox_from_row,
    job_status_from_row,
    outbox_from_row,
    quality_from_row,
)
from ras_platform.db.schema import (
    callback_inbox,
    job_states,
    outbox,
    output_imports,
    quality_reports,
    recordings,
    state_changes,
)
from ras_platform.db.sql import UnknownRecording, lock_job, lock_recording, now
from ras_platform.dead_letters import DeadLetters
from ras_platform.settings import Settings

__all__ = [
    "ChangeLogEntry",
    "InboxCallback",
    "InvalidCallback",
    "JobStatus",
    "OutboxEvent",
    "QualityReport",
    "RecordingBusy",
    "RecordingSnapshot",
    "StateStore",
    "TransitionResult",
    "UnknownRecording",
]


class RecordingBusy(RuntimeError):
    """The recording has jobs in flight; its state cannot be copied until they finish."""


class StateStore:
    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self._engine = make_engine(url)
        if migrate:
            self.migrate()

    @classmethod
    def from_settings(cls, settings: Settings, *, migrate: bool = True) -> StateStore:
        return cls(settings.resolved_database_url, migrate=migrate)

    def migrate(self) -> None:
        """Bring the schema to the newest revision; idempotent and safe from several processes at once."""
        migrate_schema(self._engine)

    def close(self) -> None:
        self._engine.dispose()

    @cached_property
    def dead_letters(self) -> DeadLetters:
        """Inbox and outbox rows that could not be applied or published (`ras_platform.dead_letters`)."""
        return DeadLetters(self._engine)

    # --- registry ---------------------------------------------------------------------------------

    def register_recording(self, meta: RecordingMetadata) -> bool:
        """Register or update a recording; True if it is new. Creates a pending job per catalogue entry."""
        stored = json.loads(json.dumps(meta.to_dict()))  # the form it reads back in, for comparison
        with write_transaction(self._engine) as conn:
            created = sql.insert_ignore(
                conn,
                recordings,
                {"recording_id": meta.recording_id, "metadata": stored, "version": 0, "registered_at": now()},
                ["recording_id"],
            )
            row = lock_recording(conn, meta.recording_id)
            if not created and row.metadata != stored:
                # New metadata has not been validated yet.
                conn.execute(
                    update(recordings)
                    .where(recordings.c.recording_id == meta.recording_id)
                    .values({"metadata": stored, "validated_at": None})
                )
            for job_type in catalogue.job_type_names():
                initial = initial_status(meta.recording_id, job_type, row.registered_at)
                sql.insert_ignore(conn, job_states, _job_row(initial), ["recording_id", "job_type"])
        return created

    def get_recording(self, recording_id: str) -> RecordingMetadata | None:
        with read_transaction(self._engine) as conn:
            data = conn.scalar(
                select(recordings.c["metadata"]).where(recordings.c.recording_id == recording_id)
            )
        # Not re-validated here: the `recording` asset validates, and must see invalid metadata to say why.
        return None if data is None else _metadata_from_dict(data)

    def recording_with_jobs(self, recording_id: str) -> tuple[RecordingMetadata, dict[str, JobStatus]] | None:
        """The recording and its jobs' states in one query (None when it is not registered): what a
        delivery request reads, once (two separate reads cost a cold window ~0.5 CPU-ms more)."""
        with read_transaction(self._engine) as conn:
            rows = conn.execute(_RECORDING_WITH_JOBS, {"recording_id": recording_id}).all()
        if not rows:
            return None
        jobs = {row.job_type: job_status_from_row(row) for row in rows if row.job_type is not None}
        return _metadata_from_dict(rows[0].recording_metadata), jobs

    def recording_exists(self, recording_id: str) -> bool:
        with read_transaction(self._engine) as conn:
            return _exists(conn, recording_id)

    def mark_validated(self, recording_id: str) -> None:
        with write_transaction(self._engine) as conn:
            lock_recording(conn, recording_id)
            conn.execute(
                update(recordings)
                .where(recordings.c.recording_id == recording_id, recordings.c.validated_at.is_(None))
                .values(validated_at=now())
            )

    def is_validated(self, recording_id: str) -> bool:
        with read_transaction(self._engine) as conn:
            validated_at = conn.scalar(
                select(recordings.c.validated_at).where(recordings.c.recording_id == recording_id)
            )
        return validated_at is not None

    def request_validation(self, recording_id: str) -> None:
        """POST /jobs: the next `validate_recordings` run validates this recording (again). The time is
        the latest request's: a run that read an earlier one clears only that (`clear_validation_request`),
        so a request made while a run validates the recording is kept for the next run."""
        with write_transaction(self._engine) as conn:
            conn.execute(
                update(recordings)
                .where(recordings.c.recording_id == recording_id)
                .values(validation_requested_at=now())
            )

    def validation_requests(
        self, *, limit: int = 200, requested_before: datetime | None = None
    ) -> list[tuple[str, datetime]]:
        """Recordings waiting for validation, oldest request first, with when each asked."""
        query = select(recordings.c.recording_id, recordings.c.validation_requested_at).where(
            recordings.c.validation_requested_at.is_not(None)
        )
        if requested_before is not None:
            query = query.where(recordings.c.validation_requested_at < requested_before)
        query = query.order_by(recordings.c.validation_requested_at, recordings.c.recording_id).limit(limit)
        with read_transaction(self._engine) as conn:
            return [(row.recording_id, row.validation_requested_at) for row in conn.execute(query)]

    def clear_validation_request(self, recording_id: str, requested_at: datetime) -> None:
        """Validated: the request read at `requested_at` is answered. A newer request (POST /jobs
        again meanwhile) is kept for the next run."""
        with write_transaction(self._engine) as conn:
            conn.execute(
                update(recordings)
                .where(
                    recordings.c.recording_id == recording_id,
                    recordings.c.validation_requested_at <= requested_at,
                )
                .values(validation_requested_at=None)
            )

    # --- jobs -------------------------------------------------------------------------------------

    def job_states(self, recording_id: str) -> list[JobStatus]:
        """The recording's jobs in catalogue order; empty for an unknown recording."""
        with read_transaction(self._engine) as conn:
            rows = sql.job_rows(conn, recording_id)
        return [rows[name] for name in catalogue.job_type_names() if name in rows]

    def job_status(self, recording_id: str, job_type: str) -> JobStatus:
        catalogue.job_type(job_type)
        with read_transaction(self._engine) as conn:
            row = conn.execute(
                select(job_states).where(
                    job_states.c.recording_id == recording_id, job_states.c.job_type == job_type
                )
            ).one_or_none()
        if row is None:
            raise UnknownRecording(recording_id)
        return job_status_from_row(row)

    def transition(
        self,
        recording_id: str,
        job_type: str,
        target: JobState,
        *,
        source: Source,
        reason: str | None = None,
        ema_job_id: str | None = None,
    ) -> TransitionResult:
        """Ask for one `target`; the change log records the request whatever `decide` says about it.

        A bare state-machine step (tests and replays drive jobs with it); the platform decides what
        happens to a job through `ras_platform.lifecycle`, which records whole plans (`apply_plan`).
        """
        catalogue.job_type(job_type)
        with write_transaction(self._engine) as conn:
            current = lock_job(conn, recording_id, job_type)
            decision = decide(current.state, current.attempt, target, reason=reason)
            return _record(conn, current, decision, source, ema_job_id)

    def apply_plan(
        self,
        recording_id: str,
        rule: Callable[[RecordingSnapshot], Plan],
        *,
        inbox_id: int | None = None,
    ) -> Plan | None:
        """Lock the recording, ask `rule` (a `ras_core.lifecycle` decision) for a plan over its jobs
        and record the plan, all in one transaction: every change-log row, the projection, the
        outbox rows the changes owe and the import the plan reports. Only `ras_platform.lifecycle`
        calls this.

        With `inbox_id` the callback row is locked too and marked processed with the plan's outcome;
        None when it was already processed, or when the plan defers it (it stays for the next tick).
        """
        with write_transaction(self._engine) as conn:
            row = lock_recording(conn, recording_id)
            inbox = None
            if inbox_id is not None:
                inbox_row = conn.execute(
                    select(callback_inbox).where(callback_inbox.c.id == inbox_id).with_for_update()
                ).one_or_none()
                if inbox_row is None or inbox_row.processed_at is not None:
                    return None
                inbox = inbox_from_row(inbox_row)
            validated_at = conn.scalar(
                select(recordings.c.validated_at).where(recordings.c.recording_id == recording_id)
            )
            snapshot = RecordingSnapshot(
                recording_id=recording_id,
                jobs=sql.job_rows(conn, recording_id),
                validated=validated_at is not None,
                imported=_output_imports(conn, recording_id),
                inbox=inbox,
                registered_at=row.registered_at,
            )
            plan = rule(snapshot)
            at = now()
            _apply_changes(conn, snapshot.jobs, plan, at)
            if plan.record_import is not None:
                _record_import(conn, recording_id, *plan.record_import, at)
            for alert in plan.alerts:
                _add_event(conn, recording_id, events.failure_event(recording_id, alert, at), at)
            if inbox is not None:
                if plan.deferred:
                    return None
                outcome = plan.outcome.value if plan.outcome else Outcome.DUPLICATE.value
                conn.execute(
                    update(callback_inbox)
                    .where(callback_inbox.c.id == inbox.id)
                    .values(processed_at=at, outcome=outcome)
                )
            return plan

    def output_imports(self, recording_id: str) -> dict[str, dict[str, int]]:
        """Each processed output's latest successful import: output → job type → attempt read."""
        with read_transaction(self._engine) as conn:
            return _output_imports(conn, recording_id)

    def last_failure(self, recording_id: str, job_type: str, reason_class: str) -> ChangeLogEntry | None:
        """The job's latest applied failure of `reason_class` (with its file and content hash)."""
        query = (
            select(state_changes)
            .where(
                state_changes.c.recording_id == recording_id,
                state_changes.c.job_type == job_type,
                state_changes.c.to_state == JobState.FAILED.value,
                state_changes.c.outcome == Outcome.APPLIED.value,
                state_changes.c.reason_class == reason_class,
            )
            .order_by(state_changes.c.version.desc())
            .limit(1)
        )
        with read_transaction(self._engine) as conn:
            row = conn.execute(query).one_or_none()
        return None if row is None else change_from_row(row)

    def import_failures(self, recording_id: str, job_type: str, attempt: int, reason_class: str) -> int:
        """How many imports of this attempt failed with `reason_class` without failing the job."""
        query = (
            select(func.count())
            .select_from(state_changes)
            .where(
                state_changes.c.recording_id == recording_id,
                state_changes.c.job_type == job_type,
                state_changes.c.attempt == attempt,
                state_changes.c.source == Source.IMPORT.value,
                state_changes.c.reason_class == reason_class,
                state_changes.c.outcome == Outcome.APPLIED.value,
            )
        )
        with read_transaction(self._engine) as conn:
            return int(conn.scalar(query) or 0)

    def change_log(
        self, recording_id: str, *, after_version: int = 0, limit: int | None = None
    ) -> list[ChangeLogEntry]:
        """The recording's change log, oldest first; `after_version` pages through it."""
        query = (
            select(state_changes)
            .where(state_changes.c.recording_id == recording_id, state_changes.c.version > after_version)
            .order_by(state_changes.c.version)
            .limit(limit)
        )
        with read_transaction(self._engine) as conn:
            return [change_from_row(row) for row in conn.execute(query)]

    def rebuild_projection(self, recording_id: str) -> list[JobStatus]:
        """Replace the projection by a replay of the applied change-log rows, in catalogue order."""
        with write_transaction(self._engine) as conn:
            registered_at = lock_recording(conn, recording_id).registered_at
            statuses = {
                name: initial_status(recording_id, name, registered_at) for name in catalogue.job_type_names()
            }
            applied = conn.execute(
                select(state_changes)
                .where(
                    state_changes.c.recording_id == recording_id,
                    state_changes.c.outcome == Outcome.APPLIED.value,
                )
                .order_by(state_changes.c.version)
            )
            for row in applied:
                if row.job_type in statuses:
                    statuses[row.job_type] = project(change_from_row(row))
            for status in statuses.values():
                sql.write_projection(conn, status)
        return list(statuses.values())

    def jobs_in_state(self, state: JobState, *, limit: int = 500) -> list[JobStatus]:
        """Jobs in `state`, least recently changed first (served by the (state, updated_at) index)."""
        query = (
            select(job_states)
            .where(job_states.c.state == state.value, job_states.c.job_type.in_(catalogue.job_type_names()))
            .order_by(job_states.c.updated_at, job_states.c.recording_id, job_states.c.job_type)
            .limit(limit)
        )
        with read_transaction(self._engine) as conn:
            return [job_status_from_row(row) for row in conn.execute(query)]

    def recordings_with_ready_jobs(self, *, limit: int = 500) -> list[str]:
        """Validated recordings with at least one pending job whose upstream jobs are all completed.

        A pre-filter for dispatch, so jobs blocked on their dependencies (four per recording in its
        first wave) never crowd ready ones out of a bounded read; `Lifecycle.dispatch` still
        decides per recording. Upstream jobs come from the catalogue."""
        pending, upstream = job_states.alias("pending"), job_states.alias("upstream")
        ready_any = []
        for job in catalogue.JOB_TYPES:
            blocked = exists().where(
                upstream.c.recording_id == pending.c.recording_id,
                upstream.c.job_type.in_(job.depends_on),
                upstream.c.state != JobState.COMPLETED.value,
            )
            ready_any.append(
                and_(pending.c.job_type == job.name, ~blocked)
                if job.depends_on
                else pending.c.job_type == job.name
            )
        query = (
            select(pending.c.recording_id)
            .join(recordings, recordings.c.recording_id == pending.c.recording_id)
            .where(
                pending.c.state == JobState.PENDING.value,
                recordings.c.validated_at.is_not(None),
                or_(pending.c.not_before.is_(None), pending.c.not_before <= now()),
                or_(*ready_any),
            )
            .group_by(pending.c.recording_id)
            .order_by(func.min(pending.c.updated_at), pending.c.recording_id)
            .limit(limit)
        )
        with read_transaction(self._engine) as conn:
            return [row.recording_id for row in conn.execute(query)]

    # --- callback inbox ---------------------------------------------------------------------------

    def add_callback(self, recording_id: str, callback: EmaCallback | Mapping[str, Any]) -> tuple[int, bool]:
        """Store an EMA callback durably; returns (inbox id, duplicate?). The API passes the model it
        validated; a mapping is validated by the same model (InvalidCallback)."""
        typed = as_callback(callback)
        dedupe_key = typed.dedupe_key(recording_id)
        values = {
            "recording_id": recording_id,
            "job_id": typed.job_id,
            "job_kind": typed.job_kind,
            "job_state": typed.job_state,
            "payload": typed.payload(),
            "dedupe_key": dedupe_key,
            "received_at": now(),
        }
        with write_transaction(self._engine) as conn:
            if not _exists(conn, recording_id):
                raise UnknownRecording(recording_id)
            if sql.insert_ignore(conn, callback_inbox, values, ["dedupe_key"]):
                # The key is unique, so this finds exactly the row just inserted.
                return _inbox_id(conn, dedupe_key), False
            return _inbox_id(conn, dedupe_key), True

    def pending_callbacks(self, *, limit: int = 200, recording_id: str | None = None) -> list[InboxCallback]:
        """Unprocessed callbacks in arrival order (of one recording, with `recording_id`).

        Selected by "unprocessed", not by an id cursor: a row whose insert committed after a higher
        id's is still found on a later tick.
        """
        query = select(callback_inbox).where(callback_inbox.c.processed_at.is_(None))
        if recording_id is not None:
            query = query.where(callback_inbox.c.recording_id == recording_id)
        query = query.order_by(callback_inbox.c.id).limit(limit)
        with read_transaction(self._engine) as conn:
            return [inbox_from_row(row) for row in conn.execute(query)]

    # --- outbox -----------------------------------------------------------------------------------

    def pending_events(self, *, limit: int = 100) -> list[OutboxEvent]:
        # Quarantined events (dead_letters) wait for `ras redrive`, not for every tick.
        query = (
            select(outbox)
            .where(outbox.c.published_at.is_(None), outbox.c.quarantined_at.is_(None))
            .order_by(outbox.c.id)
            .limit(limit)
        )
        with read_transaction(self._engine) as conn:
            return [outbox_from_row(row) for row in conn.execute(query)]

    def mark_published(self, event_ids: list[str]) -> None:
        with write_transaction(self._engine) as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.event_id.in_(event_ids), outbox.c.published_at.is_(None))
                .values(published_at=now())
            )

    def mark_publish_failed(self, event_ids: list[str]) -> None:
        with write_transaction(self._engine) as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.event_id.in_(event_ids), outbox.c.published_at.is_(None))
                .values(attempts=outbox.c.attempts + 1)
            )

    # --- duplicate --------------------------------------------------------------------------------

    def copy_recording_state(self, source_id: str, target_id: str) -> None:
        """Give `target_id` the job states of `source_id` (registering it with the source's metadata if new).

        Each copied job is one applied change-log row of source `api` on the target, so the target's
        log explains its state and replays to it. Repeating the copy changes nothing. Refused while a
        source job is in flight (its outputs are not there to copy yet) or a target job is (it would
        land on the copy).
        """
        if source_id == target_id:
            raise ValueError("a recording cannot be copied onto itself")
        with write_transaction(self._engine) as conn:
            source = _lock_pair(conn, source_id, target_id)
            if not _exists(conn, target_id):
                _register_copy(conn, source, target_id)
            source_jobs = sql.job_rows(conn, source_id)
            busy = [s.job_type for s in source_jobs.values() if s.state in IN_FLIGHT]
            if busy:
                raise RecordingBusy(f"{source_id} has jobs in flight: {', '.join(busy)}")
            target_jobs = sql.job_rows(conn, target_id)
            # Overwriting a job EMA or an import is still working on would let its callbacks and
            # outputs land on the copied state: the target's jobs must be idle too (force or not).
            target_busy = [s.job_type for s in target_jobs.values() if s.state in IN_FLIGHT]
            if target_busy:
                raise RecordingBusy(f"{target_id} has jobs in flight: {', '.join(target_busy)}")
            for name in catalogue.job_type_names():
                if name in source_jobs and name in target_jobs:
                    _copy_job(conn, source_jobs[name], target_jobs[name])
            _copy_quality(conn, source_id, target_id)

    # --- data quality -----------------------------------------------------------------------------

    def record_quality(
        self, recording_id: str, output: str, job_type: str, attempt: int, checks: list[dict[str, Any]]
    ) -> None:
        """Replace the quality figures of one processed output with those of the import that wrote it."""
        row = {
            "recording_id": recording_id,
            "output": output,
            "job_type": job_type,
            "attempt": attempt,
            "checks": checks,
            "measured_at": now(),
        }
        with write_transaction(self._engine) as conn:
            lock_recording(conn, recording_id)
            conn.execute(
                delete(quality_reports).where(
                    quality_reports.c.recording_id == recording_id, quality_reports.c.output == output
                )
            )
            conn.execute(insert(quality_reports).values(row))

    def quality_reports(self, recording_id: str) -> list[QualityReport]:
        """The recording's quality figures, one report per processed output measured, by output name."""
        with read_transaction(self._engine) as conn:
            rows = conn.execute(
                select(quality_reports)
                .where(quality_reports.c.recording_id == recording_id)
                .order_by(quality_reports.c.output)
            )
            return [quality_from_row(row) for row in rows]


def _copy_quality(conn: Any, source_id: str, target_id: str) -> None:
    """A duplicate serves the same bytes, so it has the same quality figures."""
    conn.execute(delete(quality_reports).where(quality_reports.c.recording_id == target_id))
    for report in conn.execute(select(quality_reports).where(quality_reports.c.recording_id == source_id)):
        conn.execute(insert(quality_reports).values({**report._asdict(), "recording_id": target_id}))


def _record(
    conn: Any,
    current: JobStatus,
    decision: Decision,
    source: Source,
    ema_job_id: str | None,
    at: datetime | None = None,
    *,
    reason_class: str | None = None,
    detail: dict[str, Any] | None = None,
) -> TransitionResult:
    """Log `decision` and, if applied, project it and write the domain events it causes."""
    at = at or now()
    if decision.applied:
        # Re-entering pending starts a new attempt that has no EMA job yet.
        logged_ema_id = None if decision.to_state is JobState.PENDING else ema_job_id or current.ema_job_id
    else:
        logged_ema_id = ema_job_id or current.ema_job_id
    entry = sql.append_change(
        conn, current, decision, source, logged_ema_id, at, reason_class=reason_class, detail=detail
    )
    if not decision.applied:
        return TransitionResult(decision, current, entry)
    status = project(entry)
    sql.write_projection(conn, status)
    if status.state is JobState.COMPLETED:
        sql.add_completion_events(conn, status)
    return TransitionResult(decision, status, entry)


@dataclass(frozen=True)
class RecordingSnapshot:
    """A recording as `apply_plan` hands it to a lifecycle rule, read under the recording's lock."""

    recording_id: str
    jobs: dict[str, JobStatus]
    validated: bool
    imported: dict[str, dict[str, int]]  # output → job type → attempt its latest import read
    inbox: InboxCallback | None
    registered_at: datetime


def _apply_changes(conn: Any, jobs: dict[str, JobStatus], plan: Plan, at: datetime) -> None:
    for change in plan.changes:
        current = jobs[change.job_type]
        assert current.state is change.from_state, f"{change} planned over {current.state}"
        detail = dict(change.detail or {})
        if change.not_before is not None:
            detail["not_before"] = change.not_before.isoformat()
        result = _record(
            conn,
            current,
            change.decision,
            change.source,
            change.ema_job_id,
            at,
            reason_class=change.reason_class.value if change.reason_class else None,
            detail=detail or None,
        )
        jobs[change.job_type] = result.status


def _output_imports(conn: Any, recording_id: str) -> dict[str, dict[str, int]]:
    rows = conn.execute(select(output_imports).where(output_imports.c.recording_id == recording_id))
    return {row.output: dict(row.attempts) for row in rows}


def _record_import(conn: Any, recording_id: str, output: str, read: dict[str, int], at: datetime) -> None:
    values = {"attempts": dict(read), "imported_at": at}
    updated = conn.execute(
        update(output_imports)
        .where(output_imports.c.recording_id == recording_id, output_imports.c.output == output)
        .values(values)
    )
    if updated.rowcount == 0:
        conn.execute(insert(output_imports).values(recording_id=recording_id, output=output, **values))


def _add_event(conn: Any, recording_id: str, event: events.DomainEvent, at: datetime) -> None:
    sql.insert_ignore(
        conn,
        outbox,
        {
            "event_id": event.event_id,
            "recording_id": recording_id,
            "detail_type": event.detail_type,
            "detail": event.detail,
            "created_at": at,
            "attempts": 0,
        },
        ["event_id"],
    )


# Built once: constructing a select costs more than running it on SQLite.
_RECORDING_WITH_JOBS = (
    select(recordings.c["metadata"].label("recording_metadata"), job_states)
    .select_from(recordings.outerjoin(job_states, job_states.c.recording_id == recordings.c.recording_id))
    .where(recordings.c.recording_id == bindparam("recording_id"))
)


def _metadata_from_dict(data: dict[str, Any]) -> RecordingMetadata:
    return RecordingMetadata(
        recording_id=data["recording_id"],
        fps=data["fps"],
        duration_s=data["duration_s"],
        pitch=Pitch(**data["pitch"]),
        video_uris=tuple(data["video_uris"]),
        periods=tuple(Period(**period) for period in data["periods"]),
        home_team=data.get("home_team"),
        away_team=data.get("away_team"),
    )


def _exists(conn: Any, recording_id: str) -> bool:
    found = conn.scalar(select(recordings.c.recording_id).where(recordings.c.recording_id == recording_id))
    return found is not None


def _inbox_id(conn: Any, dedupe_key: str) -> int:
    return conn.execute(
        select(callback_inbox.c.id).where(callback_inbox.c.dedupe_key == dedupe_key)
    ).scalar_one()


def _job_row(status: JobStatus) -> dict[str, Any]:
    return {
        "recording_id": status.recording_id,
        "job_type": status.job_type,
        "state": status.state.value,
        "attempt": status.attempt,
        "ema_job_id": status.ema_job_id,
        "reason": status.reason,
        "updated_at": status.updated_at,
        "not_before": status.not_before,
    }


def _lock_pair(conn: Any, source_id: str, target_id: str) -> Any:
    """Lock both recordings in id order, so opposite copies cannot deadlock; returns the source row."""
    locked = {}
    for recording_id in sorted((source_id, target_id)):
        if recording_id == source_id or _exists(conn, recording_id):
            locked[recording_id] = lock_recording(conn, recording_id)
    return locked[source_id]


def _register_copy(conn: Any, source: Any, target_id: str) -> None:
    registered_at = now()
    validated_at = conn.scalar(
        select(recordings.c.validated_at).where(recordings.c.recording_id == source.recording_id)
    )
    conn.execute(
        insert(recordings).values(
            recording_id=target_id,
            metadata={**source.metadata, "recording_id": target_id},
            version=0,
            registered_at=registered_at,
            validated_at=validated_at,
        )
    )
    for job_type in catalogue.job_type_names():
        conn.execute(insert(job_states).values(_job_row(initial_status(target_id, job_type, registered_at))))


def _copy_job(conn: Any, source: JobStatus, target: JobStatus) -> None:
    reason = source.reason or f"copied from recording {source.recording_id}"
    copied = Decision(Outcome.APPLIED, source.state, source.attempt, reason)
    expected = (source.state, source.attempt, source.ema_job_id)
    expected_reason = None if source.state is JobState.PENDING else reason
    if (target.state, target.attempt, target.ema_job_id) == expected and target.reason == expected_reason:
        return
    entry = sql.append_change(conn, target, copied, Source.API, source.ema_job_id, now())
    sql.write_projection(conn, project(entry))


# --- operations (metrics) ---------------------------------------------------------------------------
# Read-only, for the API's /metrics collector; kept apart from the transactions above.


def read_operations(store: StateStore) -> readings.OperationsReading:
    """Jobs per type and state, what waits in the inbox and the outbox, and what is quarantined."""
    with read_transaction(store._engine) as conn:
        reading = readings.read_operations(conn)
    return dataclasses.replace(reading, quarantined=store.dead_letters.counts())


def last_change_id(store: StateStore) -> int:
    with read_transaction(store._engine) as conn:
        return readings.last_change_id(conn)


def changes_after(store: StateStore, after_id: int, *, limit: int = 5000) -> list[readings.ChangeRow]:
    """Change-log rows above `after_id` in id order, for counters that fold the log incrementally."""
    with read_transaction(store._engine) as conn:
        return readings.changes_after(conn, after_id, limit=limit)


def outbox_after(store: StateStore, after_id: int, *, limit: int = 500) -> list[readings.OutboxRow]:
    """Outbox rows above `after_id` in id order, published or not (the alert sensor reads them)."""
    with read_transaction(store._engine) as conn:
        return readings.outbox_after(conn, after_id, limit=limit)


def last_outbox_id(store: StateStore) -> int:
    with read_transaction(store._engine) as conn:
        return readings.last_outbox_id(conn)


def attempts_ended_after(store: StateStore, after_id: int) -> dict[str, int]:
    """{"failed": n, "completed": m}: attempts that ended in change-log rows above `after_id`."""
    with read_transaction(store._engine) as conn:
        return readings.attempts_ended_after(conn, after_id)
