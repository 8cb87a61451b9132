"""The platform tables, as SQLAlchemy Core metadata.

The alembic revisions under `ras_platform/migrations/versions` create these; a test compares the
migrated database with this metadata so the two never drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)

# Dagster's storage keeps its own `alembic_version`; ours must not collide when they share a database.
VERSION_TABLE = "ras_alembic_version"


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out; SQLite stores them naive, PostgreSQL as timestamptz."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the state store only stores aware UTC times")
        value = value.astimezone(UTC)
        # SQLite's DATETIME drops the offset; keeping every value in UTC keeps them comparable.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
Id = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

recordings = Table(
    "recordings",
    metadata,
    Column("recording_id", String(64), primary_key=True),
    Column("metadata", JSON, nullable=False),
    # Last change-log version of this recording; the row doubles as the per-recording lock.
    Column("version", Integer, nullable=False, server_default="0"),
    Column("registered_at", UtcDateTime, nullable=False),
    Column("validated_at", UtcDateTime, nullable=True),
    # Set when POST /jobs asks for validation, cleared when a `validate_recordings` run has validated
    # it: one run validates every recording asked for while it waited in the queue.
    Column("validation_requested_at", UtcDateTime, nullable=True),
    Index("ix_recordings_validation_requested_at", "validation_requested_at"),
)

job_states = Table(
    "job_states",
    metadata,
    Column("recording_id", String(64), ForeignKey("recordings.recording_id"), primary_key=True),
    Column("job_type", String(64), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("ema_job_id", String(255), nullable=True),
    Column("reason", Text, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
    # A retry waiting for its backoff (ras_core.lifecycle.RetryPolicy) is not dispatched before this.
    Column("not_before", UtcDateTime, nullable=True),
    # Dispatch asks for "pending jobs, oldest first" every tick.
    Index("ix_job_states_state_updated_at", "state", "updated_at"),
)

state_changes = Table(
    "state_changes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("recording_id", String(64), ForeignKey("recordings.recording_id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("job_type", String(64), nullable=False),
    Column("from_state", String(16), nullable=False),
    Column("to_state", String(16), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("ema_job_id", String(255), nullable=True),
    Column("source", String(16), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("reason", Text, nullable=True),
    Column("at", UtcDateTime, nullable=False),
    # The failure class the retry policy acted on, and what the change was about (file, content hash,
    # attempts an import read, backoff): ras_core.lifecycle.
    Column("reason_class", String(32), nullable=True),
    Column("detail", JSON, nullable=True),
    # Also the index for "change log of a recording, by version".
    UniqueConstraint("recording_id", "version", name="uq_state_changes_recording_version"),
)

callback_inbox = Table(
    "callback_inbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("recording_id", String(64), ForeignKey("recordings.recording_id"), nullable=False),
    Column("job_id", String(255), nullable=False),
    Column("job_kind", String(64), nullable=False),
    Column("job_state", String(16), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("dedupe_key", String(512), nullable=False, unique=True),
    Column("received_at", UtcDateTime, nullable=False),
    Column("processed_at", UtcDateTime, nullable=True),
    Column("outcome", String(16), nullable=True),
    # The callback sensor reads only unprocessed rows; a partial index keeps that independent of history.
    Index(
        "ix_callback_inbox_unprocessed",
        "id",
        postgresql_where=text("processed_at IS NULL"),
        sqlite_where=text("processed_at IS NULL"),
    ),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("recording_id", String(64), ForeignKey("recordings.recording_id"), nullable=False),
    Column("detail_type", String(128), nullable=False),
    Column("detail", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("published_at", UtcDateTime, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    # Set when the event was moved to dead_letters (it failed too often); the drain skips it.
    Column("quarantined_at", UtcDateTime, nullable=True),
    Index(
        "ix_outbox_unpublished",
        "id",
        postgresql_where=text("published_at IS NULL"),
        sqlite_where=text("published_at IS NULL"),
    ),
)

# The latest quality figures of each processed output of a recording (ras_core.checks, quality kind):
# what GET analytics shows next to the job states. One row per output, replaced by each import
# that writes the output, so it always describes the data being served.
quality_reports = Table(
    "quality_reports",
    metadata,
    Column("recording_id", String(64), ForeignKey("recordings.recording_id"), primary_key=True),
    Column("output", String(64), primary_key=True),
    Column("job_type", String(64), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("checks", JSON, nullable=False),
    Column("measured_at", UtcDateTime, nullable=False),
)


# Rows of the inbox or the outbox that could not be applied or published: their failures, the last
# reason, and whether they are quarantined (skipped by the drain until `ras redrive`).
dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("source", String(16), nullable=False),  # "callback_inbox" or "outbox"
    Column("row_id", BigInteger, nullable=False),
    Column("recording_id", String(64), nullable=True),
    Column("failures", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("first_failed_at", UtcDateTime, nullable=False),
    Column("last_failed_at", UtcDateTime, nullable=False),
    Column("quarantined_at", UtcDateTime, nullable=True),
    Column("redriven_at", UtcDateTime, nullable=True),
    UniqueConstraint("source", "row_id", name="uq_dead_letters_source_row"),
    Index("ix_dead_letters_recording", "recording_id"),
)

# The latest successful import of each processed output and the attempt of every job whose file it
# read: a job completes when each output it owns was imported from its current attempt.
output_imports = Table(
    "output_imports",
    metadata,
    Column("recording_id", String(64), ForeignKey("recordings.recording_id"), primary_key=True),
    Column("output", String(64), primary_key=True),
    Column("attempts", JSON, nullable=False),
    Column("imported_at", UtcDateTime, nullable=False),
)
