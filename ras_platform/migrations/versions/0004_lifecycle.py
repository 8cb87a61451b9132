"""Lifecycle: why a change happened (reason class, detail), retry backoff, and imports per attempt.

Revision ID: 0004_lifecycle
Revises: 0003_dead_letters
Create Date: 2026-11-29

- `state_changes.reason_class` and `.detail`: the failure class the retry policy acted on
  (docs/internals.md) and what it was about (the file and its content hash, the attempts an import
  read, when a retry may start), so the change log shows why a job was or was not retried.
- `job_states.not_before`: a retry waits for its backoff; dispatch and the import sweep honour it.
- `output_imports`: the latest successful import of each processed output and the attempt of each job
  whose file it read; a job completes when every output it owns was imported from its current attempt.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_lifecycle"
down_revision: str | None = "0003_dead_letters"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("state_changes") as batch:
        batch.add_column(sa.Column("reason_class", sa.String(32), nullable=True))
        batch.add_column(sa.Column("detail", sa.JSON(), nullable=True))
    with op.batch_alter_table("job_states") as batch:
        batch.add_column(sa.Column("not_before", _TS, nullable=True))
    op.create_table(
        "output_imports",
        sa.Column("recording_id", sa.String(64), sa.ForeignKey("recordings.recording_id"), primary_key=True),
        sa.Column("output", sa.String(64), primary_key=True),
        sa.Column("attempts", sa.JSON(), nullable=False),
        sa.Column("imported_at", _TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("output_imports")
    with op.batch_alter_table("job_states") as batch:
        batch.drop_column("not_before")
    with op.batch_alter_table("state_changes") as batch:
        batch.drop_column("detail")
        batch.drop_column("reason_class")
