"""The state store: recording registry, job-state projection, change log, callback inbox and outbox.

One SQL database (a SQLite file embedded, PostgreSQL in production) shared by the API, the Dagster
sensors and the runs. Every state change is one transaction that locks the recording's registry row,
asks `ras_core.states.decide` what to do, appends a change-log row whatever the outcome, updates the
projection if applied and writes the domain events it causes into the outbox. The registry row also
counts the recording's change-log versions, so versions are contiguous under any concurrency.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, or_, select, update

from ras_core import catalogue
from ras_core.callbacks import EmaCallback, InvalidCallback, as_callback, callback_reason
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
from ras_core.states import (
    IN_FLIGHT,
    Decision,
    JobState,
    Outcome,
    Source,
    decide,
    ready_job_types,
    retry_after_failure,
)
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
    "StateStore",
    "TransitionResult",
    "UnknownRecording",
]

# A callback that beat its trigger's answer waits this long for the EMA job id before it is stale.
DEFAULT_DEFER_LIMIT_S = 300.0


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
        retry_within: int | None = None,
    ) -> TransitionResult:
        """Ask for `target`; the change log records the request whatever `decide` says about it.

        With `retry_within` (the maximum attempts), a failure that leaves attempts to spare goes back
        to pending in the same transaction.
        """
        catalogue.job_type(job_type)
        with write_transaction(self._engine) as conn:
            current = lock_job(conn, recording_id, job_type)
            decision = decide(current.state, current.attempt, target, reason=reason)
            return _record(conn, current, decision, source, ema_job_id, retry_within=retry_within)

    def schedule_ready_jobs(self, recording_id: str, *, ema_only: bool = False) -> list[JobStatus]:
        """Move every ready job of a validated recording to scheduled, in one transaction; the jobs
        moved. A recording the `recording` asset has not validated yet has none ready."""
        with write_transaction(self._engine) as conn:
            lock_recording(conn, recording_id)
            validated_at = conn.scalar(
                select(recordings.c.validated_at).where(recordings.c.recording_id == recording_id)
            )
            if validated_at is None:
                return []
            current = sql.job_rows(conn, recording_id)
            scheduled = []
            for name in ready_job_types({job: status.state for job, status in current.items()}):
                if ema_only and not catalogue.job_type(name).is_ema:
                    continue
                status = current[name]
                decision = decide(status.state, status.attempt, JobState.SCHEDULED)
                result = _record(conn, status, decision, Source.DISPATCH, None)
                if result.decision.applied:
                    scheduled.append(result.status)
            return scheduled

    def record_ema_job_id(self, recording_id: str, job_type: str, attempt: int, ema_job_id: str) -> bool:
        """Remember the EMA job of `attempt`; False if that attempt is no longer current or has another id.

        Logged as an applied change that keeps the state, so `rebuild_projection` restores the id too.
        """
        with write_transaction(self._engine) as conn:
            current = lock_job(conn, recording_id, job_type)
            if current.attempt != attempt or current.state is JobState.PENDING:
                return False
            if current.ema_job_id is not None:
                return current.ema_job_id == ema_job_id
            keep_state = Decision(Outcome.APPLIED, current.state, current.attempt, current.reason)
            entry = sql.append_change(conn, current, keep_state, Source.DISPATCH, ema_job_id, now())
            sql.write_projection(conn, project(entry))
            return True

    def apply_callback(
        self,
        inbox: InboxCallback,
        *,
        retry_within: int | None = None,
        defer_limit_s: float = DEFAULT_DEFER_LIMIT_S,
    ) -> TransitionResult | None:
        """Turn an inbox row into a change and mark it processed, atomically (with the automatic
        retry of a failure, see `transition`).

        None when nothing was done: the row was already processed, or it is deferred because its
        trigger has not yet recorded the EMA job id (it stays pending for the next tick).
        """
        with write_transaction(self._engine) as conn:
            current = lock_job(conn, inbox.recording_id, inbox.job_kind)
            row = conn.execute(
                select(callback_inbox).where(callback_inbox.c.id == inbox.id).with_for_update()
            ).one_or_none()
            if row is None or row.processed_at is not None:
                return None
            at = now()
            if _awaiting_trigger(current) and at - row.received_at < timedelta(seconds=defer_limit_s):
                return None
            decision = _callback_decision(current, row)
            result = _record(
                conn, current, decision, Source.CALLBACK, row.job_id, at, retry_within=retry_within
            )
            conn.execute(
                update(callback_inbox)
                .where(callback_inbox.c.id == row.id)
                .values(processed_at=at, outcome=result.decision.outcome.value)
            )
            return result

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
        first wave) never crowd ready ones out of a bounded read; `schedule_ready_jobs` still
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

    def pending_callbacks(self, *, limit: int = 200) -> list[InboxCallback]:
        """Unprocessed callbacks in arrival order.

        Selected by "unprocessed", not by an id cursor: a row whose insert committed after a higher
        id's is still found on a later tick.
        """
        query = (
            select(callback_inbox)
            .where(callback_inbox.c.processed_at.is_(None))
            .order_by(callback_inbox.c.id)
            .limit(limit)
        )
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
    retry_within: int | None = None,
) -> TransitionResult:
    """Log `decision` and, if applied, project it and write the domain events it causes; then the
    automatic retry of a failure when `retry_within` allows one."""
    at = at or now()
    if decision.applied:
        # Re-entering pending starts a new attempt that has no EMA job yet.
        logged_ema_id = None if decision.to_state is JobState.PENDING else ema_job_id or current.ema_job_id
    else:
        logged_ema_id = ema_job_id or current.ema_job_id
    entry = sql.append_change(conn, current, decision, source, logged_ema_id, at)
    if not decision.applied:
        return TransitionResult(decision, current, entry)
    status = project(entry)
    sql.write_projection(conn, status)
    if status.state is JobState.COMPLETED:
        sql.add_completion_events(conn, status)
    retry = retry_after_failure(decision, max_attempts=retry_within) if retry_within else None
    if retry is None:
        return TransitionResult(decision, status, entry)
    retry_entry = sql.append_change(conn, status, retry, source, None, at)
    retried = project(retry_entry)
    sql.write_projection(conn, retried)
    return TransitionResult(decision, retried, retry_entry, retry)


def _awaiting_trigger(current: JobStatus) -> bool:
    # Dispatch marked the job scheduled and its trigger has not yet stored EMA's answer.
    return current.state is JobState.SCHEDULED and current.ema_job_id is None


def _callback_decision(current: JobStatus, row: Any) -> Decision:
    if row.job_id != current.ema_job_id:
        return Decision(
            Outcome.STALE,
            current.state,
            current.attempt,
            f"stale callback from EMA job {row.job_id}; current EMA job is {current.ema_job_id or 'none'}",
        )
    reason = callback_reason(row.payload)
    return decide(current.state, current.attempt, JobState(row.job_state), reason=reason)


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
