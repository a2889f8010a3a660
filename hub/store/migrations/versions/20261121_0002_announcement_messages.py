"""announcement messages

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 14:09:19.215076
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "announcement_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("announcement_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=255), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("author", sa.String(length=255), nullable=True),
        sa.Column("town_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["announcement_id"],
            ["announcements.id"],
            name=op.f("fk_announcement_messages_announcement_id_announcements"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_announcement_messages")),
        sa.UniqueConstraint("message_id", "purpose", name=op.f("uq_announcement_messages_message_id_purpose")),
    )
    with op.batch_alter_table("announcement_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_announcement_messages_announcement_id"), ["announcement_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("announcement_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_announcement_messages_announcement_id"))

    op.drop_table("announcement_messages")
