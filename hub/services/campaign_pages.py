"""What the web pages show: the coordinators' table of an announcement, its public page, a coalition's list.

Each page is read in one transaction with a few statements, whatever the number of towns (a coalition may
hold 1,600). Only what the room can see is read: no secret, no account token, no officer list.
"""

from __future__ import annotations

import string
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from hub.domain.model import (
    Announcement,
    AnnouncementState,
    Coalition,
    DeliveryState,
    Platform,
    SignOn,
    SignOnState,
    Town,
)
from hub.services.context import ServiceContext
from hub.store import UnitOfWork
from hub.store.repositories.pages import LinkedAccount, Post

_A = AnnouncementState
#: Announcements anyone may read: their posts are (being) published.
PUBLISHED = frozenset({_A.PUBLISHING, _A.PUBLISHED, _A.PARTIALLY_FAILED})
#: Announcements in a coalition's feed: their publication is over.
IN_FEED = frozenset({_A.PUBLISHED, _A.PARTIALLY_FAILED})
#: Announcements never shown publicly, even when a coordinator had opened their page early.
WITHDRAWN = frozenset({_A.CANCELLED, _A.RETRACTING, _A.RETRACTED})


def is_public(announcement: Announcement, public_since: datetime | None) -> bool:
    """Published, or opened early by a coordinator, and not withdrawn since."""
    if announcement.state in WITHDRAWN:
        return False
    return announcement.state in PUBLISHED or public_since is not None


def readable(template: str) -> str:
    """A wording as people read it on the page: ``{ville} quitte X`` → ``[ville] quitte X``."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError:  # stored wordings were checked; an old one that is not a template shows as it is
        return template
    return "".join(literal + (f"[{name}]" if name is not None else "") for literal, name, _spec, _conv in parts)


@dataclass(frozen=True, slots=True)
class TownLine:
    """One row of the coordinators' table: a member town, its sign-on, its accounts and its posts."""

    signon: SignOn
    accounts: list[LinkedAccount] = field(default_factory=list)
    posts: list[Post] = field(default_factory=list)

    @property
    def town(self) -> Town:
        return self.signon.town

    @property
    def troubled(self) -> bool:
        """An account failed its last check, a pre-flight found a problem, or a post failed."""
        return any(a.failing for a in self.accounts) or any(
            p.state is DeliveryState.FAILED or p.preflight_error is not None for p in self.posts
        )


@dataclass(frozen=True, slots=True)
class StatusPage:
    """The coordinators' view of an announcement: every member town, in the members' order (by name)."""

    announcement: Announcement
    coalition: Coalition
    lines: list[TownLine]
    #: Whether the public page answers (published, or opened early).
    public: bool

    @property
    def counts(self) -> dict[SignOnState, int]:
        found = Counter(line.signon.state for line in self.lines)
        return {state: found[state] for state in SignOnState}

    @property
    def post_counts(self) -> dict[DeliveryState, int]:
        found = Counter(post.state for line in self.lines for post in line.posts)
        return {state: found[state] for state in DeliveryState if found[state]}

    @property
    def troubled(self) -> int:
        return sum(1 for line in self.lines if line.troubled)


@dataclass(frozen=True, slots=True)
class Signatory:
    """A town that signed, with the links of its published posts."""

    town: Town
    signed_at: datetime | None
    posts: list[Post]


@dataclass(frozen=True, slots=True)
class PublicPage:
    announcement: Announcement
    coalition: Coalition
    signatories: list[Signatory]
    members: int

    @property
    def published(self) -> bool:
        return self.announcement.state in PUBLISHED

    @property
    def text(self) -> str:
        version = self.announcement.current_version
        return readable(version.wording.text) if version else ""

    @property
    def post_counts(self) -> dict[Platform, int]:
        found = Counter(post.platform for s in self.signatories for post in s.posts)
        return {platform: found[platform] for platform in Platform}


@dataclass(frozen=True, slots=True)
class CoalitionPage:
    coalition: Coalition
    #: Its public announcements, the latest first.
    announcements: list[Announcement]

    @property
    def in_feed(self) -> list[Announcement]:
        return [a for a in self.announcements if a.state in IN_FEED]


class CampaignPages:
    def __init__(self, context: ServiceContext) -> None:
        self.context = context

    async def status(self, announcement_id: int) -> StatusPage | None:
        """The coordinators' table (the caller checked the link); None if the announcement is gone."""
        async with self.context.store.unit() as uow:
            found = await _announcement(uow, announcement_id)
            if found is None:
                return None
            announcement, coalition = found
            signons = await uow.pages.signons(announcement.id, coalition.id)
            accounts = await uow.pages.accounts(coalition.id)
            posts = await uow.pages.posts(announcement.id)
            public = is_public(announcement, await uow.links.public_since(announcement.id))
        lines = [TownLine(s, accounts.get(s.town.id, []), posts.get(s.town.id, [])) for s in signons]
        return StatusPage(announcement, coalition, lines, public)

    async def public(self, coalition_id: int, number: int) -> PublicPage | None:
        """The public page of an announcement; None unless it is public (published or opened early)."""
        async with self.context.store.unit() as uow:
            found = await _announcement(uow, number)
            if found is None or found[1].id != coalition_id:
                return None
            announcement, coalition = found
            if not is_public(announcement, await uow.links.public_since(announcement.id)):
                return None
            signons = await uow.pages.signons(announcement.id, coalition.id)
            posts = await uow.pages.posts(announcement.id)
        signed = [s for s in signons if s.state is SignOnState.SIGNED]
        signatories = [Signatory(s.town, s.at, _published(posts.get(s.town.id, []))) for s in signed]
        return PublicPage(announcement, coalition, signatories, len(signons))

    async def coalition(self, coalition_id: int) -> CoalitionPage | None:
        """A coalition's public announcements; None if it has none (nothing about it is public then)."""
        async with self.context.store.unit() as uow:
            coalition = await uow.coalitions.get(coalition_id)
            if coalition is None:
                return None
            opened = await uow.pages.public_since(coalition.id)
            candidates = await uow.announcements.list(coalition.id)
        shown = [a for a in candidates if is_public(a, opened.get(a.id))]
        if not shown:
            return None
        return CoalitionPage(coalition, sorted(shown, key=_newest_first))


async def _announcement(uow: UnitOfWork, announcement_id: int) -> tuple[Announcement, Coalition] | None:
    announcement = await uow.announcements.get(announcement_id)
    if announcement is None:
        return None
    coalition = await uow.coalitions.get(announcement.coalition_id)
    return (announcement, coalition) if coalition else None


def _published(posts: list[Post]) -> list[Post]:
    return [p for p in posts if p.state is DeliveryState.PUBLISHED and p.url]


def _newest_first(announcement: Announcement) -> tuple[float, int]:
    when = announcement.publish_at or announcement.created_at
    return (-when.timestamp(), -announcement.id)
