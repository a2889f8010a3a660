"""Joint announcements: proposal, wording versions, sign-on, schedule, preview, lock and cancel."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from hub.domain import lifecycle, permissions
from hub.domain.lifecycle import Action
from hub.domain.model import (
    Announcement,
    AnnouncementMessage,
    AnnouncementState,
    Coalition,
    Platform,
    SignOn,
    SignOnState,
    SignOnSummary,
    Town,
    Version,
    Wording,
)
from hub.domain.quorum import parse_quorum, require_quorum
from hub.domain.schedule import parse_deadline, parse_instant
from hub.domain.wording import content_hash, current_wording, version_number
from hub.errors import InvalidInput, NotFound, PermissionDenied
from hub.i18n import LANGUAGES
from hub.services.coalitions import get_coalition
from hub.services.context import ServiceContext
from hub.services.dispatch import frozen_deliveries
from hub.services.editing import (
    NewVersion,
    check_wording,
    coordinated,
    coordinated_announcement,
    editable,
    get_announcement,
    record_decision,
    save_version,
)
from hub.services.images import ImageService
from hub.store import UnitOfWork
from hub.text.fit import PreviewLine, preview_line
from hub.text.renderings import raise_problems, renderings, targets, too_long
from hub.text.template import check_template

_Change = Callable[[Wording], Wording]

MAX_TITLE = 200
#: How many towns of each state a summary holds unless told otherwise.
SUMMARY_LATEST = 40


@dataclass(frozen=True, slots=True)
class Board:
    """An announcement with where every member town stands."""

    announcement: Announcement
    coalition: Coalition
    signons: list[SignOn]
    officers: dict[int, list[str]]

    def with_state(self, state: SignOnState) -> list[SignOn]:
        return [s for s in self.signons if s.state is state]

    def summary(self, latest: int = SUMMARY_LATEST, everyone_up_to: int = 0) -> BoardSummary:
        """The same, summarised as :meth:`AnnouncementService.summary` reads it."""
        signons = SignOnSummary.of(self.signons, latest, everyone_up_to)
        return BoardSummary(self.announcement, self.coalition, signons)


@dataclass(frozen=True, slots=True)
class BoardSummary:
    """An announcement with where its sign-on stands, without every member town (see :class:`SignOnSummary`)."""

    announcement: Announcement
    coalition: Coalition
    signons: SignOnSummary


@dataclass(frozen=True, slots=True)
class LockResult:
    announcement: Announcement
    deliveries: int
    #: Towns that signed but have no linked account: nothing will be posted for them.
    without_account: list[Town]


class AnnouncementService:
    def __init__(self, context: ServiceContext, images: ImageService) -> None:
        self.context = context
        # The images are their own service; their methods stay reachable here for the existing callers.
        self.add_image, self.set_alt, self.remove_image = images.add_image, images.set_alt, images.remove_image
        self.hold_image, self.held_images = images.hold_image, images.held_images

    # --- reading ------------------------------------------------------------------------------------------

    async def get(self, announcement_id: int) -> Announcement:
        async with self.context.store.unit() as uow:
            return await get_announcement(uow, announcement_id)

    async def list(
        self, coalition_id: int | None = None, states: Sequence[AnnouncementState] | None = None
    ) -> builtins.list[Announcement]:
        async with self.context.store.unit() as uow:
            return await uow.announcements.list(coalition_id, states)

    async def versions(self, announcement_id: int) -> builtins.list[Version]:
        async with self.context.store.unit() as uow:
            return await uow.announcements.versions(announcement_id)

    async def board(self, announcement_id: int) -> Board:
        """Who signed, declined, or is still pending, with each town's officers (for reminders)."""
        async with self.context.store.unit() as uow:
            announcement = await get_announcement(uow, announcement_id)
            coalition = await get_coalition(uow, announcement.coalition_id)
            towns = await uow.towns.list(coalition.id)
            signons = await uow.signons.list(announcement.id, towns)
            officers = await uow.roles.officers_by_town(t.id for t in towns)
            return Board(announcement, coalition, signons, officers)

    async def summary(
        self, announcement_id: int, latest: int = SUMMARY_LATEST, everyone_up_to: int = 0
    ) -> BoardSummary:
        """Where the sign-on stands, cheaply however many towns the coalition has (no officers, no full list).

        Counts per state; the refusals and the signatures most recent first and the pending towns, at most
        ``latest`` of each — every town when the coalition has no more than ``everyone_up_to``.
        """
        async with self.context.store.unit() as uow:
            announcement = await get_announcement(uow, announcement_id)
            coalition = await get_coalition(uow, announcement.coalition_id)
            signons = await uow.signons.summary(announcement.id, coalition.id, latest, everyone_up_to)
            return BoardSummary(announcement, coalition, signons)

    async def preview(self, announcement_id: int, town_id: int | None = None) -> builtins.list[PreviewLine]:
        """The rendered text and its count, per town and platform (one town, or every member)."""
        async with self.context.store.unit() as uow:
            announcement = await get_announcement(uow, announcement_id)
            towns = await uow.towns.list(announcement.coalition_id)
            if town_id is not None:
                towns = [t for t in towns if t.id == town_id]
                if not towns:
                    raise NotFound("error.announcement.town_not_member", id=str(town_id))
            accounts = await uow.accounts.of_towns(t.id for t in towns)
            signons = {s.town.id: s for s in await uow.signons.list(announcement.id, towns)}
        wording = current_wording(announcement)
        lines = []
        for town in towns:
            override = signons[town.id].override_text if announcement.allow_overrides else None
            for platform, limits in targets(accounts.get(town.id, [])):
                lines.append(preview_line(override or wording.for_platform(platform), town, platform, limits))
        return lines

    # --- the front ends' messages (cards, reactions, reminders) -------------------------------------------

    async def remember_message(self, message: AnnouncementMessage) -> bool:
        """Notes a front end's message about an announcement; False if it was already noted for that purpose."""
        async with self.context.store.unit() as uow:
            await get_announcement(uow, message.announcement_id)
            return await uow.messages.add(message)

    async def find_message(self, message_id: str) -> builtins.list[AnnouncementMessage]:
        async with self.context.store.unit() as uow:
            return await uow.messages.find(message_id)

    async def messages(
        self, announcement_id: int, purpose: str | None = None, town_id: int | None = None
    ) -> builtins.list[AnnouncementMessage]:
        """The front ends' messages about the announcement (of one purpose, about one town)."""
        async with self.context.store.unit() as uow:
            return await uow.messages.of(announcement_id, purpose, town_id)

    async def forget_message(self, message_id: str, purpose: str) -> bool:
        async with self.context.store.unit() as uow:
            return await uow.messages.remove(message_id, purpose)

    # --- the coordinator's decisions ----------------------------------------------------------------------

    async def propose(
        self,
        actor_id: str,
        coalition_id: int,
        title: str,
        text: str,
        *,
        language: str | None = None,
        allow_overrides: bool = False,
        draft: bool = False,
        quorum: str | None = None,
    ) -> Announcement:
        """Proposes a new announcement; it opens for sign-on at once unless ``draft``; ``quorum`` as typed."""
        title, text = title.strip(), text.strip()
        if not title or len(title) > MAX_TITLE:
            raise InvalidInput("error.announcement.title", max=MAX_TITLE)
        async with self.context.store.unit() as uow:
            coalition = await coordinated(self.context, uow, actor_id, coalition_id)
            language = language or coalition.language
            if language not in LANGUAGES and len(language) != 2:
                raise InvalidInput("error.language", language=language, allowed=", ".join(LANGUAGES))
            wording = Wording(text=text)
            await check_wording(uow, coalition.id, wording)
            required = parse_quorum(quorum, len(await uow.towns.members(coalition.id))) if quorum else None
            announcement_id = await uow.announcements.create(
                coalition.id,
                title,
                language=language,
                timezone=self.context.settings.default_timezone,
                allow_overrides=allow_overrides,
                created_by=actor_id,
                quorum=required,
            )
            version = await uow.announcements.add_version(announcement_id, wording, content_hash(wording), actor_id)
            proposed = await get_announcement(uow, announcement_id)
            details = {"title": title, "content_hash": version.content_hash, "quorum": required and required.typed()}
            await record_decision(uow, actor_id, "announcement.propose", proposed, version.number, details=details)
            if draft:
                return proposed
            await self._transition(uow, actor_id, proposed, Action.OPEN)
            return await get_announcement(uow, announcement_id)

    async def open(self, actor_id: str, announcement_id: int) -> Announcement:
        async with self.context.store.unit() as uow:
            announcement = await coordinated_announcement(self.context, uow, actor_id, announcement_id)
            await self._transition(uow, actor_id, announcement, Action.OPEN)
            return await get_announcement(uow, announcement_id)

    async def edit(self, actor_id: str, announcement_id: int, text: str) -> NewVersion:
        """A new wording: a new version, and every town that had signed must sign again."""
        text = text.strip()
        return await self._new_version(actor_id, announcement_id, lambda w: replace(w, text=text))

    async def set_variant(
        self, actor_id: str, announcement_id: int, platform: Platform, text: str | None
    ) -> NewVersion:
        """A shorter text for one platform (``None`` or empty removes it)."""

        def change(wording: Wording) -> Wording:
            variants = {p: t for p, t in wording.variants.items() if p is not platform}
            if text and text.strip():
                variants[platform] = text.strip()
            return replace(wording, variants=variants)

        return await self._new_version(actor_id, announcement_id, change)

    async def check_editable(self, actor_id: str, announcement_id: int) -> Announcement:
        """The announcement, if ``actor_id`` may change its wording now; else the error saying why (a front end
        calls this before fetching an image, so that it does not fetch one for nothing)."""
        async with self.context.store.unit() as uow:
            return await editable(self.context, uow, actor_id, announcement_id)

    async def schedule(
        self,
        actor_id: str,
        announcement_id: int,
        publish_at: str,
        deadline: str | None = None,
        lang: str = "fr",
    ) -> Announcement:
        """Sets the publication instant (and the sign-on deadline) from what the coordinator typed."""
        async with self.context.store.unit() as uow:
            announcement = await coordinated_announcement(self.context, uow, actor_id, announcement_id)
            lifecycle.apply(Action.SCHEDULE, announcement.state)
            now = self.context.clock()
            instant = parse_instant(publish_at, zone=announcement.timezone, now=now, lang=lang)
            limit = parse_deadline(deadline, announcement.timezone, now, lang) if deadline else None
            if limit is not None and limit >= instant:
                raise InvalidInput("error.schedule.deadline_after_publication")
            # A new date is a new deadline: a quorum missed at the old one is judged again at the new one.
            await uow.announcements.update(announcement.id, publish_at=instant, deadline=limit, quorum_missed_at=None)
            details = {"publish_at": instant.isoformat(), "deadline": limit.isoformat() if limit else None}
            await record_decision(uow, actor_id, "announcement.schedule", announcement, details=details)
            return await get_announcement(uow, announcement.id)

    async def lock(self, actor_id: str, announcement_id: int) -> LockResult:
        """Freezes the deliveries: one per signed town and linked account, with the text rendered now."""
        async with self.context.store.unit() as uow:
            announcement = await coordinated_announcement(self.context, uow, actor_id, announcement_id, for_update=True)
            lifecycle.apply(Action.LOCK, announcement.state)
            if announcement.publish_at is None:
                raise InvalidInput("error.lock.no_date")
            if announcement.publish_at <= self.context.clock():
                raise InvalidInput("error.lock.date_passed")
            towns = await uow.towns.list(announcement.coalition_id)
            signed = [s for s in await uow.signons.list(announcement.id, towns) if s.state is SignOnState.SIGNED]
            require_quorum(announcement.id, announcement.quorum, len(signed), len(towns))
            if not signed:
                raise InvalidInput("error.lock.nobody_signed")
            accounts = await uow.accounts.of_towns(s.town.id for s in signed)
            rules = await uow.threads.rules(announcement.id)
            deliveries, missing, over, without = frozen_deliveries(announcement, signed, accounts, rules)
            raise_problems(missing, over)
            await uow.deliveries.create_many(announcement.id, deliveries)
            await self._transition(
                uow,
                actor_id,
                announcement,
                Action.LOCK,
                details={"deliveries": len(deliveries), "towns": len(signed)},
            )
            return LockResult(await get_announcement(uow, announcement.id), len(deliveries), without)

    async def unlock(self, actor_id: str, announcement_id: int) -> Announcement:
        """Back to sign-on before publication; the frozen deliveries are dropped."""
        return await self._stop(actor_id, announcement_id, Action.UNLOCK)

    async def cancel(self, actor_id: str, announcement_id: int) -> Announcement:
        """Cancels before publication; pending deliveries are removed."""
        return await self._stop(actor_id, announcement_id, Action.CANCEL)

    # --- the officers' decisions --------------------------------------------------------------------------

    async def sign(
        self,
        actor_id: str,
        announcement_id: int,
        town_id: int | None = None,
        override_text: str | None = None,
        *,
        event_id: str | None = None,
    ) -> SignOn:
        """Signs on for the town, for the current wording version.

        ``event_id``: the front end's event that asked for it, recorded in the same transaction; when it was
        recorded already (a replay after a crash), nothing is recorded again and the town's sign-on is returned.
        """
        async with self.context.store.unit() as uow:
            announcement, town = await self._signing_town(uow, actor_id, announcement_id, town_id)
            if not await _first_time(uow, event_id):
                return await uow.signons.get(announcement.id, town)
            override = (override_text or "").strip() or None
            if override is not None:
                if not announcement.allow_overrides:
                    raise PermissionDenied("error.signon.override_forbidden")
                check_template(override)
                texts, missing = renderings(town, override, None, await uow.accounts.of_town(town.id))
                raise_problems(missing, too_long(town, texts))
            number = version_number(announcement)
            await uow.signons.record(
                announcement.id,
                town.id,
                SignOnState.SIGNED,
                by=actor_id,
                version_number=number,
                override_text=override,
            )
            details = {"override": override is not None}
            await record_decision(uow, actor_id, "signon.sign", announcement, number, town_id=town.id, details=details)
            return await uow.signons.get(announcement.id, town)

    async def decline(
        self,
        actor_id: str,
        announcement_id: int,
        town_id: int | None = None,
        reason: str | None = None,
        *,
        event_id: str | None = None,
    ) -> SignOn:
        """Declines for the town (``event_id`` as for :meth:`sign`)."""
        async with self.context.store.unit() as uow:
            announcement, town = await self._signing_town(uow, actor_id, announcement_id, town_id)
            if not await _first_time(uow, event_id):
                return await uow.signons.get(announcement.id, town)
            reason = (reason or "").strip() or None
            await uow.signons.record(
                announcement.id,
                town.id,
                SignOnState.DECLINED,
                by=actor_id,
                version_number=version_number(announcement),
                reason=reason,
            )
            details = {"reason": reason}
            await record_decision(uow, actor_id, "signon.decline", announcement, town_id=town.id, details=details)
            return await uow.signons.get(announcement.id, town)

    async def withdraw(
        self, actor_id: str, announcement_id: int, town_id: int | None = None, *, event_id: str | None = None
    ) -> SignOn:
        """Takes back a signature or a refusal: the town is pending again (``event_id`` as for :meth:`sign`)."""
        async with self.context.store.unit() as uow:
            announcement, town = await self._signing_town(uow, actor_id, announcement_id, town_id)
            if not await _first_time(uow, event_id):
                return await uow.signons.get(announcement.id, town)
            await uow.signons.record(announcement.id, town.id, SignOnState.PENDING, by=actor_id, version_number=None)
            await record_decision(uow, actor_id, "signon.withdraw", announcement, town_id=town.id)
            return await uow.signons.get(announcement.id, town)

    # --- shared steps -------------------------------------------------------------------------------------

    async def _new_version(self, actor_id: str, announcement_id: int, change: _Change) -> NewVersion:
        async with self.context.store.unit() as uow:
            announcement = await editable(self.context, uow, actor_id, announcement_id)
            return await save_version(uow, actor_id, announcement, change(current_wording(announcement)))

    async def _stop(self, actor_id: str, announcement_id: int, action: Action) -> Announcement:
        async with self.context.store.unit() as uow:
            announcement = await coordinated_announcement(self.context, uow, actor_id, announcement_id, for_update=True)
            dropped = (
                await uow.deliveries.delete_pending(announcement.id) if action in (Action.UNLOCK, Action.CANCEL) else 0
            )
            await self._transition(uow, actor_id, announcement, action, details={"deliveries_removed": dropped})
            return await get_announcement(uow, announcement.id)

    async def _transition(
        self,
        uow: UnitOfWork,
        actor_id: str,
        announcement: Announcement,
        action: Action,
        details: dict[str, object] | None = None,
    ) -> None:
        state = lifecycle.apply(action, announcement.state)
        await uow.announcements.update(announcement.id, state=state)
        details = {"from": announcement.state.value, "to": state.value, **(details or {})}
        await record_decision(uow, actor_id, f"announcement.{action.value}", announcement, details=details)

    async def _signing_town(
        self, uow: UnitOfWork, actor_id: str, announcement_id: int, town_id: int | None
    ) -> tuple[Announcement, Town]:
        announcement = await get_announcement(uow, announcement_id, for_update=True)
        lifecycle.apply(Action.SIGN, announcement.state)
        if announcement.deadline is not None and announcement.deadline <= self.context.clock():
            raise InvalidInput("error.signon.deadline_passed")
        actor = await self.context.actor(uow, actor_id)
        # Only the towns that matter here: a sign-on costs the same in a coalition of 5 or of 1,600.
        relevant = actor.officer_of if town_id is None else {*actor.officer_of, town_id}
        members = await uow.towns.members(announcement.coalition_id, relevant)
        if town_id is None:
            mine = sorted(actor.officer_of & members)
            if len(mine) != 1:
                towns = [await uow.towns.get(t) for t in mine]
                names = ", ".join(t.name for t in towns if t)
                raise InvalidInput("error.signon.which_town" if mine else "error.signon.no_town", towns=names)
            town_id = mine[0]
        town = await uow.towns.get(town_id)
        if town is None:
            raise NotFound("error.town.unknown", id=str(town_id))
        permissions.require_officer(actor, town.id, town.name, members)
        return announcement, town


async def _first_time(uow: UnitOfWork, event_id: str | None) -> bool:
    """Records the front end's event in the caller's transaction; False if it was handled already."""
    return event_id is None or await uow.events.first_time(event_id)
