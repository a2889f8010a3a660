"""Taking an announcement to its date: schedule it, lock or unlock what will be posted, cancel it, and remind the
towns that have not answered yet."""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.commands.announcements.shared import (
    NUMBER,
    about,
    announcement_of,
    coalition_of,
    help_key,
    officers_line,
    publish_date,
    refresh,
    say,
)
from bot.context import Request
from bot.registry import Argument, Arguments, Audience, command
from bot.render import Reply, Rich, paginate_list
from hub.domain import lifecycle, permissions
from hub.domain.lifecycle import Action
from hub.domain.model import SignOnState, Town
from hub.i18n import format_instant, translate

_DEADLINE = re.compile(r"\s+(?:limite|deadline|date\s+limite)\s+", re.IGNORECASE)


@command(
    "programmer",
    english="schedule",
    arguments=(NUMBER, Argument("announce.when", rest=True)),
    audience=Audience.COORDINATOR,
    summary=help_key("programmer"),
    details="bot.announce.help.programmer.details",
)
async def schedule(request: Request, args: Arguments) -> Reply:
    """Sets the publication date (and the sign-on deadline), echoing both in full."""
    announcement = await announcement_of(request, args)
    publish, deadline = _split_deadline(args.text("announce.when"))
    announcement = await request.hub.announcements.schedule(
        request.sender, announcement.id, publish, deadline, lang=request.lang
    )
    await refresh(request, announcement.id)
    date = publish_date(announcement, request.lang)
    rich = Rich().text(about(request, "bot.announce.scheduled", announcement, when=date))
    if announcement.deadline is not None:
        when = format_instant(announcement.deadline, announcement.timezone, request.lang)
        rich.line().text(translate("bot.announce.scheduled.deadline", request.lang, when=when))
    return rich.build()


@command(
    "verrouiller",
    english="lock",
    arguments=(NUMBER,),
    audience=Audience.COORDINATOR,
    summary=help_key("verrouiller"),
)
async def lock(request: Request, args: Arguments) -> Reply:
    """Freezes what will be posted; says how many posts will go out and which towns have no account."""
    announcement = await announcement_of(request, args)
    result = await request.hub.announcements.lock(request.sender, announcement.id)
    await refresh(request, announcement.id)
    locked = result.announcement
    rich = Rich().text(
        about(request, "bot.announce.locked", locked, count=result.deliveries, when=publish_date(locked, request.lang))
    )
    if result.without_account:
        names = _names(result.without_account)
        rich.line().text(translate("bot.announce.locked.without_account", request.lang, towns=names))
    return rich.build()


@command(
    "deverrouiller",
    english="unlock",
    aliases=("déverrouiller",),
    arguments=(NUMBER,),
    audience=Audience.COORDINATOR,
    summary=help_key("deverrouiller"),
)
async def unlock(request: Request, args: Arguments) -> Reply:
    announcement = await announcement_of(request, args)
    announcement = await request.hub.announcements.unlock(request.sender, announcement.id)
    await refresh(request, announcement.id)
    return say(request, "bot.announce.unlocked", announcement)


@command("annuler", english="cancel", arguments=(NUMBER,), audience=Audience.COORDINATOR, summary=help_key("annuler"))
async def cancel(request: Request, args: Arguments) -> Reply:
    announcement = await announcement_of(request, args)
    announcement = await request.hub.announcements.cancel(request.sender, announcement.id)
    await refresh(request, announcement.id)
    return say(request, "bot.announce.cancelled", announcement)


@command(
    "relancer",
    english="remind",
    arguments=(NUMBER,),
    audience=Audience.COORDINATOR,
    summary=help_key("relancer"),
)
async def remind(request: Request, args: Arguments) -> Reply:
    """Mentions the officers of the towns that have not answered yet."""
    announcement = await announcement_of(request, args)
    coalition = coalition_of(request)
    permissions.require_coordinator(await request.hub.whois(request.sender), coalition.id, coalition.name)
    lifecycle.apply(Action.SIGN, announcement.state)
    board = await request.hub.announcements.board(announcement.id)
    pending = board.with_state(SignOnState.PENDING)
    if not pending:
        return say(request, "bot.announce.remind.nobody", announcement)
    reached = [s.town for s in pending if board.officers.get(s.town.id)]
    unreachable = [s.town for s in pending if not board.officers.get(s.town.id)]
    lines = [officers_line(t, board.officers[t.id]) for t in reached]
    lines += [_no_officer_line(t, request.lang) for t in unreachable]
    tail = translate("bot.announce.remind.no_officer", request.lang) if unreachable else ""
    head = Rich().text(about(request, "bot.announce.remind", announcement))
    pages = paginate_list(
        head, lines, lambda: Rich().text(about(request, "bot.announce.remind.continued", announcement)), tail
    )
    return _answer_in_pages(request, pages)


def _answer_in_pages(request: Request, pages: list[Reply]) -> Reply:
    """An answer in several messages: all but the last are queued now, in reply to the command; the last is the
    handler's answer, queued after them."""
    for page in pages[:-1]:
        request.matrix().post(request.room_id, page, in_reply_to=request.event_id, to=request.sender)
    return pages[-1]


def _split_deadline(text: str) -> tuple[str, str | None]:
    """``20/01/2026 9h limite 15/01/2026 18h`` → the publication date and the deadline."""
    parts = _DEADLINE.split(text.strip(), maxsplit=1)
    return parts[0], parts[1] if len(parts) > 1 else None


def _names(towns: Iterable[Town]) -> str:
    return ", ".join(t.name for t in towns)


def _no_officer_line(town: Town, lang: str) -> Rich:
    return Rich().strong(town.name).text(" : " + translate("bot.announce.remind.nobody_to_tell", lang))
