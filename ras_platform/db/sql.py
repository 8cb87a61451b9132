"""Statement helpers shared by the state store's transactions (each takes an open connection)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, Table, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ras_core import catalogue, domain_events
from ras_core.records import ChangeLogEntry, JobStatus
from ras_core.states import Decision, JobState, Source
from ras_platform.db.rows import job_status_from_row
from ras_platform.db.schema import job_states, outbox, recordings, state_changes


class UnknownRecording(KeyError):
    """No recording with this id is registered."""


def now() -> datetime:
    return datetime.now(UTC)


def insert_ignore(conn: Connection, table: Table, values: dict[str, Any], conflict: list[str]) -> bool:
    """INSERT unless a row with the same `conflict` key exists; True if inserted. Race-free."""
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = dialect_insert(table).values(values).on_conflict_do_nothing(index_elements=conflict)
    return conn.execute(statement).rowcount == 1


def lock_recording(conn: Connection, recording_id: str) -> Row[Any]:
    """Lock the recording's row for this transaction: every change of a recording queues behind it.

    FOR NO KEY UPDATE on PostgreSQL: the key never changes, and a plain FOR UPDATE would also queue
    every insert referencing the recording (an API process storing a callback) behind a transition.
    """
    row = conn.execute(
        select(recordings.c.recording_id, recordings.c.registered_at, recordings.c["metadata"])
        .where(recordings.c.recording_id == recording_id)
        .with_for_update(key_share=True)
    ).one_or_none()
    if row is None:
        raise UnknownRecording(recording_id)
    return row


def lock_job(conn: Connection, recording_id: str, job_type: str) -> JobStatus:
    lock_recording(conn, recording_id)
    row = conn.execute(
        select(job_states)
        .where(job_states.c.recording_id == recording_id, job_states.c.job_type == job_type)
        .with_for_update()
    ).one_or_none()
    if row is None:
        raise UnknownRecording(f"{recording_id} has no {job_type} job; register it again")
    return job_status_from_row(row)


def job_rows(conn: Connection, recording_id: str) -> dict[str, JobStatus]:
    rows = conn.execute(select(job_states).where(job_states.c.recording_id == recording_id))
    return {row.job_type: job_status_from_row(row) for row in rows}


def append_change(
    conn: Connection,
    current: JobStatus,
    decision: Decision,
    source: Source,
    ema_job_id: str | None,
    at: datetime,
    *,
    reason_class: str | None = None,
    detail: dict[str, Any] | None = None,
) -> ChangeLogEntry:
    """Append one change-log row under the next per-recording version (caller holds the recording lock)."""
    version = conn.execute(
        update(recordings)
        .where(recordings.c.recording_id == current.recording_id)
        .values(version=recordings.c.version + 1)
        .returning(recordings.c.version)
    ).scalar_one()
    values: dict[str, Any] = {
        "recording_id": current.recording_id,
        "version": version,
        "job_type": current.job_type,
        "from_state": current.state.value,
        "to_state": decision.to_state.value,
        "attempt": decision.attempt,
        "ema_job_id": ema_job_id,
        "source": source.value,
        "outcome": decision.outcome.value,
        "reason": decision.reason,
        "at": at,
        "reason_class": reason_class,
        "detail": detail,
    }
    change_id = conn.execute(insert(state_changes).values(values).returning(state_changes.c.id)).scalar_one()
    return ChangeLogEntry(
        id=change_id,
        recording_id=current.recording_id,
        version=version,
        job_type=current.job_type,
        from_state=current.state,
        to_state=decision.to_state,
        attempt=decision.attempt,
        ema_job_id=ema_job_id,
        source=source,
        outcome=decision.outcome,
        reason=decision.reason,
        at=at,
        reason_class=reason_class,
        detail=detail,
    )


def write_projection(conn: Connection, status: JobStatus) -> None:
    values = {
        "state": status.state.value,
        "attempt": status.attempt,
        "ema_job_id": status.ema_job_id,
        "reason": status.reason,
        "updated_at": status.updated_at,
        "not_before": status.not_before,
    }
    updated = conn.execute(
        update(job_states)
        .where(job_states.c.recording_id == status.recording_id, job_states.c.job_type == status.job_type)
        .values(values)
    )
    if updated.rowcount == 0:  # a job type added to the catalogue after the recording was registered
        conn.execute(
            insert(job_states).values(recording_id=status.recording_id, job_type=status.job_type, **values)
        )


def add_completion_events(conn: Connection, status: JobStatus) -> None:
    """Outbox rows owed by `status` having just become completed, in the caller's transaction."""
    for event in domain_events.completion_events(
        status.recording_id,
        status.job_type,
        status.attempt,
        status.updated_at,
        all_completed=_all_completed(conn, status.recording_id),
    ):
        insert_ignore(
            conn,
            outbox,
            {
                "event_id": event.event_id,
                "recording_id": status.recording_id,
                "detail_type": event.detail_type,
                "detail": event.detail,
                "created_at": status.updated_at,
                "attempts": 0,
            },
            ["event_id"],
        )


def _all_completed(conn: Connection, recording_id: str) -> bool:
    names = catalogue.job_type_names()
    completed = conn.scalar(
        select(func.count())
        .select_from(job_states)
        .where(
            job_states.c.recording_id == recording_id,
            job_states.c.job_type.in_(names),
            job_states.c.state == JobState.COMPLETED.value,
        )
    )
    return completed == len(names)
