"""Poison-message isolation for the inbox and the outbox.

A drain loop hands each row's apply (or publish) to `isolate`. A row whose apply raises is not
retried within the tick and does not stop the loop: its failure is counted in `dead_letters` with
the reason, and after `max_failures` failures the row is quarantined: an inbox row is marked
processed with outcome `quarantined`, an outbox row gets `quarantined_at`; either way the drain
skips it from then on, so one row that cannot be applied never blocks the others.

Faults of the infrastructure (the database unreachable, a connection dropped) are not the row's
fault: they propagate, the tick fails, nothing is counted, and the next tick tries again.

Quarantined rows show in `GET /recordings/{id}/analytics/logs` (with their reason), in `counts()`
(for metrics), and `ras redrive` puts them back into the drain once the cause is fixed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy import Engine, and_, func, select, update
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from ras_core.text import clean_text, truncate
from ras_platform.db import sql
from ras_platform.db.engine import read_transaction, write_transaction
from ras_platform.db.schema import callback_inbox, dead_letters, outbox
from ras_platform.db.sql import now

Source = Literal["callback_inbox", "outbox"]
INBOX: Source = "callback_inbox"
OUTBOX: Source = "outbox"
SOURCES: tuple[Source, ...] = (INBOX, OUTBOX)
# A callback is applied in one short transaction: three failures in a row are not bad luck.
INBOX_MAX_FAILURES = 3
# A publish also fails while the bus is down; ten ticks (about a minute) before an event is set aside.
OUTBOX_MAX_FAILURES = 10
QUARANTINED_OUTCOME = "quarantined"
MAX_REASON_CHARS = 2000
# The database itself is unavailable: every row would fail alike, so none is blamed.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    DisconnectionError,
    PoolTimeout,
)

T = TypeVar("T")


@dataclass(frozen=True)
class DeadLetter:
    source: str
    row_id: int
    recording_id: str | None
    failures: int
    reason: str
    first_failed_at: datetime
    last_failed_at: datetime
    quarantined_at: datetime | None
    redriven_at: datetime | None

    @property
    def state(self) -> str:
        """`quarantined` (skipped by the drain), `redriven` (back in it) or `retrying` (failed, not yet
        quarantined)."""
        if self.quarantined_at is not None:
            return "quarantined"
        return "redriven" if self.redriven_at is not None else "retrying"


@dataclass(frozen=True)
class Failed:
    """The apply of a row raised; `quarantined` when this failure set it aside."""

    reason: str
    quarantined: bool


@dataclass(frozen=True)
class Applied(Generic[T]):
    value: T


def describe(error: BaseException) -> str:
    """The reason stored for a failure: type and message, cleaned (a NUL in a message must not break
    the very write that records it) and bounded."""
    return truncate(clean_text(f"{type(error).__name__}: {error}"), MAX_REASON_CHARS)


class DeadLetters:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def isolate(
        self,
        source: Source,
        row_id: int,
        recording_id: str | None,
        apply: Callable[[], T],
        *,
        max_failures: int,
    ) -> Applied[T] | Failed:
        """Run `apply` for one row; a failure of the row is recorded, never raised."""
        try:
            return Applied(apply())
        except TRANSIENT_ERRORS:
            raise
        except Exception as error:  # any other error is this row's: isolate it
            reason = describe(error)
            return self.record_failure(source, row_id, recording_id, reason, max_failures=max_failures)

    def record_failure(
        self, source: Source, row_id: int, recording_id: str | None, reason: str, *, max_failures: int
    ) -> Failed:
        """Count a failure of the row; quarantine it when it reaches `max_failures`."""
        at = now()
        with write_transaction(self._engine) as conn:
            sql.insert_ignore(
                conn,
                dead_letters,
                {
                    "source": source,
                    "row_id": row_id,
                    "recording_id": recording_id,
                    "failures": 0,
                    "reason": reason,
                    "first_failed_at": at,
                    "last_failed_at": at,
                },
                ["source", "row_id"],
            )
            key = and_(dead_letters.c.source == source, dead_letters.c.row_id == row_id)
            failures = conn.execute(
                update(dead_letters)
                .where(key)
                .values(failures=dead_letters.c.failures + 1, reason=reason, last_failed_at=at)
                .returning(dead_letters.c.failures)
            ).scalar_one()
            quarantine = failures >= max_failures
            if quarantine:
                conn.execute(update(dead_letters).where(key).values(quarantined_at=at))
                _set_aside(conn, source, row_id, at)
        return Failed(reason, quarantine)

    def quarantine_now(self, source: Source, row_id: int, recording_id: str | None, reason: str) -> Failed:
        """Quarantine a row at once (a failure that no retry can fix)."""
        return self.record_failure(source, row_id, recording_id, reason, max_failures=1)

    def redrive(
        self,
        *,
        source: Source | None = None,
        recording_id: str | None = None,
        row_ids: Iterable[int] | None = None,
    ) -> list[DeadLetter]:
        """Put quarantined rows back into their drain, with their failure count reset; the rows redriven."""
        query = select(dead_letters).where(dead_letters.c.quarantined_at.is_not(None))
        if source is not None:
            query = query.where(dead_letters.c.source == source)
        if recording_id is not None:
            query = query.where(dead_letters.c.recording_id == recording_id)
        if row_ids is not None:
            query = query.where(dead_letters.c.row_id.in_(list(row_ids)))
        at = now()
        with write_transaction(self._engine) as conn:
            rows = conn.execute(query.with_for_update()).all()
            for row in rows:
                conn.execute(
                    update(dead_letters)
                    .where(dead_letters.c.id == row.id)
                    .values(failures=0, quarantined_at=None, redriven_at=at)
                )
                _put_back(conn, row.source, row.row_id)
        return [_dead_letter(row) for row in rows]

    def of_recording(self, recording_id: str) -> list[DeadLetter]:
        query = (
            select(dead_letters)
            .where(dead_letters.c.recording_id == recording_id)
            .order_by(dead_letters.c.first_failed_at, dead_letters.c.id)
        )
        with read_transaction(self._engine) as conn:
            return [_dead_letter(row) for row in conn.execute(query)]

    def quarantined(self, *, source: Source | None = None, limit: int = 1000) -> list[DeadLetter]:
        query = select(dead_letters).where(dead_letters.c.quarantined_at.is_not(None))
        if source is not None:
            query = query.where(dead_letters.c.source == source)
        with read_transaction(self._engine) as conn:
            return [_dead_letter(row) for row in conn.execute(query.order_by(dead_letters.c.id).limit(limit))]

    def counts(self) -> dict[str, int]:
        """Rows quarantined now, per source (every source present, 0 when none): for metrics."""
        query = (
            select(dead_letters.c.source, func.count())
            .where(dead_letters.c.quarantined_at.is_not(None))
            .group_by(dead_letters.c.source)
        )
        with read_transaction(self._engine) as conn:
            found = {source: count for source, count in conn.execute(query)}
        return {source: found.get(source, 0) for source in SOURCES}


def _set_aside(conn: Any, source: str, row_id: int, at: datetime) -> None:
    if source == INBOX:
        conn.execute(
            update(callback_inbox)
            .where(callback_inbox.c.id == row_id, callback_inbox.c.processed_at.is_(None))
            .values(processed_at=at, outcome=QUARANTINED_OUTCOME)
        )
    else:
        conn.execute(update(outbox).where(outbox.c.id == row_id).values(quarantined_at=at))


def _put_back(conn: Any, source: str, row_id: int) -> None:
    if source == INBOX:
        conn.execute(
            update(callback_inbox)
            .where(callback_inbox.c.id == row_id, callback_inbox.c.outcome == QUARANTINED_OUTCOME)
            .values(processed_at=None, outcome=None)
        )
    else:
        conn.execute(update(outbox).where(outbox.c.id == row_id).values(quarantined_at=None, attempts=0))


def _dead_letter(row: Any) -> DeadLetter:
    return DeadLetter(
        source=row.source,
        row_id=row.row_id,
        recording_id=row.recording_id,
        failures=row.failures,
        reason=row.reason,
        first_failed_at=row.first_failed_at,
        last_failed_at=row.last_failed_at,
        quarantined_at=row.quarantined_at,
        redriven_at=row.redriven_at,
    )
