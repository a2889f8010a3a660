"""Joint announcements: proposal, wording versions, sign-on, schedule, preview, lock and cancel."""

from __future__ import annotations

import builtins
import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from hub.domain import lifecycle, permissions
from hub.domain.lifecycle import Action
from hub.domain.model import (
    Account,
    Announcement,
    AnnouncementMessage,
    AnnouncementState,
    Coalition,
    ImageRef,
    Platform,
    SignOn,
    SignOnState,
    SignOnSummary,
    Town,
    Version,
    Wording,
)
from hub.domain.schedule import parse_instant
from hub.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    ProblemList,
    TextDoesNotFit,
    UnissonError,
)
from hub.i18n import LANGUAGES
from hub.media import inspect_image
from hub.services.coalitions import get_coalition
from hub.services.context import Hub
from hub.store import UnitOfWork
from hub.store.repositories import NewDelivery
from hub.text.fit import Limits, PreviewLine, check_fit, preview_line
from hub.text.template import check_template, render

_Change = Callable[[Wording], Wording]

MAX_IMAGES = 4
#: Purpose of a front end's message carrying an image that waits for its alt text.
HELD_IMAGE = "held_image"
MAX_ALT = 1500
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
class NewVersion:
    announcement: Announcement
    #: Towns that had signed the previous version and must sign again.
    reset: list[Town]


@dataclass(frozen=True, slots=True)
class HeldImage:
    """An image posted for an announcement and kept until its alt text is given."""

    message: AnnouncementMessage
    #: The number it will have among the announcement's images once attached (after the attached ones).
    position: int

    @property
    def sha256(self) -> str:
        return self.message.media or ""


@dataclass(frozen=True, slots=True)
class LockResult:
    announcement: Announcement
    deliveries: int
    #: Towns that signed but have no linked account: nothing will be posted for them.
    without_account: list[Town]


