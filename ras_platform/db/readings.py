"""Read-only queries for operations (metrics): cheap enough to run on every Prometheus scrape.

Gauges read the current state (jobs per type and state; unprocessed callbacks; unpublished events)
through the indexes that the sensors use themselves. Counters are folded from the append-only change
log, reading only the rows after an id the caller has already counted, never the whole history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Table, and_, func, select

from ras_platform.db.schema import callback_inbox, job_states, outbox, state_changes


@dataclass(frozen=True)
class QueueReading:
    """Rows waiting in a queue table (the inbox or the outbox) and when the oldest arrived."""

    waiting: int
    oldest_at: datetime | None


@dataclass(frozen=True)
class OperationsReading:
    jobs: dict[tuple[str, str], int] = field(default_factory=dict)  # (job_type, state) → jobs
    inbox: QueueReading = QueueReading(0, None)
    outbox: QueueReading = QueueReading(0, None)
    # source ("callback_inbox", "outbox") → rows quarantined now (ras_platform.dead_letters)
    quarantined: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ChangeRow:
    """The columns of a change-log row that the counters need."""

    id: int
    recording_id: str
    job_type: str
    to_state: str
    attempt: int
    source: str
    outcome: str
    reason: str | None
    at: datetime
    reason_class: str | None = None  # what the lifecycle recorded (ras_core.failures.FailureClass)


def read_operations(conn: Connection) -> OperationsReading:
    jobs = {
        (row.job_type, row.state): row.jobs
        for row in conn.execute(
            select(job_states.c.job_type, job_states.c.state, func.count().label("jobs")).group_by(
                job_states.c.job_type, job_states.c.state
            )
        )
    }
    return OperationsReading(
        jobs=jobs,
        inbox=_queue(conn, callback_inbox, done="processed_at", arrived="received_at"),
        outbox=_queue(conn, outbox, done="published_at", arrived="created_at"),
    )


def _queue(conn: Connection, table: Table, *, done: str, arrived: str) -> QueueReading:
    # Both tables have a partial index on id over the rows not yet done: the oldest is the lowest id.
    not_done = table.c[done].is_(None)
    if "quarantined_at" in table.c:  # set aside in dead_letters: counted by ras_quarantined instead
        not_done = and_(not_done, table.c.quarantined_at.is_(None))
    waiting = conn.scalar(select(func.count()).select_from(table).where(not_done)) or 0
    oldest = conn.scalar(select(table.c[arrived]).where(not_done).order_by(table.c.id).limit(1))
    return QueueReading(waiting, oldest)


def last_change_id(conn: Connection) -> int:
    return conn.scalar(select(func.max(state_changes.c.id))) or 0


def changes_after(conn: Connection, after_id: int, *, limit: int) -> list[ChangeRow]:
    """Change-log rows with an id above `after_id`, in id order (a range read of the primary key)."""
    query = (
        select(
            state_changes.c.id,
            state_changes.c.recording_id,
            state_changes.c.job_type,
            state_changes.c.to_state,
            state_changes.c.attempt,
            state_changes.c.source,
            state_changes.c.outcome,
            state_changes.c.reason,
            state_changes.c.at,
            state_changes.c.reason_class,
        )
        .where(state_changes.c.id > after_id)
        .order_by(state_changes.c.id)
        .limit(limit)
    )
    return [ChangeRow(*row) for row in conn.execute(query)]


@dataclass(frozen=True)
class OutboxRow:
    id: int
    event_id: str
    detail_type: str
    detail: dict
    created_at: datetime


def outbox_after(conn: Connection, after_id: int, *, limit: int) -> list[OutboxRow]:
    """Outbox rows (published or not) above `after_id`, in id order (a primary-key range read)."""
    query = (
        select(outbox.c.id, outbox.c.event_id, outbox.c.detail_type, outbox.c.detail, outbox.c.created_at)
        .where(outbox.c.id > after_id)
        .order_by(outbox.c.id)
        .limit(limit)
    )
    return [OutboxRow(*row) for row in conn.execute(query)]


def last_outbox_id(conn: Connection) -> int:
    return conn.scalar(select(func.max(outbox.c.id))) or 0


def attempts_ended_after(conn: Connection, after_id: int) -> dict[str, int]:
    """Applied `failed` and `completed` transitions with a change-log id above `after_id`."""
    query = (
        select(state_changes.c.to_state, func.count().label("n"))
        .where(
            state_changes.c.id > after_id,
            state_changes.c.outcome == "applied",
            state_changes.c.to_state.in_(("failed", "completed")),
        )
        .group_by(state_changes.c.to_state)
    )
    return {row.to_state: row.n for row in conn.execute(query)}
