"""The publication's rules around the outbox: what a lock puts in it (:func:`frozen_deliveries`), when an
announcement starts, is held, finishes or is retracted.

The worker (:mod:`hub.dispatch.worker`) calls the ``*_due`` steps; coordinators call :meth:`confirm_late`,
:meth:`retract_preview` and :meth:`retract`; front ends read :meth:`reports`, :meth:`progress` and
:meth:`outcomes` to tell the room.
"""

from __future__ import annotations

import builtins
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.domain import lifecycle, permissions
from hub.domain.lifecycle import Action
from hub.domain.model import (
    Account,
    Announcement,
    AnnouncementState,
    Delivery,
    DeliveryKind,
    DeliveryState,
    Progress,
    Report,
    ReportKind,
    SignOn,
    ThreadRules,
    Town,
)
from hub.domain.wording import current_wording
from hub.errors import UnissonError
from hub.services.context import ServiceContext
from hub.services.editing import get_announcement, record_decision
from hub.store import UnitOfWork
from hub.store.repositories import NewDelivery
from hub.text.followup import followup_texts
from hub.text.renderings import renderings, too_long

#: The dispatcher's name in the audit log.
DISPATCHER = "system:dispatcher"


@dataclass(frozen=True, slots=True)
class Outcome:
    """One town's post on one network, for the recap."""

    town: Town
    delivery: Delivery
    #: Its follow-up in thread, if the announcement has one.
    followup: Delivery | None = None
    #: Pinning it on the town's profile, if the announcement asks for it.
    pin: Delivery | None = None


@dataclass(frozen=True, slots=True)
class RetractPreview:
    announcement: Announcement
    posts: int
    towns: int


