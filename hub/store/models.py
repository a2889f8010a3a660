"""Tables. Every change here needs an Alembic revision (a test compares the two).

Time stamps have no default: the repositories set each one from the hub's clock, so a test that moves the clock
sees it in the rows, and an insert that forgets one fails at once instead of taking the wall clock's time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on SQLite (which keeps no zone) as on PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: sa.JSON(),
        list[Any]: sa.JSON(),
    }


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


class AccountRow(Base):
    __tablename__ = "accounts"
    __table_args__ = (sa.UniqueConstraint("town_id", "platform"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    town_id: Mapped[int] = mapped_column(sa.ForeignKey("towns.id", ondelete="CASCADE"))
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
    #: What ``secret`` holds: ``app_password``, ``access_token`` (pasted) or ``oauth`` (issued to our app).
    credential: Mapped[str] = mapped_column(sa.String(16), default="app_password", server_default="app_password")
    #: The app that issued an OAuth token (to revoke it with that app's credentials).
    oauth_app_id: Mapped[int | None] = mapped_column(sa.ForeignKey("oauth_apps.id", ondelete="SET NULL"))

    def __repr__(self) -> str:  # never show the encrypted columns either
        return f"AccountRow(id={self.id}, town_id={self.town_id}, platform={self.platform})"


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
    published_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


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


class CoalitionAccountRow(Base):
    """A coalition's own account on one network (its association's, its coordinators'), which amplifies the
    towns' posts and holds the starter pack; linked and kept encrypted like a town's."""

    __tablename__ = "coalition_accounts"
    __table_args__ = (sa.UniqueConstraint("coalition_id", "platform"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    coalition_id: Mapped[int] = mapped_column(sa.ForeignKey("coalitions.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(sa.String(16))
    identifier: Mapped[str] = mapped_column(sa.String(255))
    server: Mapped[str] = mapped_column(sa.String(255))
    secret: Mapped[bytes] = mapped_column(sa.LargeBinary)
    session: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    limits: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_verified_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    linked_by: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    def __repr__(self) -> str:  # never show the encrypted columns either
        return f"CoalitionAccountRow(id={self.id}, coalition_id={self.coalition_id}, platform={self.platform})"


class ReachRoundRow(Base):
    """One planned reading of an announcement's post counts (the day after, a week after…)."""

    __tablename__ = "reach_rounds"
    __table_args__ = (sa.UniqueConstraint("announcement_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    announcement_id: Mapped[int] = mapped_column(sa.ForeignKey("announcements.id", ondelete="CASCADE"))
    number: Mapped[int]
    #: When to read; a failed reading moves it later (a failure only delays the report).
    due_at: Mapped[datetime] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    read_at: Mapped[datetime | None]
    #: When a front end told the room (None: still to tell, once read).
    told_at: Mapped[datetime | None]


class PostCountRow(Base):
    """What one post's counts were at one reading (a snapshot; ``deleted`` when the post was gone)."""

    __tablename__ = "post_counts"
    __table_args__ = (sa.UniqueConstraint("delivery_id", "round_number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(sa.ForeignKey("deliveries.id", ondelete="CASCADE"))
    round_number: Mapped[int]
    taken_at: Mapped[datetime]
    likes: Mapped[int] = mapped_column(default=0)
    reposts: Mapped[int] = mapped_column(default=0)
    replies: Mapped[int] = mapped_column(default=0)
    quotes: Mapped[int] = mapped_column(default=0)
    deleted: Mapped[bool] = mapped_column(default=False)


class StarterPackRow(Base):
    """One of a coalition's Bluesky starter packs (a reference list of its towns' accounts and the pack that
    points to it), on the coalition's own account. The record keys are chosen and kept before the first write,
    so a write repeated after a crash rewrites the same records instead of making others."""

    __tablename__ = "starter_packs"
    __table_args__ = (sa.UniqueConstraint("coalition_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    coalition_id: Mapped[int] = mapped_column(sa.ForeignKey("coalitions.id", ondelete="CASCADE"))
    number: Mapped[int]
    list_rkey: Mapped[str] = mapped_column(sa.String(16))
    pack_rkey: Mapped[str] = mapped_column(sa.String(16))
    #: The account's DID and handle when last written (for the pack's at-uri and its web address).
    did: Mapped[str | None] = mapped_column(sa.String(255))
    handle: Mapped[str | None] = mapped_column(sa.String(255))
    #: The SHA-256 of the members' handles the pack was last brought up to date with.
    members_hash: Mapped[str | None] = mapped_column(sa.String(64))
    label: Mapped[str | None] = mapped_column(sa.String(120))
    synced_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class RepostRow(Base):
    """The coalition's own account reposting (boosting) one town's post, once. Its Bluesky record key is stored
    before the request that uses it, so a retry after a crash finds the repost instead of making another."""

    __tablename__ = "reposts"
    __table_args__ = (sa.UniqueConstraint("delivery_id", "coalition_account_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    announcement_id: Mapped[int] = mapped_column(sa.ForeignKey("announcements.id", ondelete="CASCADE"), index=True)
    delivery_id: Mapped[int] = mapped_column(sa.ForeignKey("deliveries.id", ondelete="CASCADE"))
    coalition_account_id: Mapped[int] = mapped_column(sa.ForeignKey("coalition_accounts.id", ondelete="CASCADE"))
    #: pending → done (→ undoing → undone on retraction); failed when the network refuses for good.
    state: Mapped[str] = mapped_column(sa.String(16))
    #: When to send it: spaced so that the account stays within its network's posting limits.
    due_at: Mapped[datetime] = mapped_column(index=True)
    remote_key: Mapped[str | None] = mapped_column(sa.String(64))
    remote_id: Mapped[str | None] = mapped_column(sa.String(512))
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    done_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class RepostRequestRow(Base):
    """A coordinator asked the coalition's accounts to repost an announcement's posts, in this order."""

    __tablename__ = "repost_requests"
    announcement_id: Mapped[int] = mapped_column(
        sa.ForeignKey("announcements.id", ondelete="CASCADE"), primary_key=True
    )
    requested_by: Mapped[str] = mapped_column(sa.String(255))
    #: Town ids in the order asked for (largest population first unless the coordinator gave a list).
    order: Mapped[list[Any]] = mapped_column(default=list)
    planned_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
