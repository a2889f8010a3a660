"""Mastodon pre-staging: an announcement's choice, each delivery's scheduled status, and the scheduled statuses
to take back (unlock, cancel)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 16:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("announcements") as batch:
        batch.add_column(sa.Column("prestage", sa.Boolean(), nullable=True))
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("schedule", sa.JSON(), nullable=True))
    op.create_table(
        "unstagings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("schedule", sa.JSON(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_unstagings_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unstagings")),
    )
    with op.batch_alter_table("unstagings") as batch:
        batch.create_index(op.f("ix_unstagings_next_attempt_at"), ["next_attempt_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("unstagings") as batch:
        batch.drop_index(op.f("ix_unstagings_next_attempt_at"))
    op.drop_table("unstagings")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("schedule")
    with op.batch_alter_table("announcements") as batch:
        batch.drop_column("prestage")
