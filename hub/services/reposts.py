"""The coalition's own accounts repost every member's post (Bluesky repost, Mastodon boost), exactly once each.

A coordinator asks for it per announcement (``!relayer N``), before or after the instant. Once the posts are
online, one repost per post and coalition account is planned, in the order asked (the coordinator's list of
towns first, then the largest towns first) and spaced so that each account stays within its network's limits:
Mastodon counts boosts with the account's posts, 300 per 3 hours, so past :data:`MASTODON_BUDGET` boosts they
are spread over the windows. The spacing is stored (each repost's ``due_at``), so a restart keeps the pace.

A repost is sent by the dispatcher's low-priority side task; its Bluesky rkey is stored before the request, and
Mastodon answers a repeated boost with the first one, so a crash at any point makes no second repost. When the
announcement is retracted, the reposts made are undone and those not made yet are dropped.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub import reference
from hub.domain.model import Account, Platform, Town
from hub.domain.reach import LONG_REPOSTS, repost_news_due, repost_stage
from hub.errors import InvalidInput, NotFound
from hub.publishers.base import PermanentPublishError, TransientPublishError
from hub.publishers.bluesky import BlueskyPublisher, new_tid
from hub.publishers.reposting import BlueskyReposts, MastodonReposts
from hub.services.coalition_accounts import CoalitionAccountService
from hub.services.coalitions import coordinated
from hub.services.context import ServiceContext
from hub.store.repositories import Repost
from hub.store.repositories.reposts import DONE, FAILED, UNDOING, UNDONE

#: Boosts a coalition account makes per window of :data:`MASTODON_WINDOW`, leaving room for its own posts.
MASTODON_BUDGET = 250
MASTODON_WINDOW = timedelta(hours=3)
#: Spacing when the whole plan fits in one window (and on Bluesky: 5,000 points an hour, 3 per record).
SPACING = {Platform.BLUESKY: timedelta(seconds=1), Platform.MASTODON: timedelta(seconds=2)}
#: After a failure without a date from the server, the next try waits this long times the failures so far.
RETRY_AFTER = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class RepostPlan:
    """What a request will do: reposts per network, and when the last one is due (None before the instant)."""

    counts: dict[Platform, int]
    ends_at: datetime | None
    progress: dict[str, int]
    #: When the first repost is due (None before the instant).
    starts_at: datetime | None = None

    @property
    def total(self) -> int:
        return sum(self.progress.values())

    @property
    def finished(self) -> int:
        """Reposts made or refused for good."""
        return self.progress.get(DONE, 0) + self.progress.get(FAILED, 0)


@dataclass(frozen=True, slots=True)
class RepostNews:
    """Something to tell the room of a request: the ``stage`` it reached (see :func:`repost_stage`)."""

    announcement_id: int
    coalition_id: int
    stage: str
    plan: RepostPlan


class RepostService:
    def __init__(self, context: ServiceContext, accounts: CoalitionAccountService) -> None:
        self.context = context
        self.accounts = accounts
        self._mastodon = MastodonReposts(accounts.gateway.secret, timeout=context.settings.publish_timeout)

    async def ask(self, actor_id: str, announcement_id: int, first: list[str] | None = None) -> RepostPlan:
        """Records a coordinator's request; ``first`` names towns to repost before the others."""
        async with self.context.store.unit() as uow:
            announcement = await uow.announcements.get(announcement_id)
            if announcement is None:
                raise NotFound("error.announcement.unknown", id=str(announcement_id))
            coalition = await coordinated(self.context, uow, actor_id, announcement.coalition_id)
            if not await uow.coalition_accounts.of_coalition(coalition.id):
                raise InvalidInput("error.repost.no_account", coalition=coalition.name)
            towns = await uow.towns.list(coalition.id)
            order = await asyncio.to_thread(_order, towns, first or [])
            await uow.reposts.ask(announcement_id, actor_id, order)
            await uow.audit.append(actor_id, "repost.ask", coalition_id=coalition.id, announcement_id=announcement_id)
        await self.plan_new()
        return await self.plan(announcement_id)

    async def plan(self, announcement_id: int) -> RepostPlan:
        async with self.context.store.unit() as uow:
            announcement = await uow.announcements.get(announcement_id)
            if announcement is None:
                raise NotFound("error.announcement.unknown", id=str(announcement_id))
            accounts = await uow.coalition_accounts.of_coalition(announcement.coalition_id)
            posts = await uow.reposts.posts(announcement_id)
            progress = await uow.reposts.progress(announcement_id)
            starts, ends = await uow.reposts.span(announcement_id)
        networks = {a.platform for a in accounts}
        counts = {p: sum(1 for _, _, q in posts if q is p) for p in networks}
        return RepostPlan(counts, ends, progress, starts)

    async def news(self) -> list[RepostNews]:
        """The requests that reached a stage the room was not told yet (at most five messages per request).

        Asked every second by the bot: a request under way costs two small queries, the full plan is read only
        when there is something to tell."""
        async with self.context.store.unit() as uow:
            telling = await uow.reposts.telling()
        found = []
        for announcement_id, coalition_id, told in telling:
            async with self.context.store.unit() as uow:
                starts, ends = await uow.reposts.span(announcement_id)
                progress = await uow.reposts.progress(announcement_id)
            stage = _stage(RepostPlan({}, ends, progress, starts))
            if repost_news_due(told, stage):
                found.append(RepostNews(announcement_id, coalition_id, stage, await self.plan(announcement_id)))
        return found

    async def news_told(self, announcement_id: int, stage: str) -> None:
        async with self.context.store.unit() as uow:
            await uow.reposts.told(announcement_id, stage)

    async def run(self) -> int:
        """Undoes what a retraction withdrew, plans new requests, sends the reposts due; returns how many sent."""
        async with self.context.store.unit() as uow:
            await uow.reposts.withdraw(self.context.clock())
        await self.plan_new()
        sent = 0
        while due := await self._due():
            for repost in due:
                sent += await self._send(repost)
        return sent

    async def plan_new(self) -> None:
        async with self.context.store.unit() as uow:
            for announcement_id, coalition_id, order in await uow.reposts.unplanned():
                accounts = await uow.coalition_accounts.of_coalition(coalition_id)
                posts = await uow.reposts.posts(announcement_id)
                rank = {town: n for n, town in enumerate(order)}
                posts.sort(key=lambda p: (rank.get(p[1], len(rank)), p[0]))
                planned = []
                for account in accounts:
                    mine = [p for p in posts if p[2] is account.platform]
                    times = _times(self.context.clock(), account.platform, len(mine))
                    planned += [(d, account.id, when) for (d, _, _), when in zip(mine, times, strict=True)]
                await uow.reposts.plan(announcement_id, planned)

    async def _due(self) -> list[Repost]:
        async with self.context.store.unit() as uow:
            return await uow.reposts.due(self.context.clock())

    async def _send(self, repost: Repost) -> int:
        async with self.context.store.unit() as uow:
            found = await uow.coalition_accounts.get(repost.account_id)
        if found is None:
            return 0
        account = found.as_account()
        try:
            if repost.state == UNDOING:
                await self._undo(repost, account)
                await self._finish(repost, UNDONE)
                return 0
            await self._finish(repost, DONE, await self._repost(repost, account))
            return 1
        except TransientPublishError as error:
            when = error.retry_at or self.context.clock() + RETRY_AFTER * (repost.attempts + 1)
            async with self.context.store.unit() as uow:
                await uow.reposts.later(repost.id, when, error.message("fr"))
        except PermanentPublishError as error:
            await self._finish(repost, FAILED, error=error.message("fr"))
        return 0

    async def _repost(self, repost: Repost, account: Account) -> str:
        if repost.platform is Platform.BLUESKY:
            async with self.context.store.unit() as uow:
                rkey = await uow.reposts.keep_first_key(repost.id, new_tid())
            return await self._bluesky().repost(account, rkey, repost.target_id)
        return await self._mastodon.repost(account, repost.target_id, repost.target_url, repost.target_server)

    async def _undo(self, repost: Repost, account: Account) -> None:
        if repost.platform is Platform.BLUESKY and repost.remote_key:
            await self._bluesky().undo(account, repost.remote_key)
        elif repost.platform is Platform.MASTODON and repost.remote_id:
            await self._mastodon.undo(account, repost.remote_id)

    async def _finish(self, repost: Repost, state: str, remote_id: str | None = None, error: str | None = None) -> None:
        async with self.context.store.unit() as uow:
            await uow.reposts.finish(repost.id, state, remote_id, error)

    def _bluesky(self) -> BlueskyReposts:
        publisher = self.accounts.publisher(Platform.BLUESKY)
        if not isinstance(publisher, BlueskyPublisher):
            raise TypeError("the coalition's Bluesky publisher cannot repost")
        return BlueskyReposts(publisher)

    async def close(self) -> None:
        await self._mastodon.close()


