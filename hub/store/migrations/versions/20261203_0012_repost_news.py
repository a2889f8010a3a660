"""what the room was last told of a repost request (planned, a quarter, half, three quarters, done)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("repost_requests") as batch:
        batch.add_column(sa.Column("told", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("repost_requests") as batch:
        batch.drop_column("told")