class DispatchService:
    def __init__(self, context: ServiceContext) -> None:
        self.context = context

    # --- steps of the worker -----------------------------------------------------------------------------

    async def start_due(self, now: datetime) -> builtins.list[int]:
        """Starts the publications whose instant has come; holds those too late to start silently.

        Returns the ids of the announcements that started."""
        window = timedelta(minutes=self.context.settings.late_window_minutes)
        started: list[int] = []
        async with self.context.store.unit() as uow:
            for candidate in await uow.announcements.list(states=[AnnouncementState.LOCKED]):
                if candidate.publish_at is None or candidate.publish_at > now:
                    continue
                announcement = await uow.announcements.get(candidate.id, for_update=True)
                if announcement is None or announcement.state is not AnnouncementState.LOCKED:
                    continue  # another worker got there first
                if now - candidate.publish_at > window:
                    await self._hold(uow, announcement)
                else:
                    await self._transition(uow, announcement, Action.START_PUBLISHING, ReportKind.PUBLISHING)
                    started.append(announcement.id)
        return started

    async def hold_stalled(self, now: datetime) -> builtins.list[int]:
        """Holds publications whose posts have waited, never tried, past the late window (an outage)."""
        cutoff = now - timedelta(minutes=self.context.settings.late_window_minutes)
        held: list[int] = []
        async with self.context.store.unit() as uow:
            for announcement in await uow.announcements.list(states=[AnnouncementState.PUBLISHING]):
                if announcement.publish_at is None or announcement.publish_at >= cutoff:
                    continue
                if not await uow.outbox.untried(announcement.id):
                    continue
                locked = await uow.announcements.get(announcement.id, for_update=True)
                if locked is not None and locked.state is AnnouncementState.PUBLISHING:
                    await self._hold(uow, locked)
                    held.append(locked.id)
        return held

    async def finish_done(self) -> builtins.list[int]:
        """Closes the publications and retractions that have nothing left to do; returns their ids."""
        finished: list[int] = []
        async with self.context.store.unit() as uow:
            states = [AnnouncementState.PUBLISHING, AnnouncementState.RETRACTING]
            for candidate in await uow.announcements.list(states=states):
                progress = await uow.outbox.progress(candidate.id)
                if progress.waiting:
                    continue
                announcement = await uow.announcements.get(candidate.id, for_update=True)
                if announcement is None or announcement.state is not candidate.state:
                    continue
                if announcement.state is AnnouncementState.RETRACTING:
                    await self._transition(uow, announcement, Action.FINISH_RETRACT, ReportKind.RETRACTED)
                else:
                    action = Action.FINISH_PARTIAL if progress.failed else Action.FINISH_PUBLISHED
                    await self._transition(uow, announcement, action, ReportKind.PUBLISHED)
                finished.append(announcement.id)
        return finished

    async def next_instant(self) -> datetime | None:
        """The next moment something falls due: an announcement's instant or a delivery's next try."""
        async with self.context.store.unit() as uow:
            instants = [a.publish_at for a in await uow.announcements.list(states=[AnnouncementState.LOCKED])]
            instants.append(await uow.outbox.next_due())
        known = [moment for moment in instants if moment is not None]
        return min(known) if known else None

    # --- coordinators ------------------------------------------------------------------------------------

    async def confirm_late(self, actor_id: str, announcement_id: int) -> Announcement:
        """Publishes now an announcement held after an outage; its instant becomes now."""
        now = self.context.clock()
        async with self.context.store.unit() as uow:
            announcement = await self._coordinated(uow, actor_id, announcement_id)
            state = lifecycle.apply(Action.CONFIRM_LATE, announcement.state)
            await uow.announcements.update(announcement.id, state=state, publish_at=now)
            await uow.outbox.reschedule(announcement.id, now)
            await self._audit(uow, actor_id, announcement, Action.CONFIRM_LATE, state)
            await uow.reports.add(ReportKind.PUBLISHING, announcement.coalition_id, announcement.id)
            return await get_announcement(uow, announcement.id)

    async def retract_preview(self, actor_id: str, announcement_id: int) -> RetractPreview:
        """What :meth:`retract` would delete (the coordinator confirms after reading it)."""
        async with self.context.store.unit() as uow:
            announcement = await self._coordinated(uow, actor_id, announcement_id)
            lifecycle.apply(Action.RETRACT, announcement.state)
            posts = [d for d in await uow.deliveries.list(announcement.id) if _published_post(d)]
            return RetractPreview(announcement, len(posts), len({d.town_id for d in posts}))

    async def retract(self, actor_id: str, announcement_id: int) -> RetractPreview:
        """Deletes every post of a published announcement (the worker does it, reported like a publication)."""
        now = self.context.clock()
        async with self.context.store.unit() as uow:
            announcement = await self._coordinated(uow, actor_id, announcement_id)
            state = lifecycle.apply(Action.RETRACT, announcement.state)
            deliveries = await uow.deliveries.list(announcement.id)
            towns = {d.town_id for d in deliveries if _published_post(d)}
            posts = await uow.outbox.start_retracting(announcement.id, now)
            await uow.announcements.update(announcement.id, state=state)
            await self._audit(uow, actor_id, announcement, Action.RETRACT, state, posts=posts)
            await uow.reports.add(ReportKind.RETRACTING, announcement.coalition_id, announcement.id)
            return RetractPreview(await get_announcement(uow, announcement.id), posts, len(towns))

    # --- front ends ----------------------------------------------------------------------------------------

    async def reports(self, limit: int = 100) -> builtins.list[Report]:
        """What the room has not been told yet, oldest first."""
        async with self.context.store.unit() as uow:
            return await uow.reports.unsent(limit)

    async def reported(self, report_ids: builtins.list[int]) -> None:
        async with self.context.store.unit() as uow:
            await uow.reports.mark_sent(report_ids, self.context.clock())

    async def progress(self, announcement_id: int) -> Progress:
        async with self.context.store.unit() as uow:
            return await uow.outbox.progress(announcement_id)

    async def prestaged(self, announcement_id: int) -> int:
        """How many of the announcement's posts not yet recorded were handed to their servers ahead (pre-staged
        on Mastodon): once the instant passed, their servers published them, whatever the hub did."""
        async with self.context.store.unit() as uow:
            return await uow.deliveries.prestaged(announcement_id)

    async def outcomes(self, announcement_id: int) -> builtins.list[Outcome]:
        """Every town's post of an announcement with its town, its follow-up and its pin, by town then network."""
        async with self.context.store.unit() as uow:
            announcement = await get_announcement(uow, announcement_id)
            towns = {t.id: t for t in await uow.towns.list(announcement.coalition_id)}
            deliveries = await uow.deliveries.list(announcement.id)
        followups = {d.parent_id: d for d in deliveries if d.kind is DeliveryKind.FOLLOWUP}
        pins = {d.parent_id: d for d in deliveries if d.kind is DeliveryKind.PIN}
        posts = [d for d in deliveries if d.parent_id is None and d.town_id in towns]
        return [Outcome(towns[d.town_id], d, followups.get(d.id), pins.get(d.id)) for d in posts]

    # --- inside ----------------------------------------------------------------------------------------

    async def _hold(self, uow: UnitOfWork, announcement: Announcement) -> None:
        await self._transition(uow, announcement, Action.HOLD, ReportKind.OVERDUE)

    async def _transition(
        self, uow: UnitOfWork, announcement: Announcement, action: Action, report: ReportKind
    ) -> None:
        state = lifecycle.apply(action, announcement.state)
        await uow.announcements.update(announcement.id, state=state)
        await self._audit(uow, DISPATCHER, announcement, action, state)
        await uow.reports.add(report, announcement.coalition_id, announcement.id)

    async def _audit(
        self,
        uow: UnitOfWork,
        actor_id: str,
        announcement: Announcement,
        action: Action,
        state: AnnouncementState,
        **details: object,
    ) -> None:
        changed = {"from": announcement.state.value, "to": state.value, **details}
        await record_decision(uow, actor_id, f"announcement.{action.value}", announcement, details=changed)

    async def _coordinated(self, uow: UnitOfWork, actor_id: str, announcement_id: int) -> Announcement:
        announcement = await get_announcement(uow, announcement_id, for_update=True)
        coalition = await uow.coalitions.get(announcement.coalition_id)
        name = coalition.name if coalition else str(announcement.coalition_id)
        permissions.require_coordinator(await self.context.actor(uow, actor_id), announcement.coalition_id, name)
        return announcement


