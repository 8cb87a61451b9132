"""Initial state store: registry, job-state projection, change log, callback inbox, outbox.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-23

Written out rather than generated from ras_platform.db.schema, so that later schema edits cannot
change what this revision did; tests/state_store/test_migrations.py checks the two still agree.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("recording_id", sa.String(64), primary_key=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("registered_at", _TS, nullable=False),
        sa.Column("validated_at", _TS, nullable=True),
    )
    op.create_table(
        "job_states",
        sa.Column("recording_id", sa.String(64), sa.ForeignKey("recordings.recording_id"), primary_key=True),
        sa.Column("job_type", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("ema_job_id", sa.String(255), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_index("ix_job_states_state_updated_at", "job_states", ["state", "updated_at"])
    op.create_table(
        "state_changes",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("recording_id", sa.String(64), sa.ForeignKey("recordings.recording_id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("job_type", sa.String(64), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=False),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("ema_job_id", sa.String(255), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", _TS, nullable=False),
        sa.UniqueConstraint("recording_id", "version", name="uq_state_changes_recording_version"),
    )
    op.create_table(
        "callback_inbox",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("recording_id", sa.String(64), sa.ForeignKey("recordings.recording_id"), nullable=False),
        sa.Column("job_id", sa.String(255), nullable=False),
        sa.Column("job_kind", sa.String(64), nullable=False),
        sa.Column("job_state", sa.String(16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("dedupe_key", sa.String(512), nullable=False, unique=True),
        sa.Column("received_at", _TS, nullable=False),
        sa.Column("processed_at", _TS, nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
    )
    op.create_index(
        "ix_callback_inbox_unprocessed",
        "callback_inbox",
        ["id"],
        postgresql_where=sa.text("processed_at IS NULL"),
        sqlite_where=sa.text("processed_at IS NULL"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("recording_id", sa.String(64), sa.ForeignKey("recordings.recording_id"), nullable=False),
        sa.Column("detail_type", sa.String(128), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("published_at", _TS, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["id"],
        postgresql_where=sa.text("published_at IS NULL"),
        sqlite_where=sa.text("published_at IS NULL"),
    )


def downgrade() -> None:
    for table in ("outbox", "callback_inbox", "state_changes", "job_states", "recordings"):
        op.drop_table(table)
