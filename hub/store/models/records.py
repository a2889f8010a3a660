"""What the front ends and the audit keep: the audit log, messages, answers, preferences, links, events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.store.models.base import Base


class AuditRow(Base):
    """Append-only: rows are inserted, never updated or deleted (but for GDPR pseudonymisation)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(sa.String(255))
    action: Mapped[str] = mapped_column(sa.String(64))
    coalition_id: Mapped[int | None]
    announcement_id: Mapped[int | None]
    town_id: Mapped[int | None]
    version_number: Mapped[int | None]
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AnnouncementMessageRow(Base):
    """A front end's message about an announcement (a card to keep current, a reaction, a reminder sent),
    so that it can be found again after a restart. The hub does not interpret ``channel`` or ``message_id``."""

    __tablename__ = "announcement_messages"
    __table_args__ = (sa.UniqueConstraint("message_id", "purpose"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    announcement_id: Mapped[int] = mapped_column(sa.ForeignKey("announcements.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(sa.String(255))
    message_id: Mapped[str] = mapped_column(sa.String(255))
    purpose: Mapped[str] = mapped_column(sa.String(64))
    author: Mapped[str | None] = mapped_column(sa.String(255))
    town_id: Mapped[int | None]
    #: The image a message carries (the ``media`` row of its bytes), e.g. one waiting for its alt text.
    media_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime]


class PendingAnswerRow(Base):
    """A front end's answer to an event, kept until it is delivered (a crash before that sends it after)."""

    __tablename__ = "pending_answers"
    event_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(255))
    transaction_id: Mapped[str] = mapped_column(sa.String(64))
    content: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class UserPreferenceRow(Base):
    """What one person chose for themselves (the language the bot answers them in), by their Matrix id."""

    __tablename__ = "user_preferences"
    user_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    language: Mapped[str] = mapped_column(sa.String(8))
    updated_at: Mapped[datetime]


class StatusLinkRow(Base):
    """A coordinators' link to an announcement's status page; only the SHA-256 of its token is kept."""

    __tablename__ = "status_links"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    announcement_id: Mapped[int] = mapped_column(sa.ForeignKey("announcements.id", ondelete="CASCADE"), index=True)
    created_by: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class ProcessedEventRow(Base):
    __tablename__ = "processed_events"
    event_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    processed_at: Mapped[datetime]