def _published_post(delivery: Delivery) -> bool:
    return delivery.state is DeliveryState.PUBLISHED and delivery.parent_id is None


def frozen_deliveries(
    announcement: Announcement,
    signed: list[SignOn],
    accounts: dict[int, list[Account]],
    rules: ThreadRules | None = None,
) -> tuple[list[NewDelivery], list[UnissonError], list[UnissonError], list[Town]]:
    """What a lock puts in the outbox: one delivery per signed town and linked account, with its text (and its
    follow-up's, if the announcement has one) rendered now, and its pin if the rules ask for one; and what stops
    the lock (texts that fail to render or to fit) or is worth a warning (signed towns that have linked no
    account)."""
    rules = rules or ThreadRules()
    wording, version = current_wording(announcement), announcement.current_version
    assert announcement.publish_at is not None and version is not None
    deliveries: list[NewDelivery] = []
    missing: list[UnissonError] = []
    over: list[UnissonError] = []
    without: list[Town] = []
    for signon in signed:
        linked = accounts.get(signon.town.id, [])
        if not linked:
            without.append(signon.town)
            continue
        override = signon.override_text if announcement.allow_overrides else None
        texts, unrendered = renderings(signon.town, override, wording, linked)
        followups, followup_unrendered, followup_over = followup_texts(signon.town, rules.followup, linked)
        missing += unrendered + followup_unrendered
        over += too_long(signon.town, texts) + followup_over
        by_platform = {a.platform: a for a in linked}
        for platform, _, text in texts:
            account = by_platform[platform]
            key, instant = uuid.uuid4().hex, announcement.publish_at
            thread = (followups[platform], uuid.uuid4().hex) if platform in followups else None
            pin = uuid.uuid4().hex if rules.pin else None
            deliveries.append(
                NewDelivery(signon.town.id, account.id, platform, version.number, text, key, instant, thread, pin)
            )
    return deliveries, missing, over, without
