"""Coalitions, towns, roles and the towns' network accounts (with their OAuth apps and alerts)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.store.models.base import Base


class CoalitionRow(Base):
    __tablename__ = "coalitions"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    room_id: Mapped[str] = mapped_column(sa.String(255), unique=True)
    language: Mapped[str] = mapped_column(sa.String(8), default="fr")
    created_at: Mapped[datetime]


class TownRow(Base):
    __tablename__ = "towns"
    __table_args__ = (sa.UniqueConstraint("kind", "natural_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    code: Mapped[str | None] = mapped_column(sa.String(16))
    #: The official code, or the case-folded name for organisations that have none: the import's key.
    natural_key: Mapped[str] = mapped_column(sa.String(255))
    name: Mapped[str] = mapped_column(sa.String(255))
    timezone: Mapped[str] = mapped_column(sa.String(64), default="Europe/Paris")
    profile: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CoalitionTownRow(Base):
    __tablename__ = "coalition_towns"
    coalition_id: Mapped[int] = mapped_column(sa.ForeignKey("coalitions.id", ondelete="CASCADE"), primary_key=True)
    town_id: Mapped[int] = mapped_column(sa.ForeignKey("towns.id", ondelete="CASCADE"), primary_key=True)
    joined_at: Mapped[datetime]


class RoleGrantRow(Base):
    __tablename__ = "role_grants"
    __table_args__ = (sa.UniqueConstraint("user_id", "role", "scope"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(sa.String(255), index=True)
    role: Mapped[str] = mapped_column(sa.String(16))
    #: ``coalition:<id>`` or ``town:<id>``; a string so that the unique constraint holds on every database.
    scope: Mapped[str] = mapped_column(sa.String(32))
    coalition_id: Mapped[int | None] = mapped_column(sa.ForeignKey("coalitions.id", ondelete="CASCADE"))
    town_id: Mapped[int | None] = mapped_column(sa.ForeignKey("towns.id", ondelete="CASCADE"))
    granted_by: Mapped[str] = mapped_column(sa.String(255))
    granted_at: Mapped[datetime]


class LinkedAccountColumns:
    """The columns of a network account the hub publishes with, a town's (:class:`AccountRow`) or a coalition's
    own (:class:`~hub.store.models.reach.CoalitionAccountRow`): who it is, where, its encrypted secret and
    session, and what its last check found. Each table adds its owner (listed after the id: ``sort_order``)."""

    id: Mapped[int] = mapped_column(primary_key=True, sort_order=-1)
    platform: Mapped[str] = mapped_column(sa.String(16))
    identifier: Mapped[str] = mapped_column(sa.String(255))
    server: Mapped[str] = mapped_column(sa.String(255))
    secret: Mapped[bytes] = mapped_column(sa.LargeBinary)
    session: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    limits: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_verified_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    def __repr__(self) -> str:  # never show the encrypted columns either
        return f"{type(self).__name__}(id={self.id}, platform={self.platform})"


class AccountRow(LinkedAccountColumns, Base):
    __tablename__ = "accounts"
    __table_args__ = (sa.UniqueConstraint("town_id", "platform"),)
    town_id: Mapped[int] = mapped_column(sa.ForeignKey("towns.id", ondelete="CASCADE"))
    #: What ``secret`` holds: ``app_password``, ``access_token`` (pasted) or ``oauth`` (issued to our app).
    credential: Mapped[str] = mapped_column(sa.String(16), default="app_password", server_default="app_password")
    #: The app that issued an OAuth token (to revoke it with that app's credentials).
    oauth_app_id: Mapped[int | None] = mapped_column(sa.ForeignKey("oauth_apps.id", ondelete="SET NULL"))


class AccountAlertRow(Base):
    """A linked account that stopped working, to be told to the town's officers in a direct message."""

    __tablename__ = "account_alerts"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id", ondelete="CASCADE"))
    town_id: Mapped[int] = mapped_column(sa.ForeignKey("towns.id", ondelete="CASCADE"))
    #: What broke, as ``{key, params, ...}`` (shown later in each officer's language).
    problem: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None] = mapped_column(index=True)


class OAuthAppRow(Base):
    """Unisson registered as an application on one server, for one redirect URI; the secret is encrypted."""

    __tablename__ = "oauth_apps"
    __table_args__ = (sa.UniqueConstraint("server", "redirect_uri"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    server: Mapped[str] = mapped_column(sa.String(255))
    redirect_uri: Mapped[str] = mapped_column(sa.String(1024))
    client_id: Mapped[str] = mapped_column(sa.String(255))
    client_secret: Mapped[bytes] = mapped_column(sa.LargeBinary)
    scopes: Mapped[str] = mapped_column(sa.String(255))
    #: Whether the server takes a PKCE challenge (S256), as its well-known document says.
    pkce: Mapped[bool]
    created_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"OAuthAppRow(id={self.id}, server={self.server})"


class OAuthRequestRow(Base):
    """An authorization waiting for its code: bound to an officer, a town and a direct conversation; the state
    is kept as its SHA-256 and the PKCE verifier encrypted."""

    __tablename__ = "oauth_requests"
    id: Mapped[int] = mapped_column(primary_key=True)
    state_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[str] = mapped_column(sa.String(255), index=True)
    town_id: Mapped[int] = mapped_column(sa.ForeignKey("towns.id", ondelete="CASCADE"))
    room_id: Mapped[str] = mapped_column(sa.String(255))
    app_id: Mapped[int] = mapped_column(sa.ForeignKey("oauth_apps.id", ondelete="CASCADE"))
    #: The domain of the handle being linked (``mairie@<domain>``).
    domain: Mapped[str] = mapped_column(sa.String(255))
    verifier: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"OAuthRequestRow(id={self.id}, town_id={self.town_id})"
