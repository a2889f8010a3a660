"""linking accounts by OAuth: apps registered per server, pending authorizations, the kind of each credential,
alerts of broken accounts

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oauth_apps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("server", sa.String(length=255), nullable=False),
        sa.Column("redirect_uri", sa.String(length=1024), nullable=False),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column("client_secret", sa.LargeBinary(), nullable=False),
        sa.Column("scopes", sa.String(length=255), nullable=False),
        sa.Column("pkce", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_apps")),
        sa.UniqueConstraint("server", "redirect_uri", name=op.f("uq_oauth_apps_server_redirect_uri")),
    )
    op.create_table(
        "oauth_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("town_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.String(length=255), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("verifier", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["app_id"], ["oauth_apps.id"], name=op.f("fk_oauth_requests_app_id_oauth_apps"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["town_id"], ["towns.id"], name=op.f("fk_oauth_requests_town_id_towns"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_requests")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_oauth_requests_state_hash")),
    )
    op.create_index(op.f("ix_oauth_requests_user_id"), "oauth_requests", ["user_id"], unique=False)
    op.create_table(
        "account_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("town_id", sa.Integer(), nullable=False),
        sa.Column("problem", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_account_alerts_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["town_id"], ["towns.id"], name=op.f("fk_account_alerts_town_id_towns"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_alerts")),
    )
    op.create_index(op.f("ix_account_alerts_sent_at"), "account_alerts", ["sent_at"], unique=False)
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("credential", sa.String(length=16), server_default="app_password", nullable=False))
        batch.add_column(sa.Column("oauth_app_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_accounts_oauth_app_id_oauth_apps"), "oauth_apps", ["oauth_app_id"], ["id"], ondelete="SET NULL"
        )
    # Mastodon accounts linked before this revision hold a pasted access token.
    op.execute("UPDATE accounts SET credential = 'access_token' WHERE platform = 'mastodon'")


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_constraint(op.f("fk_accounts_oauth_app_id_oauth_apps"), type_="foreignkey")
        batch.drop_column("oauth_app_id")
        batch.drop_column("credential")
    op.drop_index(op.f("ix_account_alerts_sent_at"), table_name="account_alerts")
    op.drop_table("account_alerts")
    op.drop_index(op.f("ix_oauth_requests_user_id"), table_name="oauth_requests")
    op.drop_table("oauth_requests")
    op.drop_table("oauth_apps")
