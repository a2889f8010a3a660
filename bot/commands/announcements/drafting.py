"""Drafting an announcement: propose it, open it for sign-on, change its wording, its variants and its images.

Every change of wording is a new version: the cards are edited, and the towns that had signed are asked, by a
message they can react to, to sign again.
"""

from __future__ import annotations

import re

from bot.card import RESIGN, post_card
from bot.commands.announcements.shared import (
    NUMBER,
    announcement_of,
    coalition_of,
    help_key,
    officers_line,
    refresh,
    say,
)
from bot.context import Request
from bot.reactions import SIGNED, forget_reactions
from bot.registry import Argument, Arguments, Audience, command
from bot.render import Reply, Rich, paginate_list
from hub.domain.model import Announcement, AnnouncementMessage, Platform, Town
from hub.errors import InvalidInput
from hub.i18n import translate
from hub.services.editing import NewVersion
from hub.services.images import HeldImage

_OPTIONS = {
    "--remplacement": "overrides",
    "--overrides": "overrides",
    "--brouillon": "draft",
    "--draft": "draft",
    "--epingler": "pin",
    "--épingler": "pin",
    "--pin": "pin",
    "--preparer": "prestage",
    "--préparer": "prestage",
    "--prestage": "prestage",
    "--sans-preparation": "no-prestage",
    "--sans-préparation": "no-prestage",
    "--no-prestage": "no-prestage",
}
_LANGUAGE_OPTIONS = ("--langue=", "--language=")
#: ``--quorum 800``, ``--quorum 50%`` or ``--quorum=50%``: the quorum follows.
_QUORUM_OPTION = "--quorum"
#: ``--suite "texte"`` (or ``--suite="texte"``, or « texte »): the follow-up posted in thread under each post.
_FOLLOWUP_OPTION = re.compile(
    r'--(?:suite|followup)(?:=|\s+)(?:"(?P<straight>[^"]*)"|«(?P<french>[^»]*)»|“(?P<curly>[^”]*)”)\s*', re.IGNORECASE
)


@command(
    "annonce",
    english="announce",
    arguments=(Argument("announce.title", rest=True),),
    audience=Audience.COORDINATOR,
    summary=help_key("annonce"),
    details="bot.announce.help.annonce.details",
)
async def announce(request: Request, args: Arguments) -> Reply:
    """Proposes an announcement: title on the command line, wording on the following lines; posts its card."""
    coalition = coalition_of(request)
    first, text = args.lines("announce.title")
    options, title = _options(first)
    followup = options.get("followup")
    if followup is not None:  # checked first: a refused follow-up must not leave a proposal behind
        await request.hub.threads.check_followup(coalition.id, followup)
    announcement = await request.hub.announcements.propose(
        request.sender,
        coalition.id,
        title,
        text,
        language=options.get("language"),
        allow_overrides="overrides" in options,
        draft="draft" in options,
        quorum=options.get("quorum"),
    )
    if followup is not None:
        await request.hub.threads.set_followup(request.sender, announcement.id, followup)
    if "pin" in options:
        await request.hub.threads.set_pin(request.sender, announcement.id, True)
    if "prestage" in options or "no-prestage" in options:
        await request.hub.threads.set_prestage(request.sender, announcement.id, "prestage" in options)
    await post_card(request.hub, request.matrix(), request.room_id, announcement.id, request.prefix)
    key = "bot.announce.created.draft" if "draft" in options else "bot.announce.created"
    return say(request, key, announcement)


@command("ouvrir", english="open", arguments=(NUMBER,), audience=Audience.COORDINATOR, summary=help_key("ouvrir"))
async def open_(request: Request, args: Arguments) -> Reply:
    """Opens a draft for sign-on."""
    announcement = await announcement_of(request, args)
    announcement = await request.hub.announcements.open(request.sender, announcement.id)
    await refresh(request, announcement.id)
    return say(request, "bot.announce.opened", announcement)


@command(
    "modifier",
    english="edit",
    arguments=(NUMBER, Argument("announce.text", rest=True)),
    audience=Audience.COORDINATOR,
    summary=help_key("modifier"),
)
async def edit(request: Request, args: Arguments) -> Reply:
    """A new wording: a new version; towns that had signed are asked to sign again."""
    announcement = await announcement_of(request, args)
    result = await request.hub.announcements.edit(request.sender, announcement.id, args.text("announce.text"))
    return await _new_version(request, result)


@command(
    "variante",
    english="variant",
    arguments=(
        NUMBER,
        Argument("platform", choices=("bluesky", "mastodon")),
        Argument("announce.text", optional=True, rest=True),
    ),
    audience=Audience.COORDINATOR,
    summary=help_key("variante"),
)
async def variant(request: Request, args: Arguments) -> Reply:
    """A shorter text for one network; without a text, the variant is removed."""
    announcement = await announcement_of(request, args)
    platform = Platform(args.text("platform"))
    text = args.optional_text("announce.text")
    result = await request.hub.announcements.set_variant(request.sender, announcement.id, platform, text)
    return await _new_version(request, result)


