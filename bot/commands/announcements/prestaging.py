"""Pre-staging an announcement's Mastodon posts: ``!preparer N [oui|non|defaut]``.

Prepared, each town's Mastodon post is handed to its server at the pre-flight (some minutes before the instant)
as a scheduled post: it goes out at the minute even if the hub is down then. ``defaut`` follows the deployment's
setting. Also set when proposing: ``!annonce --preparer Titre`` or ``--sans-preparation`` (see :mod:`.drafting`).
"""

from __future__ import annotations

from bot.commands.announcements.shared import NUMBER, announcement_of, help_key, refresh, say
from bot.context import Request
from bot.registry import Argument, Arguments, Audience, command
from bot.render import Reply

#: The words of the choice, and what each means (None: the deployment's default).
CHOICES: dict[str, bool | None] = {"oui": True, "yes": True, "non": False, "no": False, "defaut": None, "default": None}


@command(
    "preparer",
    english="prestage",
    aliases=("préparer",),
    arguments=(NUMBER, Argument("prestage.choice", choices=tuple(CHOICES), optional=True)),
    audience=Audience.COORDINATOR,
    summary=help_key("preparer"),
    details="bot.announce.help.preparer.details",
)
async def prestage(request: Request, args: Arguments) -> Reply:
    """Hands the Mastodon posts to their servers ahead of the instant (``non``: not; ``defaut``: as deployed)."""
    announcement = await announcement_of(request, args)
    choice = CHOICES[args.optional_text("prestage.choice") or "oui"]
    announcement = await request.hub.threads.set_prestage(request.sender, announcement.id, choice)
    await refresh(request, announcement.id)
    key = {True: "bot.prestage.on", False: "bot.prestage.off", None: "bot.prestage.default"}[choice]
    return say(request, key, announcement)
