"""Campaign rules about each town's post: a follow-up posted in thread under it, pinning it on the profile, and
handing the Mastodon posts to their servers ahead of the instant (pre-staging, :mod:`hub.domain.prestage`).

The follow-up is written like the main text (placeholders, a variant per platform), checked for every member
town when it is set and again at the lock, and frozen with the posts (:func:`hub.services.dispatch.frozen_deliveries`).
It is posted in the town's name, so changing it after towns have signed asks them to sign again, as an edit does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from hub.domain.model import Announcement, Platform, ThreadRules, Town, Wording
from hub.errors import InvalidInput, InvalidTransition
from hub.services.context import ServiceContext
from hub.services.editing import check_every_town, editable, get_announcement, record_decision
from hub.store import UnitOfWork
from hub.text.fit import PreviewLine, preview_line
from hub.text.followup import followup_texts
from hub.text.renderings import targets
from hub.text.template import check_template


@dataclass(frozen=True, slots=True)
class FollowupChange:
    """A follow-up set or removed: the announcement, the follow-up now (None: none), the towns to sign again."""

    announcement: Announcement
    followup: Wording | None
    reset: list[Town]


class ThreadRuleService:
    def __init__(self, context: ServiceContext) -> None:
        self.context = context

    async def followup(self, announcement_id: int) -> Wording | None:
        async with self.context.store.unit() as uow:
            await get_announcement(uow, announcement_id)
            return await uow.threads.followup(announcement_id)

    async def preview(self, announcement_id: int, town_id: int | None = None) -> list[PreviewLine]:
        """The follow-up as each town will post it, with its count per platform (empty without a follow-up)."""
        async with self.context.store.unit() as uow:
            announcement = await get_announcement(uow, announcement_id)
            followup = await uow.threads.followup(announcement.id)
            if followup is None:
                return []
            towns = [t for t in await uow.towns.list(announcement.coalition_id) if town_id in (None, t.id)]
            accounts = await uow.accounts.of_towns(t.id for t in towns)
        return [
            preview_line(followup.for_platform(platform), town, platform, limits)
            for town in towns
            for platform, limits in targets(accounts.get(town.id, []))
        ]

    async def check_followup(self, coalition_id: int, text: str) -> None:
        """Raises what would stop ``text`` as a follow-up for the coalition's towns (checked before a proposal)."""
        async with self.context.store.unit() as uow:
            await _check(uow, coalition_id, Wording(text.strip()))

    async def set_followup(
        self, actor_id: str, announcement_id: int, text: str | None, platform: Platform | None = None
    ) -> FollowupChange:
        """Sets the follow-up (``platform``: its variant for that platform); an empty ``text`` removes it (or
        the variant)."""
        async with self.context.store.unit() as uow:
            announcement = await editable(self.context, uow, actor_id, announcement_id)
            before = await uow.threads.followup(announcement.id)
            after = _changed(before, (text or "").strip(), platform)
            if after == before:
                raise InvalidInput("error.followup.unchanged")
            if after is not None:
                await _check(uow, announcement.coalition_id, after)
            await uow.threads.set_followup(announcement.id, after, actor_id)
            reset_ids = set(await uow.signons.reset_signed(announcement.id))
            reset = [t for t in await uow.towns.list(announcement.coalition_id) if t.id in reset_ids]
            details = {"platform": platform.value if platform else None, "text": (text or "").strip() or None}
            await record_decision(uow, actor_id, "announcement.followup", announcement, details=details)
            return FollowupChange(await get_announcement(uow, announcement.id), after, reset)

    async def set_pin(self, actor_id: str, announcement_id: int, pin: bool) -> Announcement:
        """Whether each town's post is pinned on its profile (the previous pin is restored on retraction)."""
        async with self.context.store.unit() as uow:
            announcement = await editable(self.context, uow, actor_id, announcement_id)
            if (await uow.threads.rules(announcement.id)).pin == pin:
                raise InvalidInput("error.pin.unchanged" if pin else "error.pin.already_off")
            await uow.threads.set_pin(announcement.id, pin, actor_id)
            await record_decision(uow, actor_id, "announcement.pin", announcement, details={"pin": pin})
            return announcement

    async def set_prestage(self, actor_id: str, announcement_id: int, choice: bool | None) -> Announcement:
        """Whether the Mastodon posts are handed to their servers at the pre-flight (None: as the deployment
        says). Before the lock only: once locked, the posts may already be on their servers."""
        async with self.context.store.unit() as uow:
            try:
                announcement = await editable(self.context, uow, actor_id, announcement_id)
            except InvalidTransition as refused:  # said of the choice, not of the wording: what to do instead
                raise InvalidTransition("error.transition.prestage", id=announcement_id, **refused.params) from None
            await uow.announcements.update(announcement.id, prestage=choice)
            await record_decision(uow, actor_id, "announcement.prestage", announcement, details={"prestage": choice})
            return await get_announcement(uow, announcement.id)

    async def rules(self, announcement_id: int) -> ThreadRules:
        async with self.context.store.unit() as uow:
            await get_announcement(uow, announcement_id)
            return await uow.threads.rules(announcement_id)


def _changed(before: Wording | None, text: str, platform: Platform | None) -> Wording | None:
    if platform is None:
        return replace(before, text=text) if before is not None and text else (Wording(text) if text else None)
    if before is None:
        raise InvalidInput("error.followup.variant_without_text")
    variants = {p: t for p, t in before.variants.items() if p is not platform}
    if text:
        variants[platform] = text
    return replace(before, variants=variants)


async def _check(uow: UnitOfWork, coalition_id: int, followup: Wording) -> None:
    """Every member town's follow-up must render and fit every platform it posts to."""
    for text in (followup.text, *followup.variants.values()):
        check_template(text)
    await check_every_town(uow, coalition_id, lambda town, linked: followup_texts(town, followup, linked)[1:])
