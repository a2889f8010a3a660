"""The hub's nouns as plain, immutable values.

The store maps its rows to these types, services take and return them, and the front ends render them.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hub.domain.quorum import Quorum


class TownKind(enum.StrEnum):
    """What kind of member a town is; decides which official code it carries."""

    COMMUNE = "commune"
    EPCI = "epci"
    DEPARTEMENT = "departement"
    REGION = "region"
    OTHER = "other"

    @property
    def has_official_code(self) -> bool:
        return self is not TownKind.OTHER


class Role(enum.StrEnum):
    ADMIN = "admin"
    COORDINATOR = "coordinator"
    OFFICER = "officer"


class Platform(enum.StrEnum):
    BLUESKY = "bluesky"
    MASTODON = "mastodon"


class Credential(enum.StrEnum):
    """What an account's stored secret is; it decides how the account is unlinked (revoked or not)."""

    #: A Bluesky app password (the hub logs in with it once, then keeps the session).
    APP_PASSWORD = "app_password"
    #: A Mastodon access token pasted by an officer (from an app of their own: the hub cannot revoke it).
    ACCESS_TOKEN = "access_token"
    #: A token issued to Unisson's own app by OAuth (revoked at the server when the account is unlinked).
    OAUTH = "oauth"


class AnnouncementState(enum.StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    LOCKED = "locked"
    #: The instant passed while nothing could publish (an outage): the coordinator decides.
    OVERDUE = "overdue"
    PUBLISHING = "publishing"
    PUBLISHED = "published"
    PARTIALLY_FAILED = "partially_failed"
    CANCELLED = "cancelled"
    RETRACTING = "retracting"
    RETRACTED = "retracted"


class SignOnState(enum.StrEnum):
    PENDING = "pending"
    SIGNED = "signed"
    DECLINED = "declined"


class DeliveryState(enum.StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    PUBLISHED = "published"
    FAILED = "failed"
    CANCELLED = "cancelled"
    #: A published post waiting to be deleted (the announcement is being retracted).
    RETRACTING = "retracting"
    RETRACTED = "retracted"


class ReportKind(enum.StrEnum):
    """What the hub tells the room about an announcement's publication."""

    PREFLIGHT_FAILED = "preflight_failed"
    OVERDUE = "overdue"
    PUBLISHING = "publishing"
    DELIVERY_FAILED = "delivery_failed"
    PUBLISHED = "published"
    RETRACTING = "retracting"
    RETRACTED = "retracted"
    #: The quorum was not reached at the sign-on deadline: the coordinators are asked what to do.
    QUORUM_MISSED = "quorum_missed"


#: Profile fields a town may fill and templates may use, with their placeholder aliases.
PROFILE_FIELDS = ("website", "newsletter", "bluesky", "mastodon")


@dataclass(frozen=True, slots=True)
class Coalition:
    id: int
    name: str
    room_id: str
    language: str = "fr"


@dataclass(frozen=True, slots=True)
class Town:
    id: int
    kind: TownKind
    code: str | None
    name: str
    timezone: str = "Europe/Paris"
    profile: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ImageRef:
    """An image of a wording version; the bytes live in the media store under ``sha256``."""

    sha256: str
    alt: str
    mime: str
    width: int
    height: int
    size: int


@dataclass(frozen=True, slots=True)
class Wording:
    """What a version says: the main text, optional per-platform variants, images."""

    text: str
    variants: dict[Platform, str] = field(default_factory=dict)
    images: tuple[ImageRef, ...] = ()

    def for_platform(self, platform: Platform) -> str:
        return self.variants.get(platform) or self.text


@dataclass(frozen=True, slots=True)
class Version:
    id: int
    announcement_id: int
    number: int
    wording: Wording
    content_hash: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Announcement:
    id: int
    coalition_id: int
    title: str
    state: AnnouncementState
    language: str
    allow_overrides: bool
    created_by: str
    created_at: datetime
    current_version: Version | None
    deadline: datetime | None = None
    publish_at: datetime | None = None
    timezone: str = "Europe/Paris"
    #: How many member towns must sign before it may go out (see :mod:`hub.domain.quorum`).
    quorum: Quorum | None = None
    #: When the coordinators were told the quorum was missed at the deadline (cleared by a new date).
    quorum_missed_at: datetime | None = None
    #: Whether its Mastodon posts are handed to their servers ahead of the instant (None: the deployment's
    #: default, the ``mastodon_prestage`` setting).
    prestage: bool | None = None


@dataclass(frozen=True, slots=True)
class SignOn:
    town: Town
    state: SignOnState
    version_number: int | None = None
    by: str | None = None
    at: datetime | None = None
    reason: str | None = None
    override_text: str | None = None
    #: The version a town had signed before a new wording reset its sign-on.
    previous_version_number: int | None = None


@dataclass(frozen=True, slots=True)
class SignOnSummary:
    """Where an announcement's sign-on stands without every member town: enough for a card of any size.

    ``counts`` has every state. The lists hold at most the number asked for: ``signed`` and ``declined``
    the most recent first, ``pending`` in the members' order (by name).
    """

    counts: dict[SignOnState, int]
    declined: list[SignOn]
    signed: list[SignOn]
    pending: list[SignOn]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def complete(self) -> bool:
        """Whether the lists hold every member town."""
        return len(self.declined) + len(self.signed) + len(self.pending) == self.total

    def count(self, state: SignOnState) -> int:
        return self.counts.get(state, 0)

    def everyone(self) -> list[SignOn]:
        """The towns the lists hold, in the members' order (every town when :attr:`complete`)."""
        return sorted([*self.declined, *self.signed, *self.pending], key=lambda s: (s.town.name, s.town.id))

    @classmethod
    def of(cls, signons: Sequence[SignOn], latest: int, everyone_up_to: int = 0) -> SignOnSummary:
        """The summary of every member's sign-on (``signons`` in the members' order): at most ``latest`` towns
        per list, every town when there are no more than ``everyone_up_to``."""
        if len(signons) <= everyone_up_to:
            latest = max(latest, len(signons))
        counts = dict.fromkeys(SignOnState, 0)
        for signon in signons:
            counts[signon.state] += 1

        def recent(state: SignOnState) -> list[SignOn]:
            chosen = [s for s in signons if s.state is state]
            # Ties (decisions recorded within one tick of the clock) go to the higher town id, as the store's
            # query orders them, so that the board and the summary agree.
            return sorted(chosen, key=lambda s: (s.at or _EPOCH, s.town.id), reverse=True)[:latest]

        pending = [s for s in signons if s.state is SignOnState.PENDING][:latest]
        return cls(counts, recent(SignOnState.DECLINED), recent(SignOnState.SIGNED), pending)


_EPOCH = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Account:
    """A town's account on one network; secrets stay in the store, encrypted, and never appear here."""

    id: int
    town_id: int
    platform: Platform
    identifier: str
    server: str
    limits: dict[str, Any] = field(default_factory=dict)
    last_verified_at: datetime | None = None
    last_error: str | None = None
    credential: Credential = Credential.APP_PASSWORD


@dataclass(frozen=True, slots=True)
class ThreadRules:
    """An announcement's rules about each town's post: a follow-up in thread, and whether to pin the post."""

    followup: Wording | None = None
    pin: bool = False


class DeliveryKind(enum.StrEnum):
    """What a delivery does: a town's post, its follow-up (a reply under it), or pinning it on the profile."""

    POST = "post"
    FOLLOWUP = "followup"
    PIN = "pin"


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    announcement_id: int
    town_id: int
    account_id: int | None
    platform: Platform
    text: str
    idempotency_key: str
    state: DeliveryState
    attempts: int = 0
    next_attempt_at: datetime | None = None
    remote_id: str | None = None
    remote_url: str | None = None
    published_at: datetime | None = None
    last_error: str | None = None
    #: Why the delivery failed or its pre-flight did, as a catalog key and its fields (shown in either language).
    error: Failure | None = None
    #: The last pre-flight's problem, if it had one (the post may still go out: the town may fix it in time).
    preflight_error: Failure | None = None
    #: A follow-up's parent: the delivery whose post it answers in thread (None for a main post).
    parent_id: int | None = None
    kind: DeliveryKind = DeliveryKind.POST


@dataclass(frozen=True, slots=True)
class Failure:
    """An error kept for later display: a catalog key and its fields; ``permanent`` when retrying won't help."""

    key: str
    params: dict[str, str] = field(default_factory=dict)
    permanent: bool = True
    reconnect: bool = False


@dataclass(frozen=True, slots=True)
class Report:
    """Something the room must hear about an announcement, kept until a front end has told it."""

    id: int
    kind: ReportKind
    coalition_id: int
    announcement_id: int
    town_id: int | None = None
    platform: Platform | None = None
    problem: Failure | None = None
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a publication (or a retraction) has gone."""

    total: int
    published: int
    failed: int
    waiting: int
    retracted: int = 0

    @property
    def done(self) -> int:
        return self.published + self.failed + self.retracted


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    coalition_id: int | None = None
    announcement_id: int | None = None
    town_id: int | None = None
    version_number: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AnnouncementMessage:
    """A front end's message about an announcement; ``channel`` and ``message_id`` are opaque to the hub."""

    announcement_id: int
    channel: str
    message_id: str
    purpose: str
    author: str | None = None
    town_id: int | None = None
    #: The sha256 of an image the message carries (kept in the media store), e.g. one awaiting its alt text.
    media: str | None = None
