"""What the towns' posts achieved: counts read at set times after publication, kept as snapshots, reported.

After an announcement's posts are online (its publication ended), readings are planned at the hours of
``settings.reach_after_hours`` (the day after and a week after by default). :meth:`ReachService.run` — a
low-priority side task of the dispatcher — reads the rounds that are due, keeps every post's counts, and
leaves the round for a front end to tell the room (:meth:`untold`, :meth:`told`). A failed reading moves the
round later: it delays the report and never touches publication.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hub.domain.model import Platform
from hub.domain.reach import TOP_TOWNS, Counts, PostToRead, Round, Snapshot
from hub.errors import NotFound, UnissonError
from hub.publishers.counts import CountReader
from hub.services.context import ServiceContext

#: After a failed reading, the next try waits this long times the failures so far (capped).
RETRY_AFTER = timedelta(minutes=10)
RETRY_CAP = timedelta(hours=6)
#: Towns' tokens tried per Mastodon server before reading anonymously (one usually suffices).
TOKENS_PER_SERVER = 3


@dataclass(frozen=True, slots=True)
class TownReach:
    town_id: int
    town: str
    counts: Counts


@dataclass(frozen=True, slots=True)
class ReachReport:
    """One reading of an announcement's posts, summed."""

    announcement_id: int
    title: str
    round_number: int
    read_at: datetime | None
    totals: dict[Platform, Counts]
    posts: dict[Platform, int]
    deleted: int
    top: list[TownReach]
    snapshots: list[Snapshot] = field(default_factory=list)
    towns: dict[int, str] = field(default_factory=dict)

    @property
    def total(self) -> Counts:
        return sum(self.totals.values(), Counts())


class ReachService:
    def __init__(self, context: ServiceContext, reader: CountReader | None = None) -> None:
        self.context = context
        self.reader = reader or CountReader(
            context.settings.bluesky_appview_url, timeout=context.settings.publish_timeout
        )

    async def run(self) -> int:
        """Plans the readings of newly published announcements, then reads the due rounds; returns how many."""
        await self.plan_new()
        async with self.context.store.unit() as uow:
            due = await uow.reach.due(self.context.clock())
        read = 0
        for round_ in due:
            read += await self._read(round_)
        return read

    async def plan_new(self) -> None:
        hours = sorted(self.context.settings.reach_after_hours)
        async with self.context.store.unit() as uow:
            for announcement_id, ended in await uow.reach.unplanned():
                await uow.reach.plan(announcement_id, [ended + timedelta(hours=h) for h in hours])

    async def _read(self, round_: Round) -> int:
        async with self.context.store.unit() as uow:
            posts = await uow.reach.posts(round_.announcement_id)
        try:
            snapshots = await self.read_posts(posts)
        except UnissonError:
            delay = min(RETRY_CAP, RETRY_AFTER * (round_.attempts + 1))
            async with self.context.store.unit() as uow:
                await uow.reach.postpone(round_.id, self.context.clock() + delay)
            return 0
        async with self.context.store.unit() as uow:
            await uow.reach.record(round_, snapshots)
        return 1

    async def read_posts(self, posts: Sequence[PostToRead]) -> list[Snapshot]:
        """Every post's counts, read in batches (Bluesky at once, Mastodon server by server)."""
        counts: dict[int, Counts] = {}
        bluesky = [p for p in posts if p.platform is Platform.BLUESKY]
        by_uri = await self.reader.bluesky([p.remote_id for p in bluesky]) if bluesky else {}
        counts.update({p.delivery_id: by_uri[p.remote_id] for p in bluesky})
        servers: dict[str, list[PostToRead]] = defaultdict(list)
        for post in posts:
            if post.platform is Platform.MASTODON:
                servers[post.server].append(post)
        for server, group in servers.items():
            tokens = await self._tokens(group)
            by_id = await self.reader.mastodon(server, [p.remote_id for p in group], tokens)
            counts.update({p.delivery_id: by_id[p.remote_id] for p in group})
        return [Snapshot(p.delivery_id, p.town_id, p.platform, counts[p.delivery_id]) for p in posts]

    async def _tokens(self, posts: Sequence[PostToRead]) -> list[str]:
        """Tokens of a few of the towns' accounts on one server, to read its statuses as a signed-in user (an
        account unlinked since is skipped; with none, the counts are read anonymously)."""
        account_ids = list(dict.fromkeys(p.account_id for p in posts))[:TOKENS_PER_SERVER]
        async with self.context.store.unit() as uow:
            stored = [await uow.accounts.secrets(account_id) for account_id in account_ids]
        return [self.context.box.decrypt(s.secret) for s in stored if s is not None]

    async def report(self, announcement_id: int, number: int | None = None) -> ReachReport:
        """The report of one reading (the latest read by default)."""
        async with self.context.store.unit() as uow:
            announcement = await uow.announcements.get(announcement_id)
            if announcement is None:
                raise NotFound("error.announcement.unknown", id=str(announcement_id))
            read = [r for r in await uow.reach.rounds(announcement_id) if r.read_at is not None]
            chosen = [r for r in read if number is None or r.number == number]
            if not chosen:
                raise NotFound("error.reach.not_read", id=str(announcement_id))
            round_ = chosen[-1]
            snapshots = await uow.reach.snapshots(announcement_id, round_.number)
            towns = {t.id: t.name for t in await uow.towns.list()}
        return summarise(announcement_id, announcement.title, round_, snapshots, towns)

    async def latest_totals(self, announcement_id: int) -> ReachReport | None:
        """The latest report, or None before the first reading (for the public page)."""
        try:
            return await self.report(announcement_id)
        except NotFound:
            return None

    async def untold(self) -> list[tuple[Round, int]]:
        """Readings done but not told yet, with their coalition."""
        async with self.context.store.unit() as uow:
            return await uow.reach.untold()

    async def told(self, round_id: int) -> None:
        async with self.context.store.unit() as uow:
            await uow.reach.mark_told(round_id)

    async def close(self) -> None:
        await self.reader.close()


def summarise(
    announcement_id: int, title: str, round_: Round, snapshots: list[Snapshot], towns: dict[int, str]
) -> ReachReport:
    """Totals per network, the posts counted, the deleted ones, and the towns with the most reach."""
    totals: dict[Platform, Counts] = {}
    posts: dict[Platform, int] = {}
    by_town: dict[int, Counts] = {}
    for shot in snapshots:
        posts[shot.platform] = posts.get(shot.platform, 0) + 1
        totals[shot.platform] = totals.get(shot.platform, Counts()) + shot.counts
        by_town[shot.town_id] = by_town.get(shot.town_id, Counts()) + shot.counts
    ranked = sorted(by_town.items(), key=lambda item: (-item[1].reach, towns.get(item[0], "")))
    top = [TownReach(t, towns.get(t, f"#{t}"), c) for t, c in ranked[:TOP_TOWNS] if c.reach > 0]
    deleted = sum(1 for s in snapshots if s.counts.deleted)
    return ReachReport(
        announcement_id, title, round_.number, round_.read_at, totals, posts, deleted, top, snapshots, towns
    )
