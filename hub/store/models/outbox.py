"""The dispatcher's tables: deliveries, workers and their reports, and what it learnt of the servers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.store.models.base import Base


class DeliveryRow(Base):
    __tablename__ = "deliveries"
    __table_args__ = (sa.Index("ix_deliveries_due", "state", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    announcement_id: Mapped[int] = mapped_column(sa.ForeignKey("announcements.id", ondelete="CASCADE"), index=True)
    town_id: Mapped[int] = mapped_column(sa.ForeignKey("towns.id", ondelete="CASCADE"))
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id", ondelete="SET NULL"))
    #: Set on a follow-up: the delivery whose post it answers in thread (see :mod:`hub.store.threads`).
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("deliveries.id", ondelete="CASCADE"), index=True)
    #: ``post``, ``followup`` (a reply under its parent) or ``pin`` (its parent pinned on the town's profile).
    kind: Mapped[str] = mapped_column(sa.String(16), default="post", server_default="post")
    platform: Mapped[str] = mapped_column(sa.String(16))
    version_number: Mapped[int]
    text: Mapped[str] = mapped_column(sa.Text)
    idempotency_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    state: Mapped[str] = mapped_column(sa.String(16))
    attempts: Mapped[int] = mapped_column(default=0)
    #: Times a worker claimed it: on the first claim no post can have been sent yet (sends follow claims).
    claims: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(sa.String(64))
    claimed_until: Mapped[datetime | None]
    remote_key: Mapped[str | None] = mapped_column(sa.String(64))
    remote_id: Mapped[str | None] = mapped_column(sa.String(255))
    remote_url: Mapped[str | None] = mapped_column(sa.String(512))
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    #: Why it failed, as ``{key, params, permanent, reconnect}`` (shown later in the reader's language).
    error: Mapped[dict[str, Any] | None]
    #: What the publisher's pre-flight uploaded (reused at the instant), and when.
    prepared: Mapped[dict[str, Any] | None]
    prepared_at: Mapped[datetime | None]
    preflight_error: Mapped[dict[str, Any] | None]
    #: Mastodon pre-staging: the scheduled status handed to the server ahead of the instant, as
    #: ``{state, at, id}`` (see :mod:`hub.publishers.mastodon_staging`); None when the post waits for the instant.
    schedule: Mapped[dict[str, Any] | None]
    published_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class UnstagingRow(Base):
    """A scheduled status to take back from its server (its announcement unlocked or cancelled); kept until the
    server confirms, so a crash cannot leave it to be published."""

    __tablename__ = "unstagings"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id", ondelete="CASCADE"))
    #: The delivery's ``schedule`` when it was dropped.
    schedule: Mapped[dict[str, Any]]
    #: The post's text, to recognise it if the server published it meanwhile.
    text: Mapped[str] = mapped_column(sa.Text)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(index=True)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime]


class ServerTraitRow(Base):
    """What the dispatcher found out about a server (a base URL as the accounts store it), kept whatever becomes
    of the posts that showed it."""

    __tablename__ = "server_traits"
    server: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    #: When it first published at once a post it was asked to schedule (it ignores ``scheduled_at``).
    ignores_scheduling_since: Mapped[datetime | None]


class WorkerRow(Base):
    """A running dispatcher worker; one whose heartbeat is old is dead and its claims are handed back."""

    __tablename__ = "dispatch_workers"
    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    host: Mapped[str] = mapped_column(sa.String(255))
    pid: Mapped[int]
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]


class ReportRow(Base):
    """Something a front end must tell the room; ``sent_at`` is set once it has."""

    __tablename__ = "reports"
    __table_args__ = (sa.Index("ix_reports_unsent", "sent_at", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    coalition_id: Mapped[int] = mapped_column(sa.ForeignKey("coalitions.id", ondelete="CASCADE"))
    announcement_id: Mapped[int] = mapped_column(sa.ForeignKey("announcements.id", ondelete="CASCADE"))
    town_id: Mapped[int | None]
    platform: Mapped[str | None] = mapped_column(sa.String(16))
    problem: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
