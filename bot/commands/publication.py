"""The coordinator's decisions once an announcement is due: publish it late, or retract what was published.

``!publier N`` publishes now an announcement held after an outage (the bot asked in the room);
``!retirer N`` says what a retraction would delete, and ``!retirer N confirmer`` deletes every post of the
announcement. Progress and recaps come from the dispatcher's reports (:mod:`bot.publication`).
"""

from __future__ import annotations

from bot.commands.announcements.shared import NUMBER, announcement_of, refresh, say
from bot.context import Request
from bot.registry import Argument, Arguments, Audience, command
from bot.render import Reply

CONFIRM = Argument("publication.confirm", choices=("confirmer", "confirm"), optional=True)


@command(
    "publier",
    english="publish",
    arguments=(NUMBER,),
    audience=Audience.COORDINATOR,
    summary="bot.publication.help.publier",
)
async def publish(request: Request, args: Arguments) -> Reply:
    """Publishes now an announcement whose instant passed during an outage."""
    announcement = await announcement_of(request, args)
    announcement = await request.hub.dispatch.confirm_late(request.sender, announcement.id)
    await refresh(request, announcement.id)
    return say(request, "bot.publication.published_late", announcement)


@command(
    "retirer",
    english="retract",
    arguments=(NUMBER, CONFIRM),
    audience=Audience.COORDINATOR,
    summary="bot.publication.help.retirer",
    details="bot.publication.help.retirer.details",
)
async def retract(request: Request, args: Arguments) -> Reply:
    """Without the confirmation word, says what would be deleted; with it, deletes every post."""
    announcement = await announcement_of(request, args)
    if "publication.confirm" not in args:
        preview = await request.hub.dispatch.retract_preview(request.sender, announcement.id)
        return say(request, "bot.publication.retract.preview", announcement, posts=preview.posts, towns=preview.towns)
    result = await request.hub.dispatch.retract(request.sender, announcement.id)
    await refresh(request, announcement.id)
    return say(request, "bot.publication.retract.started", result.announcement, posts=result.posts, towns=result.towns)
