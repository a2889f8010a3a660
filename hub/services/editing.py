"""The steps every change to an announcement takes, shared by the announcement and image services: finding
it in the caller's transaction, checking that the person coordinates its coalition, checking that a wording
renders and fits for every member town, storing it as the next version, recording the decision."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hub.domain import lifecycle, permissions
from hub.domain.lifecycle import Action
from hub.domain.model import Account, Announcement, Coalition, ImageRef, Town, Wording
from hub.domain.wording import content_hash, version_number
from hub.errors import Conflict, InvalidInput, NotFound, UnissonError
from hub.services.coalitions import get_coalition
from hub.services.context import ServiceContext
from hub.store import UnitOfWork
from hub.text.renderings import raise_problems, renderings, too_long
from hub.text.template import check_template

#: What stops one town's texts: those that fail to render, and those too long.
TownProblems = Callable[[Town, list[Account]], tuple[list[UnissonError], list[UnissonError]]]


@dataclass(frozen=True, slots=True)
class NewVersion:
    announcement: Announcement
    #: Towns that had signed the previous version and must sign again.
    reset: list[Town]


async def get_announcement(uow: UnitOfWork, announcement_id: int, *, for_update: bool = False) -> Announcement:
    announcement = await uow.announcements.get(announcement_id, for_update=for_update)
    if announcement is None:
        raise NotFound("error.announcement.unknown", id=str(announcement_id))
    return announcement


async def coordinated(context: ServiceContext, uow: UnitOfWork, actor_id: str, coalition_id: int) -> Coalition:
    """The coalition, if ``actor_id`` coordinates it."""
    coalition = await get_coalition(uow, coalition_id)
    permissions.require_coordinator(await context.actor(uow, actor_id), coalition.id, coalition.name)
    return coalition


async def coordinated_announcement(
    context: ServiceContext, uow: UnitOfWork, actor_id: str, announcement_id: int, *, for_update: bool = False
) -> Announcement:
    """The announcement, if ``actor_id`` coordinates its coalition."""
    announcement = await get_announcement(uow, announcement_id, for_update=for_update)
    await coordinated(context, uow, actor_id, announcement.coalition_id)
    return announcement


async def editable(context: ServiceContext, uow: UnitOfWork, actor_id: str, announcement_id: int) -> Announcement:
    """The announcement, locked for this transaction, if ``actor_id`` may change its wording now."""
    announcement = await coordinated_announcement(context, uow, actor_id, announcement_id, for_update=True)
    lifecycle.apply(Action.EDIT, announcement.state)
    return announcement


async def save_version(
    uow: UnitOfWork,
    actor_id: str,
    announcement: Announcement,
    wording: Wording,
    media: tuple[ImageRef, bytes] | None = None,
) -> NewVersion:
    """Stores ``wording`` as the next version; every town that had signed must sign again."""
    digest = content_hash(wording)
    if announcement.current_version and digest == announcement.current_version.content_hash:
        raise Conflict("error.announcement.same_wording")
    await check_wording(uow, announcement.coalition_id, wording)
    if media is not None:
        await uow.media.put(*media)
    version = await uow.announcements.add_version(announcement.id, wording, digest, actor_id)
    reset_ids = await uow.signons.reset_signed(announcement.id)
    details = {"content_hash": digest, "signons_reset": len(reset_ids)}
    await record_decision(uow, actor_id, "announcement.edit", announcement, version.number, details=details)
    reset = [t for t in await uow.towns.list(announcement.coalition_id) if t.id in set(reset_ids)]
    return NewVersion(await get_announcement(uow, announcement.id), reset)


async def check_wording(uow: UnitOfWork, coalition_id: int, wording: Wording) -> None:
    """Every member town's text must render and fit every platform it posts to."""
    for text in (wording.text, *wording.variants.values()):
        if not text.strip():
            raise InvalidInput("error.announcement.empty_text")
        check_template(text)
    await check_every_town(uow, coalition_id, lambda town, linked: _problems(town, wording, linked))


async def check_every_town(uow: UnitOfWork, coalition_id: int, problems: TownProblems) -> None:
    """Raises every member town's ``problems`` (texts that fail to render, then texts too long) at once."""
    towns = await uow.towns.list(coalition_id)
    accounts = await uow.accounts.of_towns(t.id for t in towns)
    missing: list[UnissonError] = []
    over: list[UnissonError] = []
    for town in towns:
        unrendered, too_long_here = problems(town, accounts.get(town.id, []))
        missing += unrendered
        over += too_long_here
    raise_problems(missing, over)


def _problems(town: Town, wording: Wording, linked: list[Account]) -> tuple[list[UnissonError], list[UnissonError]]:
    texts, unrendered = renderings(town, None, wording, linked)
    return unrendered, too_long(town, texts)


async def record_decision(
    uow: UnitOfWork,
    actor_id: str,
    action: str,
    announcement: Announcement,
    number: int | None = None,
    *,
    town_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Appends a decision about ``announcement`` to the audit log, for version ``number`` (by default the
    announcement's current one)."""
    await uow.audit.append(
        actor_id,
        action,
        coalition_id=announcement.coalition_id,
        announcement_id=announcement.id,
        town_id=town_id,
        version_number=number if number is not None else version_number(announcement),
        details=details,
    )
