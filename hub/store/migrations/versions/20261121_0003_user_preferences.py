"""user preferences; images waiting for their alt text

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 18:02:41.507113
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "user_preferences",
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_preferences")),
    )
    with op.batch_alter_table("announcement_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("media_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("announcement_messages", schema=None) as batch_op:
        batch_op.drop_column("media_sha256")

    op.drop_table("user_preferences")
