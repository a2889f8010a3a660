"""An announcement's quorum: how many towns must sign for it to go out (``!quorum 3 800``, ``50%``, ``aucun``).

It can also be set when proposing (``!annonce --quorum 50% Titre``, see :mod:`.drafting`). The rules live in
:mod:`hub.domain.quorum`; the answer gives the count against the new quorum and, after the deadline, what
the coordinators can do now.
"""

from __future__ import annotations

from bot.commands.announcements.shared import NUMBER, about, announcement_of, help_key, refresh
from bot.context import Request
from bot.quorum import quorum_lines
from bot.registry import Argument, Arguments, Audience, command
from bot.render import Reply, Rich


@command(
    "quorum",
    arguments=(NUMBER, Argument("announce.quorum")),
    audience=Audience.COORDINATOR,
    summary=help_key("quorum"),
    details="bot.announce.help.quorum.details",
)
async def quorum(request: Request, args: Arguments) -> Reply:
    """Sets, changes or removes the quorum; echoes the count against it."""
    announcement = await announcement_of(request, args)
    change = await request.hub.quorum.set(request.sender, announcement.id, args.text("announce.quorum"))
    await refresh(request, announcement.id)
    announcement = change.announcement
    if change.tally is None:
        return Rich().text(about(request, "bot.announce.quorum.removed", announcement)).build()
    line = quorum_lines(announcement, change.tally, request.lang)[0]
    rich = Rich().text(about(request, "bot.announce.quorum.set", announcement, line=line))
    if change.judged:
        key = "bot.announce.quorum.reached_late" if change.tally.met else "bot.announce.quorum.still_missed"
        rich.line().text(about(request, key, announcement))
    return rich.build()
