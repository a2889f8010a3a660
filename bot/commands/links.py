"""Links to an announcement's web pages: ``!lien N`` sends a coordinator the status table's link in private,
``!lien N public`` opens the public page before the publication and gives its address to the room.

A new status link replaces the previous one, which stops working (``hub.links``); the pages themselves are
served by the hub (:mod:`hub.web`), at ``UNISSON_PUBLIC_URL``.
"""

from __future__ import annotations

from bot.context import Request
from bot.registry import Argument, Arguments, Audience, command
from bot.render import Reply, Rich
from hub.domain.model import Announcement, Coalition
from hub.errors import InvalidInput, NotFound
from hub.i18n import format_instant, translate
from hub.urls import absolute

NUMBER = Argument("announce.number", number=True)
PUBLIC = "public"


@command(
    "lien",
    english="link",
    arguments=(NUMBER, Argument("links.public", choices=(PUBLIC,), optional=True)),
    audience=Audience.COORDINATOR,
    summary="bot.links.help.lien",
    details="bot.links.help.lien.details",
)
async def link(request: Request, args: Arguments) -> Reply:
    """The status table's new link in a direct message; or, with ``public``, the public page opened early."""
    coalition, announcement = await _announcement(request, args)
    if request.hub.settings.public_url is None:
        raise InvalidInput("bot.links.no_public_url")
    if "links.public" in args:
        path = await request.hub.links.open_public(request.sender, coalition.id, announcement.id)
        url = _url(request, path)
        return Rich().text(_text(request, "bot.links.public", announcement) + " ").text(url).build()
    issued = await request.hub.links.issue(request.sender, coalition.id, announcement.id)
    until = format_instant(issued.expires_at, announcement.timezone, request.lang)
    url = _url(request, issued.path)
    private = Rich().strong(_text(request, "bot.links.direct.title", announcement)).line().text(url).line()
    private.text(_text(request, "bot.links.direct.notice", announcement, until=until))
    await request.matrix().direct(request.sender, private.build())
    return Rich().mention(request.sender).text(" " + _text(request, "bot.links.sent", announcement)).build()


async def _announcement(request: Request, args: Arguments) -> tuple[Coalition, Announcement]:
    """Announcement N of this room's coalition."""
    if request.coalition is None:
        raise InvalidInput("bot.announce.no_coalition")
    number = args.number("announce.number")
    announcement = await request.hub.announcements.get(number)
    if announcement.coalition_id != request.coalition.id:
        raise NotFound("bot.announce.elsewhere", id=str(number), prefix=request.prefix)
    return request.coalition, announcement


def _url(request: Request, path: str) -> str:
    return absolute(request.hub.settings, path) or path


def _text(request: Request, key: str, announcement: Announcement, **params: object) -> str:
    params |= {"id": str(announcement.id), "title": announcement.title, "prefix": request.prefix}
    return translate(key, request.lang, **params)
