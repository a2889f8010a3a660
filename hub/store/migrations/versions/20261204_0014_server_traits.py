"""What the dispatcher found out about a server, kept apart from the posts that showed it: a server that
publishes at once what it is asked to schedule was remembered only through its early post's delivery, forgotten
when that announcement's pending deliveries were dropped (unlock, cancel)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_DECLINED = "declined"
_PUBLISHED_EARLY = "published_early"


def upgrade() -> None:
    op.create_table(
        "server_traits",
        sa.Column("server", sa.String(length=255), nullable=False),
        sa.Column("ignores_scheduling_since", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("server", name=op.f("pk_server_traits")),
    )
    # The servers already found out, from the early posts' deliveries still kept.
    deliveries = sa.table(
        "deliveries",
        sa.column("account_id", sa.Integer()),
        sa.column("schedule", sa.JSON()),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    accounts = sa.table("accounts", sa.column("id", sa.Integer()), sa.column("server", sa.String()))
    traits = sa.table(
        "server_traits", sa.column("server", sa.String()), sa.column("ignores_scheduling_since", sa.DateTime())
    )
    found = (
        sa.select(accounts.c.server, sa.func.min(deliveries.c.updated_at))
        .join(accounts, accounts.c.id == deliveries.c.account_id)
        .where(
            deliveries.c.schedule["state"].as_string() == _DECLINED,
            deliveries.c.schedule["reason"].as_string() == _PUBLISHED_EARLY,
        )
        .group_by(accounts.c.server)
    )
    op.execute(sa.insert(traits).from_select(["server", "ignores_scheduling_since"], found))


def downgrade() -> None:
    op.drop_table("server_traits")