@command(
    "image",
    arguments=(NUMBER, Argument("announce.alt", rest=True)),
    audience=Audience.COORDINATOR,
    summary=help_key("image"),
    details="bot.announce.help.image.details",
)
async def image(request: Request, args: Arguments) -> Reply:
    """Attaches the image this command replies to, with its alt text."""
    announcement = await announcement_of(request, args)
    data = await request.matrix().replied_image(request.room_id, request.event_id)
    alt = args.text("announce.alt")
    result = await request.hub.images.add_image(request.sender, announcement.id, data, alt)
    return await _new_version(request, result)


@command(
    "alt",
    arguments=(NUMBER, Argument("announce.position", number=True), Argument("announce.alt", rest=True)),
    audience=Audience.COORDINATOR,
    summary=help_key("alt"),
    details="bot.announce.help.alt.details",
)
async def alt(request: Request, args: Arguments) -> Reply:
    """Changes the alt text of one image, or gives it to an image posted in reply to the card (attaching it)."""
    announcement = await announcement_of(request, args)
    position, text = args.number("announce.position"), args.text("announce.alt")
    result = await request.hub.images.set_alt(request.sender, announcement.id, position, text)
    return await _new_version(request, result)


@command(
    "retirer-image",
    english="remove-image",
    arguments=(NUMBER, Argument("announce.position", number=True)),
    audience=Audience.COORDINATOR,
    summary=help_key("retirer-image"),
)
async def remove_image(request: Request, args: Arguments) -> Reply:
    """Removes an attached image (a new version), or drops one still waiting for its alt text."""
    announcement = await announcement_of(request, args)
    result = await request.hub.images.remove_image(request.sender, announcement.id, args.number("announce.position"))
    if isinstance(result, HeldImage):
        return say(request, "bot.announce.held.dropped", announcement, position=result.position)
    return await _new_version(request, result)


async def _new_version(request: Request, result: NewVersion) -> Reply:
    """After any change of wording: cards edited, and the towns whose signature lapsed asked to sign again."""
    announcement = result.announcement
    await forget_reactions(request.hub, announcement.id, {t.id for t in result.reset}, SIGNED)
    await refresh(request, announcement.id)
    number = announcement.current_version.number if announcement.current_version else 0
    if not result.reset:
        return say(request, "bot.announce.new_version", announcement, version=number)
    await call_to_sign_again(request, announcement, number, result.reset)
    return say(request, "bot.announce.new_version.reset", announcement, version=number, count=len(result.reset))


async def call_to_sign_again(request: Request, announcement: Announcement, version: int, towns: list[Town]) -> None:
    """Mentions the officers of ``towns`` in a message they can react to, as they would to the card."""
    board = await request.hub.announcements.board(announcement.id)
    lang = board.coalition.language
    about = {"id": str(announcement.id), "title": announcement.title, "version": version}
    head = Rich().text(translate("bot.announce.resign", lang, **about))
    lines = [officers_line(t, board.officers.get(t.id, [])) for t in towns]
    how = translate("bot.announce.resign.how", lang, prefix=request.prefix, id=str(announcement.id))
    for page in paginate_list(
        head, lines, lambda: Rich().text(translate("bot.announce.resign.continued", lang, **about)), how
    ):
        # Every part is a message to react to, as the card is: each is remembered.
        event_id = await request.matrix().send(request.room_id, page)
        message = AnnouncementMessage(announcement.id, request.room_id, event_id, RESIGN)
        await request.hub.announcements.remember_message(message)


def _options(line: str) -> tuple[dict[str, str], str]:
    """Leading ``--options`` of the title line, and the title after them."""
    options: dict[str, str] = {}
    rest = line.strip()
    while rest.startswith("--"):
        quoted = _FOLLOWUP_OPTION.match(rest)
        if quoted is not None:
            options["followup"] = next(v for v in quoted.groupdict().values() if v is not None).strip()
            rest = rest[quoted.end() :]
            continue
        word, _, rest = rest.partition(" ")
        rest = rest.lstrip()
        lowered = word.casefold()
        if lowered in _OPTIONS:
            options[_OPTIONS[lowered]] = "yes"
        elif lowered.startswith(_LANGUAGE_OPTIONS):
            options["language"] = lowered.split("=", 1)[1]
        elif lowered.split("=", 1)[0] == _QUORUM_OPTION:
            options["quorum"], rest = _quorum_option(word, rest)
        else:
            known = ", ".join([*_OPTIONS, "--langue=fr|en", "--quorum 800|50%", '--suite "texte"'])
            raise InvalidInput("bot.announce.option", option=word, known=known)
    return options, " ".join(rest.split())


def _quorum_option(word: str, rest: str) -> tuple[str, str]:
    """The quorum after ``--quorum=`` in ``word``, or the next word of ``rest``; and what is left of ``rest``."""
    if "=" in word:
        value = word.split("=", 1)[1]
    else:
        value, _, rest = rest.partition(" ")
        rest = rest.lstrip()
    if not value:
        raise InvalidInput("bot.announce.option.quorum")
    if rest == "%" or rest.startswith("% "):  # "--quorum 50 %": the sign typed apart, as French writes it
        value, rest = value + "%", rest[1:].lstrip()
    return value, rest
