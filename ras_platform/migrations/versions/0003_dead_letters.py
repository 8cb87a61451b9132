"""Dead letters: inbox and outbox rows that could not be applied or published, quarantined with a reason.

Revision ID: 0003_dead_letters
Revises: 0002_quality_reports
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_dead_letters"
down_revision: str | None = "0002_quality_reports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "dead_letters",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("row_id", sa.BigInteger(), nullable=False),
        sa.Column("recording_id", sa.String(64), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("quarantined_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("redriven_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("source", "row_id", name="uq_dead_letters_source_row"),
    )
    op.create_index("ix_dead_letters_recording", "dead_letters", ["recording_id"])
    # A plain ADD COLUMN on both backends (no table rebuild on SQLite, which keeps the partial index).
    op.add_column("outbox", sa.Column("quarantined_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("quarantined_at")
    op.drop_index("ix_dead_letters_recording", table_name="dead_letters")
    op.drop_table("dead_letters")