def _stage(plan: RepostPlan) -> str:
    """How far a planned request is, as the room is told (see :func:`repost_stage`)."""
    start, end = plan.starts_at, plan.ends_at
    long = start is not None and end is not None and end - start >= LONG_REPOSTS
    stopped = bool(plan.progress.get(UNDOING) or plan.progress.get(UNDONE))
    finished = plan.finished == plan.total
    return repost_stage(plan.finished, plan.total, finished=finished, stopped=stopped, long=long)


def _times(start: datetime, platform: Platform, count: int) -> list[datetime]:
    """When each of ``count`` reposts is due: evenly spaced, within the network's limits."""
    spacing = SPACING[platform]
    if platform is Platform.MASTODON and count > MASTODON_BUDGET:
        spacing = MASTODON_WINDOW / MASTODON_BUDGET
    return [start + spacing * n for n in range(count)]


def _order(towns: list[Town], first: list[str]) -> list[int]:
    """Town ids: those named in ``first`` (in that order), then the others by population, largest first."""
    named = {t.name.casefold(): t.id for t in towns}
    chosen = [named[n.strip().casefold()] for n in first if n.strip().casefold() in named]

    def population(town: Town) -> int:
        entry = reference.lookup(town.kind, town.code) if town.code else None
        return (entry.population if entry else None) or 0

    rest = sorted((t for t in towns if t.id not in chosen), key=lambda t: (-population(t), t.name))
    return [*chosen, *(t.id for t in rest)]