class AnnouncementService:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    # --- reading ------------------------------------------------------------------------------------------

    async def get(self, announcement_id: int) -> Announcement:
        async with self.hub.store.unit() as uow:
            return await _get(uow, announcement_id)

    async def list(
        self, coalition_id: int | None = None, states: Sequence[AnnouncementState] | None = None
    ) -> builtins.list[Announcement]:
        async with self.hub.store.unit() as uow:
            return await uow.announcements.list(coalition_id, states)

    async def versions(self, announcement_id: int) -> builtins.list[Version]:
        async with self.hub.store.unit() as uow:
            return await uow.announcements.versions(announcement_id)

    async def board(self, announcement_id: int) -> Board:
        """Who signed, declined, or is still pending, with each town's officers (for reminders)."""
        async with self.hub.store.unit() as uow:
            announcement = await _get(uow, announcement_id)
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
        async with self.hub.store.unit() as uow:
            announcement = await _get(uow, announcement_id)
            coalition = await get_coalition(uow, announcement.coalition_id)
            signons = await uow.signons.summary(announcement.id, coalition.id, latest, everyone_up_to)
            return BoardSummary(announcement, coalition, signons)

    async def preview(self, announcement_id: int, town_id: int | None = None) -> builtins.list[PreviewLine]:
        """The rendered text and its count, per town and platform (one town, or every member)."""
        async with self.hub.store.unit() as uow:
            announcement = await _get(uow, announcement_id)
            towns = await uow.towns.list(announcement.coalition_id)
            if town_id is not None:
                towns = [t for t in towns if t.id == town_id]
                if not towns:
                    raise NotFound("error.announcement.town_not_member", id=str(town_id))
            accounts = await uow.accounts.of_towns(t.id for t in towns)
            signons = {s.town.id: s for s in await uow.signons.list(announcement.id, towns)}
        wording = _wording(announcement)
        lines = []
        for town in towns:
            override = signons[town.id].override_text if announcement.allow_overrides else None
            for platform, limits in _targets(accounts.get(town.id, [])):
                lines.append(preview_line(override or wording.for_platform(platform), town, platform, limits))
        return lines

    # --- the front ends' messages (cards, reactions, reminders) -------------------------------------------

    async def remember_message(self, message: AnnouncementMessage) -> bool:
        """Notes a front end's message about an announcement; False if it was already noted for that purpose."""
        async with self.hub.store.unit() as uow:
            await _get(uow, message.announcement_id)
            return await uow.messages.add(message)

    async def find_message(self, message_id: str) -> builtins.list[AnnouncementMessage]:
        async with self.hub.store.unit() as uow:
            return await uow.messages.find(message_id)

    async def messages(
        self, announcement_id: int, purpose: str | None = None, town_id: int | None = None
    ) -> builtins.list[AnnouncementMessage]:
        """The front ends' messages about the announcement (of one purpose, about one town)."""
        async with self.hub.store.unit() as uow:
            return await uow.messages.of(announcement_id, purpose, town_id)

    async def forget_message(self, message_id: str, purpose: str) -> bool:
        async with self.hub.store.unit() as uow:
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
    ) -> Announcement:
        """Proposes a new announcement; it opens for sign-on at once unless ``draft``."""
        title, text = title.strip(), text.strip()
        if not title or len(title) > MAX_TITLE:
            raise InvalidInput("error.announcement.title", max=MAX_TITLE)
        async with self.hub.store.unit() as uow:
            coalition = await self._coordinated(uow, actor_id, coalition_id)
            language = language or coalition.language
            if language not in LANGUAGES and len(language) != 2:
                raise InvalidInput("error.language", language=language, allowed=", ".join(LANGUAGES))
            wording = Wording(text=text)
            await self._check_wording(uow, coalition.id, wording)
            announcement_id = await uow.announcements.create(
                coalition.id,
                title,
                language=language,
                timezone=self.hub.settings.default_timezone,
                allow_overrides=allow_overrides,
                created_by=actor_id,
            )
            version = await uow.announcements.add_version(announcement_id, wording, _hash(wording), actor_id)
            await uow.audit.append(
                actor_id,
                "announcement.propose",
                coalition_id=coalition.id,
                announcement_id=announcement_id,
                version_number=version.number,
                details={"title": title, "content_hash": version.content_hash},
            )
            if not draft:
                await self._transition(uow, actor_id, await _get(uow, announcement_id), Action.OPEN)
            return await _get(uow, announcement_id)

    async def open(self, actor_id: str, announcement_id: int) -> Announcement:
        async with self.hub.store.unit() as uow:
            announcement = await self._coordinated_announcement(uow, actor_id, announcement_id)
            await self._transition(uow, actor_id, announcement, Action.OPEN)
            return await _get(uow, announcement_id)

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

    async def add_image(self, actor_id: str, announcement_id: int, data: bytes, alt: str) -> NewVersion:
        """Attaches an image; alt text is mandatory (what a screen reader says).

        The same image held for its alt text (:meth:`hold_image`) is held no longer.
        """
        alt = _check_alt(alt)
        image = inspect_image(data, alt)
        async with self.hub.store.unit() as uow:
            announcement = await self._editable(uow, actor_id, announcement_id)
            wording = _wording(announcement)
            if len(wording.images) >= MAX_IMAGES:
                raise InvalidInput("error.image.too_many", max=MAX_IMAGES)
            await uow.messages.remove_media(announcement.id, HELD_IMAGE, image.sha256)
            changed = replace(wording, images=(*wording.images, image))
            return await self._save_version(uow, actor_id, announcement, changed, media=(image, data))

    async def set_alt(self, actor_id: str, announcement_id: int, position: int, alt: str) -> NewVersion:
        """Changes the alt text of image number ``position`` (counted from 1).

        A position after the attached images names an image held for its alt text: it is attached with it.
        """
        alt = _check_alt(alt)
        async with self.hub.store.unit() as uow:
            announcement = await self._editable(uow, actor_id, announcement_id)
            wording = _wording(announcement)
            images = list(wording.images)
            if 1 <= position <= len(images):
                images[position - 1] = replace(images[position - 1], alt=alt)
            else:
                held = await self._held_at(uow, announcement, position)
                image = await uow.media.ref(held.sha256, alt)
                if image is None:
                    raise NotFound("error.image.held_lost", position=position)
                if len(images) >= MAX_IMAGES:
                    raise InvalidInput("error.image.too_many", max=MAX_IMAGES)
                images.append(image)
                await uow.messages.remove(held.message.message_id, HELD_IMAGE)
            return await self._save_version(uow, actor_id, announcement, replace(wording, images=tuple(images)))

    async def remove_image(self, actor_id: str, announcement_id: int, position: int) -> NewVersion | HeldImage:
        """Removes image number ``position``: a new version, or, for an image held for its alt text, that
        image dropped (the wording is unchanged, so there is no new version)."""
        async with self.hub.store.unit() as uow:
            announcement = await self._editable(uow, actor_id, announcement_id)
            wording = _wording(announcement)
            if not 1 <= position <= len(wording.images):
                held = await self._held_at(uow, announcement, position)
                await uow.messages.remove(held.message.message_id, HELD_IMAGE)
                return held
            changed = replace(wording, images=wording.images[: position - 1] + wording.images[position:])
            return await self._save_version(uow, actor_id, announcement, changed)

    # --- images waiting for their alt text ----------------------------------------------------------------

    async def check_editable(self, actor_id: str, announcement_id: int) -> Announcement:
        """The announcement, if ``actor_id`` may change its wording now; else the error saying why (a front end
        calls this before fetching an image, so that it does not fetch one for nothing)."""
        async with self.hub.store.unit() as uow:
            return await self._editable(uow, actor_id, announcement_id)

    async def hold_image(
        self, actor_id: str, announcement_id: int, channel: str, message_id: str, data: bytes
    ) -> HeldImage:
        """Keeps an image posted for the announcement until its alt text is given (:meth:`set_alt` at the
        position returned). The image is checked and stored at once; it is not part of the wording yet."""
        image = inspect_image(data, "")
        async with self.hub.store.unit() as uow:
            announcement = await self._editable(uow, actor_id, announcement_id)
            held = await self._held(uow, announcement)
            if (same := next((h for h in held if h.message.message_id == message_id), None)) is not None:
                return same
            if len(_wording(announcement).images) + len(held) >= MAX_IMAGES:
                raise InvalidInput("error.image.too_many", max=MAX_IMAGES)
            await uow.media.put(image, data)
            message = AnnouncementMessage(
                announcement.id, channel, message_id, HELD_IMAGE, actor_id, media=image.sha256
            )
            await uow.messages.add(message)
            return HeldImage(message, len(_wording(announcement).images) + len(held) + 1)

    async def held_images(self, announcement_id: int) -> builtins.list[HeldImage]:
        """The announcement's images waiting for their alt text, with the position each will take."""
        async with self.hub.store.unit() as uow:
            return await self._held(uow, await _get(uow, announcement_id))

    async def _held_at(self, uow: UnitOfWork, announcement: Announcement, position: int) -> HeldImage:
        held = await self._held(uow, announcement)
        found = next((h for h in held if h.position == position), None)
        if found is None:
            attached = len(_wording(announcement).images)
            if held:
                raise InvalidInput(
                    "error.image.position_held", position=position, count=attached + len(held), held=len(held)
                )
            raise InvalidInput("error.image.position", position=position, count=attached)
        return found

    async def schedule(
        self,
        actor_id: str,
        announcement_id: int,
        publish_at: str,
        deadline: str | None = None,
        lang: str = "fr",
    ) -> Announcement:
        """Sets the publication instant (and the sign-on deadline) from what the coordinator typed."""
        async with self.hub.store.unit() as uow:
            announcement = await self._coordinated_announcement(uow, actor_id, announcement_id)
            lifecycle.apply(Action.SCHEDULE, announcement.state)
            now = self.hub.clock()
            instant = parse_instant(publish_at, zone=announcement.timezone, now=now, lang=lang)
            limit = _parse_deadline(deadline, announcement.timezone, now, lang) if deadline else None
            if limit is not None and limit >= instant:
                raise InvalidInput("error.schedule.deadline_after_publication")
            await uow.announcements.update(announcement.id, publish_at=instant, deadline=limit)
            await uow.audit.append(
                actor_id,
                "announcement.schedule",
                coalition_id=announcement.coalition_id,
                announcement_id=announcement.id,
                version_number=_number(announcement),
                details={"publish_at": instant.isoformat(), "deadline": limit.isoformat() if limit else None},
            )
            return await _get(uow, announcement.id)

    async def lock(self, actor_id: str, announcement_id: int) -> LockResult:
        """Freezes the deliveries: one per signed town and linked account, with the text rendered now."""
        async with self.hub.store.unit() as uow:
            announcement = await self._coordinated_announcement(uow, actor_id, announcement_id, for_update=True)
            lifecycle.apply(Action.LOCK, announcement.state)
            if announcement.publish_at is None:
                raise InvalidInput("error.lock.no_date")
            if announcement.publish_at <= self.hub.clock():
                raise InvalidInput("error.lock.date_passed")
            towns = await uow.towns.list(announcement.coalition_id)
            signed = [s for s in await uow.signons.list(announcement.id, towns) if s.state is SignOnState.SIGNED]
            if not signed:
                raise InvalidInput("error.lock.nobody_signed")
            accounts = await uow.accounts.of_towns(s.town.id for s in signed)
            deliveries, missing, too_long, without = _deliveries(announcement, signed, accounts)
            _raise_problems(missing, too_long)
            await uow.deliveries.create_many(announcement.id, deliveries)
            await self._transition(
                uow,
                actor_id,
                announcement,
                Action.LOCK,
                details={"deliveries": len(deliveries), "towns": len(signed)},
            )
            return LockResult(await _get(uow, announcement.id), len(deliveries), without)

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
        async with self.hub.store.unit() as uow:
            announcement, town = await self._signing_town(uow, actor_id, announcement_id, town_id)
            if not await _first_time(uow, event_id):
                return await uow.signons.get(announcement.id, town)
            override = (override_text or "").strip() or None
            if override is not None:
                if not announcement.allow_overrides:
                    raise PermissionDenied("error.signon.override_forbidden")
                check_template(override)
                texts, missing = _renderings(town, override, None, await uow.accounts.of_town(town.id))
                _raise_problems(missing, _too_long(town, texts))
            number = _number(announcement)
            await uow.signons.record(
                announcement.id,
                town.id,
                SignOnState.SIGNED,
                by=actor_id,
                version_number=number,
                override_text=override,
            )
            await uow.audit.append(
                actor_id,
                "signon.sign",
                coalition_id=announcement.coalition_id,
                announcement_id=announcement.id,
                town_id=town.id,
                version_number=number,
                details={"override": override is not None},
            )
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
        async with self.hub.store.unit() as uow:
            announcement, town = await self._signing_town(uow, actor_id, announcement_id, town_id)
            if not await _first_time(uow, event_id):
                return await uow.signons.get(announcement.id, town)
            reason = (reason or "").strip() or None
            await uow.signons.record(
                announcement.id,
                town.id,
                SignOnState.DECLINED,
                by=actor_id,
                version_number=_number(announcement),
                reason=reason,
            )
            await uow.audit.append(
                actor_id,
                "signon.decline",
                coalition_id=announcement.coalition_id,
                announcement_id=announcement.id,
                town_id=town.id,
                version_number=_number(announcement),
                details={"reason": reason},
            )
            return await uow.signons.get(announcement.id, town)

    async def withdraw(
        self, actor_id: str, announcement_id: int, town_id: int | None = None, *, event_id: str | None = None
    ) -> SignOn:
        """Takes back a signature or a refusal: the town is pending again (``event_id`` as for :meth:`sign`)."""
        async with self.hub.store.unit() as uow:
            announcement, town = await self._signing_town(uow, actor_id, announcement_id, town_id)
            if not await _first_time(uow, event_id):
                return await uow.signons.get(announcement.id, town)
            await uow.signons.record(announcement.id, town.id, SignOnState.PENDING, by=actor_id, version_number=None)
            await uow.audit.append(
                actor_id,
                "signon.withdraw",
                coalition_id=announcement.coalition_id,
                announcement_id=announcement.id,
                town_id=town.id,
                version_number=_number(announcement),
            )
            return await uow.signons.get(announcement.id, town)

    # --- shared steps -------------------------------------------------------------------------------------

    async def _new_version(
        self, actor_id: str, announcement_id: int, change: _Change, media: tuple[ImageRef, bytes] | None = None
    ) -> NewVersion:
        async with self.hub.store.unit() as uow:
            announcement = await self._editable(uow, actor_id, announcement_id)
            return await self._save_version(uow, actor_id, announcement, change(_wording(announcement)), media)

    async def _editable(self, uow: UnitOfWork, actor_id: str, announcement_id: int) -> Announcement:
        """The announcement, locked for this transaction, if ``actor_id`` may change its wording now."""
        announcement = await self._coordinated_announcement(uow, actor_id, announcement_id, for_update=True)
        lifecycle.apply(Action.EDIT, announcement.state)
        return announcement

    async def _save_version(
        self,
        uow: UnitOfWork,
        actor_id: str,
        announcement: Announcement,
        wording: Wording,
        media: tuple[ImageRef, bytes] | None = None,
    ) -> NewVersion:
        """Stores ``wording`` as the next version; every town that had signed must sign again."""
        digest = _hash(wording)
        if announcement.current_version and digest == announcement.current_version.content_hash:
            raise Conflict("error.announcement.same_wording")
        await self._check_wording(uow, announcement.coalition_id, wording)
        if media is not None:
            await uow.media.put(*media)
        version = await uow.announcements.add_version(announcement.id, wording, digest, actor_id)
        reset_ids = await uow.signons.reset_signed(announcement.id)
        await uow.audit.append(
            actor_id,
            "announcement.edit",
            coalition_id=announcement.coalition_id,
            announcement_id=announcement.id,
            version_number=version.number,
            details={"content_hash": digest, "signons_reset": len(reset_ids)},
        )
        reset = [t for t in await uow.towns.list(announcement.coalition_id) if t.id in set(reset_ids)]
        return NewVersion(await _get(uow, announcement.id), reset)

    async def _held(self, uow: UnitOfWork, announcement: Announcement) -> builtins.list[HeldImage]:
        """The images waiting for their alt text, numbered after the attached ones in the order they came."""
        attached = len(_wording(announcement).images)
        messages = await uow.messages.of(announcement.id, HELD_IMAGE)
        return [HeldImage(m, attached + i) for i, m in enumerate(messages, start=1)]

    async def _stop(self, actor_id: str, announcement_id: int, action: Action) -> Announcement:
        async with self.hub.store.unit() as uow:
            announcement = await self._coordinated_announcement(uow, actor_id, announcement_id, for_update=True)
            dropped = (
                await uow.deliveries.delete_pending(announcement.id) if action in (Action.UNLOCK, Action.CANCEL) else 0
            )
            await self._transition(uow, actor_id, announcement, action, details={"deliveries_removed": dropped})
            return await _get(uow, announcement.id)

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
        await uow.audit.append(
            actor_id,
            f"announcement.{action.value}",
            coalition_id=announcement.coalition_id,
            announcement_id=announcement.id,
            version_number=_number(announcement),
            details={"from": announcement.state.value, "to": state.value, **(details or {})},
        )

    async def _coordinated(self, uow: UnitOfWork, actor_id: str, coalition_id: int) -> Coalition:
        coalition = await get_coalition(uow, coalition_id)
        permissions.require_coordinator(await self.hub.actor(uow, actor_id), coalition.id, coalition.name)
        return coalition

    async def _coordinated_announcement(
        self, uow: UnitOfWork, actor_id: str, announcement_id: int, *, for_update: bool = False
    ) -> Announcement:
        announcement = await _get(uow, announcement_id, for_update=for_update)
        await self._coordinated(uow, actor_id, announcement.coalition_id)
        return announcement

    async def _signing_town(
        self, uow: UnitOfWork, actor_id: str, announcement_id: int, town_id: int | None
    ) -> tuple[Announcement, Town]:
        announcement = await _get(uow, announcement_id, for_update=True)
        lifecycle.apply(Action.SIGN, announcement.state)
        if announcement.deadline is not None and announcement.deadline <= self.hub.clock():
            raise InvalidInput("error.signon.deadline_passed")
        actor = await self.hub.actor(uow, actor_id)
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

    async def _check_wording(self, uow: UnitOfWork, coalition_id: int, wording: Wording) -> None:
        """Every member town's text must render and fit every platform it posts to."""
        for text in (wording.text, *wording.variants.values()):
            if not text.strip():
                raise InvalidInput("error.announcement.empty_text")
            check_template(text)
        towns = await uow.towns.list(coalition_id)
        accounts = await uow.accounts.of_towns(t.id for t in towns)
        missing: builtins.list[UnissonError] = []
        too_long: builtins.list[UnissonError] = []
        for town in towns:
            texts, unrendered = _renderings(town, None, wording, accounts.get(town.id, []))
            missing += unrendered
            too_long += _too_long(town, texts)
        _raise_problems(missing, too_long)


