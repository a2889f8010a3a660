"""A town's part: each town's text as it will be posted, then its officers sign it or decline."""

from __future__ import annotations

from bot.commands.announcements.shared import NUMBER, about, announcement_of, coalition_of, help_key, refresh, say
from bot.context import Request
from bot.quorum import add_quorum
from bot.reactions import note_decision
from bot.registry import Argument, Arguments, Audience, command
from bot.render import Reply, Rich
from hub.domain.model import Town
from hub.errors import InvalidInput, NotFound
from hub.i18n import translate
from hub.text.fit import PreviewLine


@command(
    "apercu",
    english="preview",
    aliases=("aperçu",),
    arguments=(NUMBER, Argument("announce.town", optional=True, rest=True)),
    summary=help_key("apercu"),
)
async def preview(request: Request, args: Arguments) -> Reply:
    """Each town's text (and follow-up) as it will be posted, with its length against each network's limit."""
    announcement = await announcement_of(request, args)
    town = await _town(request, args.optional_text("announce.town"))
    lines = await request.hub.announcements.preview(announcement.id, town.id if town else None)
    rich = Rich().strong(about(request, "bot.announce.preview.heading", announcement))
    add_quorum(rich, announcement, await request.hub.quorum.tally(announcement.id), request.lang)
    if (await request.hub.threads.rules(announcement.id)).pin:
        rich.line().text(translate("bot.pin.card", request.lang))
    rich.items(_preview_line(line, request.lang) for line in lines)
    followups = await request.hub.threads.preview(announcement.id, town.id if town else None)
    if followups:  # the follow-up each town posts in thread, counted the same way
        rich.strong(about(request, "bot.followup.preview.heading", announcement))
        rich.items(_preview_line(line, request.lang) for line in followups)
    return rich.build()


# --- the officers' commands ---------------------------------------------------------------------------------


@command(
    "signer",
    english="sign",
    arguments=(NUMBER, Argument("announce.town", optional=True, rest=True)),
    audience=Audience.OFFICER,
    summary=help_key("signer"),
    details="bot.announce.help.signer.details",
)
async def sign(request: Request, args: Arguments) -> Reply:
    """Signs for the officer's town (named on the command line if they have several); own text below."""
    announcement = await announcement_of(request, args)
    first, override = args.lines("announce.town")
    town = await _town(request, first)
    signon = await request.hub.announcements.sign(
        request.sender, announcement.id, town.id if town else None, override or None
    )
    await note_decision(request.hub, None, announcement.id, signon.town.id)
    await refresh(request, announcement.id)
    return say(request, "bot.announce.signed", announcement, town=signon.town.name)


@command(
    "refuser",
    english="decline",
    arguments=(NUMBER, Argument("announce.reason", optional=True, rest=True)),
    audience=Audience.OFFICER,
    summary=help_key("refuser"),
    details="bot.announce.help.refuser.details",
)
async def decline(request: Request, args: Arguments) -> Reply:
    """Declines for the officer's town, with an optional reason."""
    announcement = await announcement_of(request, args)
    town, reason = await _town_and_reason(request, *args.lines("announce.reason"))
    signon = await request.hub.announcements.decline(
        request.sender, announcement.id, town.id if town else None, reason or None
    )
    await note_decision(request.hub, None, announcement.id, signon.town.id)
    await refresh(request, announcement.id)
    return say(request, "bot.announce.declined", announcement, town=signon.town.name)


async def _town(request: Request, text: str | None) -> Town | None:
    """The member town named by ``text`` (its name or official code), or None when nothing is named."""
    if not text or not text.strip():
        return None
    return await request.hub.towns.find(text.strip(), coalition_of(request).id)


async def _town_and_reason(request: Request, first: str, below: str) -> tuple[Town | None, str]:
    """``!refuser N [ville] raison``: the command line names a town only if it is exactly one of the members."""
    whole = f"{first}\n{below}".strip()
    try:
        town = await _town(request, first)
    except (NotFound, InvalidInput):
        return None, whole
    return (town, below) if town else (None, whole)


def _preview_line(line: PreviewLine, lang: str) -> Rich:
    size = line.measure
    verdict = "bot.announce.preview.fits" if size.fits else "bot.announce.preview.over"
    counts = translate(
        verdict,
        lang,
        count=size.count,
        limit=size.limit,
        unit=translate(f"bot.announce.unit.{size.unit.value}", lang),
        excess=size.over,
    )
    rich = Rich().strong(f"{line.town_name} · {line.platform.value.capitalize()}").text(f" — {counts}")
    return rich.line().text(line.text)
