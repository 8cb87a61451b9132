"""Validation requests: one `validate_recordings` run validates every recording asked for meanwhile.

Revision ID: 0005_validation_requests
Revises: 0004_lifecycle
Create Date: 2026-11-30

- `recordings.validation_requested_at`: set by POST /jobs, cleared once a run has validated the
  recording; indexed, because the run and the dispatch sensor's safety net read the oldest requests.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_validation_requests"
down_revision: str | None = "0004_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.add_column(sa.Column("validation_requested_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_recordings_validation_requested_at", ["validation_requested_at"])


def downgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.drop_index("ix_recordings_validation_requested_at")
        batch.drop_column("validation_requested_at")