def _targets(accounts: Sequence[Account]) -> list[tuple[Platform, Limits]]:
    """The platforms a town posts to (both, to warn early, while it has linked none) and their limits."""
    linked = {a.platform: a for a in accounts}
    platforms = sorted(linked) if linked else list(Platform)
    return [(p, _limits(linked.get(p))) for p in platforms]


def _limits(account: Account | None) -> Limits:
    if account is None or account.platform is not Platform.MASTODON:
        return Limits()
    return Limits(
        mastodon_chars=int(account.limits.get("max_characters", 500)),
        mastodon_url_length=int(account.limits.get("characters_reserved_per_url", 23)),
    )


def _renderings(
    town: Town, override: str | None, wording: Wording | None, accounts: Sequence[Account]
) -> tuple[list[tuple[Platform, Limits, str]], list[UnissonError]]:
    """The town's text on each platform it posts to; a template is rendered once, its failure reported once."""
    rendered: dict[str, str | UnissonError] = {}
    texts: list[tuple[Platform, Limits, str]] = []
    for platform, limits in _targets(accounts):
        template = override or (wording.for_platform(platform) if wording else "")
        if template not in rendered:
            try:
                rendered[template] = render(template, town)
            except UnissonError as problem:
                rendered[template] = problem
        text = rendered[template]
        if isinstance(text, str):
            texts.append((platform, limits, text))
    return texts, [p for p in rendered.values() if isinstance(p, UnissonError)]


