"""The steps every announcement command takes: find the announcement named by its number in this room's
coalition, edit its cards after a change, and word the answer with its number and title."""

from __future__ import annotations

from bot.card import refresh_cards
from bot.context import Request
from bot.registry import Argument, Arguments
from bot.render import Reply, Rich
from hub.domain.model import Announcement, Coalition, Town
from hub.errors import InvalidInput, NotFound
from hub.i18n import format_instant, translate

NUMBER = Argument("announce.number", number=True)


def help_key(name: str) -> str:
    """The catalog key of the one-line help of announcement command ``name``."""
    return f"bot.announce.help.{name}"


def coalition_of(request: Request) -> Coalition:
    """The coalition of the room the command was said in; announcements live only there."""
    if request.coalition is None:
        raise InvalidInput("bot.announce.no_coalition")
    return request.coalition


async def announcement_of(request: Request, args: Arguments) -> Announcement:
    """Announcement number N, which must belong to this room's coalition."""
    coalition = coalition_of(request)
    number = args.number("announce.number")
    announcement = await request.hub.announcements.get(number)
    if announcement.coalition_id != coalition.id:
        raise NotFound("bot.announce.elsewhere", id=str(number), prefix=request.prefix)
    return announcement


async def refresh(request: Request, announcement_id: int) -> None:
    await refresh_cards(request.hub, request.matrix(), announcement_id, request.prefix)


def say(request: Request, key: str, announcement: Announcement, **params: object) -> Reply:
    return Reply.text(about(request, key, announcement, **params))


def about(request: Request, key: str, announcement: Announcement, **params: object) -> str:
    """A message about ``announcement`` with its number, title and the command prefix filled in."""
    return translate(
        key, request.lang, id=str(announcement.id), title=announcement.title, prefix=request.prefix, **params
    )


def publish_date(announcement: Announcement, lang: str) -> str:
    """The publication date, or that none is set yet."""
    if announcement.publish_at is None:
        return translate("bot.announce.not_scheduled", lang)
    return format_instant(announcement.publish_at, announcement.timezone, lang)


def officers_line(town: Town, officers: list[str]) -> Rich:
    """``Pantin : @a, @b`` — the town and a mention of each of its officers."""
    line = Rich().strong(town.name).text(" : ")
    for index, officer in enumerate(officers):
        line.text(", " if index else "").mention(officer)
    return line
