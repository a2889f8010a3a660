"""follow-ups posted in thread under each town's post, and pinning it on the town's profile

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "announcement_threads",
        sa.Column("announcement_id", sa.Integer(), nullable=False),
        sa.Column("followup_text", sa.Text(), nullable=True),
        sa.Column("followup_variants", sa.JSON(), nullable=True),
        sa.Column("pin", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("updated_by", sa.String(length=255), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["announcement_id"],
            ["announcements.id"],
            name=op.f("fk_announcement_threads_announcement_id_announcements"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("announcement_id", name=op.f("pk_announcement_threads")),
    )
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("kind", sa.String(length=16), server_default="post", nullable=False))
        batch.create_foreign_key(
            op.f("fk_deliveries_parent_id_deliveries"), "deliveries", ["parent_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_index(op.f("ix_deliveries_parent_id"), ["parent_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_index(op.f("ix_deliveries_parent_id"))
        batch.drop_constraint(op.f("fk_deliveries_parent_id_deliveries"), type_="foreignkey")
        batch.drop_column("kind")
        batch.drop_column("parent_id")
    op.drop_table("announcement_threads")
