"""Announcements, their versions, images, sign-ons and rules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.store.models.base import Base


class MediaRow(Base):
    __tablename__ = "media"
    sha256: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    mime: Mapped[str] = mapped_column(sa.String(64))
    width: Mapped[int]
    height: Mapped[int]
    size: Mapped[int]
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)


class AnnouncementRow(Base):
    __tablename__ = "announcements"
    id: Mapped[int] = mapped_column(primary_key=True)
    coalition_id: Mapped[int] = mapped_column(sa.ForeignKey("coalitions.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    state: Mapped[str] = mapped_column(sa.String(24))
    language: Mapped[str] = mapped_column(sa.String(8))
    allow_overrides: Mapped[bool] = mapped_column(default=False)
    timezone: Mapped[str] = mapped_column(sa.String(64))
    deadline: Mapped[datetime | None]
    publish_at: Mapped[datetime | None]
    current_version: Mapped[int | None]
    created_by: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    #: When a coordinator opened the public page before publication (it lists the towns signed so far).
    public_since: Mapped[datetime | None]
    #: The quorum, a number of towns or a share of the members in whole percent (at most one is set).
    quorum_towns: Mapped[int | None]
    quorum_percent: Mapped[int | None]
    #: When the room was told the quorum was missed at the deadline (once per deadline: a new date clears it).
    quorum_missed_at: Mapped[datetime | None]
    #: Hand the Mastodon posts to their servers as scheduled statuses at the pre-flight (None: the deployment's
    #: ``mastodon_prestage`` setting).
    prestage: Mapped[bool | None]


class VersionRow(Base):
    __tablename__ = "announcement_versions"
    __table_args__ = (sa.UniqueConstraint("announcement_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    announcement_id: Mapped[int] = mapped_column(sa.ForeignKey("announcements.id", ondelete="CASCADE"))
    number: Mapped[int]
    text: Mapped[str] = mapped_column(sa.Text)
    variants: Mapped[dict[str, Any]] = mapped_column(default=dict)
    images: Mapped[list[Any]] = mapped_column(default=list)
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    created_by: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[datetime]


class SignOnRow(Base):
    __tablename__ = "signons"
    __table_args__ = (sa.UniqueConstraint("announcement_id", "town_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    announcement_id: Mapped[int] = mapped_column(sa.ForeignKey("announcements.id", ondelete="CASCADE"))
    town_id: Mapped[int] = mapped_column(sa.ForeignKey("towns.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(sa.String(16))
    version_number: Mapped[int | None]
    previous_version_number: Mapped[int | None]
    by_user: Mapped[str | None] = mapped_column(sa.String(255))
    at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(sa.Text)
    override_text: Mapped[str | None] = mapped_column(sa.Text)


class ThreadRuleRow(Base):
    """An announcement's campaign rules about its posts: a follow-up posted in thread under each town's post, and
    whether each post is pinned on the town's profile."""

    __tablename__ = "announcement_threads"
    announcement_id: Mapped[int] = mapped_column(
        sa.ForeignKey("announcements.id", ondelete="CASCADE"), primary_key=True
    )
    followup_text: Mapped[str | None] = mapped_column(sa.Text)
    #: Per-platform follow-ups, ``{platform: text}``, used instead of ``followup_text`` there.
    followup_variants: Mapped[dict[str, Any] | None]
    #: Pin each town's post on its profile (the previous pin is restored on retraction).
    pin: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    updated_by: Mapped[str] = mapped_column(sa.String(255))
    updated_at: Mapped[datetime]
