"""An announcement's follow-up (a second text each town posts in thread, as a reply to its own post), and
pinning each town's post on its profile.

``!suite N`` with the text on the following lines sets the follow-up (without a text, removes it);
``!variante-suite N bluesky|mastodon`` gives one network its own. Like a new wording, a change asks the towns
that had signed to sign again: the follow-up is posted in their name. ``!epingler N [non]`` pins each post.
The card shows both and ``!apercu`` counts the follow-up per town.
"""

from __future__ import annotations

from bot.commands.announcements.drafting import call_to_sign_again
from bot.commands.announcements.shared import NUMBER, announcement_of, help_key, refresh, say
from bot.context import Request
from bot.reactions import SIGNED, forget_reactions
from bot.registry import Argument, Arguments, Audience, command
from bot.render import Reply
from hub.domain.model import Platform
from hub.services.thread_rules import FollowupChange


@command(
    "suite",
    english="followup",
    arguments=(NUMBER, Argument("announce.text", optional=True, rest=True)),
    audience=Audience.COORDINATOR,
    summary=help_key("suite"),
    details="bot.announce.help.suite.details",
)
async def followup(request: Request, args: Arguments) -> Reply:
    """Sets the follow-up posted in thread under each town's post; without a text, removes it."""
    announcement = await announcement_of(request, args)
    text = args.optional_text("announce.text")
    return await _changed(request, await request.hub.threads.set_followup(request.sender, announcement.id, text))


@command(
    "variante-suite",
    english="followup-variant",
    arguments=(
        NUMBER,
        Argument("platform", choices=("bluesky", "mastodon")),
        Argument("announce.text", optional=True, rest=True),
    ),
    audience=Audience.COORDINATOR,
    summary=help_key("variante-suite"),
)
async def followup_variant(request: Request, args: Arguments) -> Reply:
    """The follow-up's own text on one network; without a text, that network gets the common one again."""
    announcement = await announcement_of(request, args)
    platform, text = Platform(args.text("platform")), args.optional_text("announce.text")
    change = await request.hub.threads.set_followup(request.sender, announcement.id, text, platform)
    return await _changed(request, change)


@command(
    "epingler",
    english="pin",
    aliases=("épingler",),
    arguments=(NUMBER, Argument("pin.choice", choices=("oui", "non", "yes", "no"), optional=True)),
    audience=Audience.COORDINATOR,
    summary=help_key("epingler"),
    details="bot.announce.help.epingler.details",
)
async def pin(request: Request, args: Arguments) -> Reply:
    """Pins each town's post on its profile (``non``: not any more); the previous pin returns on retraction."""
    announcement = await announcement_of(request, args)
    wanted = (args.optional_text("pin.choice") or "oui") in ("oui", "yes")
    announcement = await request.hub.threads.set_pin(request.sender, announcement.id, wanted)
    await refresh(request, announcement.id)
    return say(request, "bot.pin.on" if wanted else "bot.pin.off", announcement)


async def _changed(request: Request, change: FollowupChange) -> Reply:
    """Cards edited; the towns whose signature lapsed asked to sign again."""
    announcement = change.announcement
    await forget_reactions(request.hub, announcement.id, {t.id for t in change.reset}, SIGNED)
    await refresh(request, announcement.id)
    key = "bot.followup.set" if change.followup is not None else "bot.followup.removed"
    if not change.reset:
        return say(request, key, announcement)
    number = announcement.current_version.number if announcement.current_version else 0
    await call_to_sign_again(request, announcement, number, change.reset)
    return say(request, f"{key}.reset", announcement, count=len(change.reset))