def _too_long(town: Town, texts: Sequence[tuple[Platform, Limits, str]]) -> list[UnissonError]:
    problems: list[UnissonError] = []
    for platform, limits, text in texts:
        try:
            check_fit(text, platform, limits, town.name)
        except UnissonError as problem:
            problems.append(problem)
    return problems


def _raise_problems(missing: list[UnissonError], too_long: list[UnissonError]) -> None:
    """Empty fields first (shortening would not help), then texts that are too long."""
    if missing:
        raise ProblemList("error.template.heading", problems=missing)
    if too_long:
        raise TextDoesNotFit(problems=too_long)


def _deliveries(
    announcement: Announcement, signed: list[SignOn], accounts: dict[int, list[Account]]
) -> tuple[list[NewDelivery], list[UnissonError], list[UnissonError], list[Town]]:
    wording, version = _wording(announcement), announcement.current_version
    assert announcement.publish_at is not None and version is not None
    deliveries: list[NewDelivery] = []
    missing: list[UnissonError] = []
    too_long: list[UnissonError] = []
    without: list[Town] = []
    for signon in signed:
        linked = accounts.get(signon.town.id, [])
        if not linked:
            without.append(signon.town)
            continue
        override = signon.override_text if announcement.allow_overrides else None
        texts, unrendered = _renderings(signon.town, override, wording, linked)
        missing += unrendered
        too_long += _too_long(signon.town, texts)
        by_platform = {a.platform: a for a in linked}
        for platform, _, text in texts:
            account = by_platform[platform]
            deliveries.append(
                NewDelivery(
                    signon.town.id,
                    account.id,
                    platform,
                    version.number,
                    text,
                    uuid.uuid4().hex,
                    announcement.publish_at,
                )
            )
    return deliveries, missing, too_long, without


