"""announcements' quorum, and when the room was told it was missed

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("announcements") as batch:
        batch.add_column(sa.Column("quorum_towns", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("quorum_percent", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("quorum_missed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("announcements") as batch:
        batch.drop_column("quorum_missed_at")
        batch.drop_column("quorum_percent")
        batch.drop_column("quorum_towns")