def _parse_deadline(text: str, zone: str, now: datetime, lang: str) -> datetime:
    try:
        return parse_instant(text, zone=zone, now=now, lang=lang)
    except InvalidInput as problem:
        raise InvalidInput("error.schedule.deadline_invalid", detail=problem.message(lang)) from problem


def _check_alt(alt: str) -> str:
    alt = alt.strip()
    if not alt:
        raise InvalidInput("error.image.alt_required")
    if len(alt) > MAX_ALT:
        raise InvalidInput("error.image.alt_too_long", count=len(alt), max=MAX_ALT)
    return alt


def _hash(wording: Wording) -> str:
    canonical = {
        "text": wording.text,
        "variants": {p.value: t for p, t in sorted(wording.variants.items())},
        "images": [[i.sha256, i.alt] for i in wording.images],
    }
    return hashlib.sha256(json.dumps(canonical, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def _wording(announcement: Announcement) -> Wording:
    if announcement.current_version is None:
        raise NotFound("error.announcement.no_version", id=str(announcement.id))
    return announcement.current_version.wording


def _number(announcement: Announcement) -> int | None:
    return announcement.current_version.number if announcement.current_version else None


async def _first_time(uow: UnitOfWork, event_id: str | None) -> bool:
    """Records the front end's event in the caller's transaction; False if it was handled already."""
    return event_id is None or await uow.events.first_time(event_id)


async def _get(uow: UnitOfWork, announcement_id: int, *, for_update: bool = False) -> Announcement:
    announcement = await uow.announcements.get(announcement_id, for_update=for_update)
    if announcement is None:
        raise NotFound("error.announcement.unknown", id=str(announcement_id))
    return announcement
