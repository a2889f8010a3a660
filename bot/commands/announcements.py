"""Joint announcements in the coalition's room: propose, reword, schedule, preview, lock, sign on, remind.

Each command translates the message into one call of :mod:`hub.services.announcements` and its result into
an answer; the rules (who may, in which state, what fits) live in the hub. After every change the
announcement's card is edited in place (:mod:`bot.card`). Long texts go on the lines after the command::

    !annonce Départ de X
    {ville} quitte X ! Suivez-nous sur {site}
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from bot.card import RESIGN, post_card, refresh_cards
from bot.context import Request
from bot.pages import add_status_links
from bot.reactions import SIGNED, forget_reactions, note_decision
from bot.registry import Argument, Arguments, Audience, command
from bot.render import MAX_CONTENT_BYTES, Reply, Rich, batches, paginate_list, shorten
from hub.domain import lifecycle, permissions
from hub.domain.lifecycle import Action
from hub.domain.model import Announcement, AnnouncementMessage, Coalition, Platform, SignOn, SignOnState, Town
from hub.errors import InvalidInput, NotFound
from hub.i18n import format_instant, translate
from hub.services.announcements import HeldImage, NewVersion
from hub.text.fit import PreviewLine

NUMBER = Argument("announce.number", number=True)
#: At most this many towns on one page of ``!etat``.
STATUS_LINES = 100
#: A reason is shown up to this many characters in ``!etat`` (a page of the list must stay under the limit).
_MAX_REASON = 1_000
#: What one page of ``!etat``'s list may weigh: its heading (with a title of up to 200 characters), the
#: command for the next page and the message's own keys take less than the 3,000 bytes left.
_STATUS_ROOM = MAX_CONTENT_BYTES - 3_000
_DEADLINE = re.compile(r"\s+(?:limite|deadline|date\s+limite)\s+", re.IGNORECASE)
_OPTIONS = {
    "--remplacement": "overrides",
    "--overrides": "overrides",
    "--brouillon": "draft",
    "--draft": "draft",
}
_LANGUAGE_OPTIONS = ("--langue=", "--language=")
_ICONS = {SignOnState.SIGNED: "✅", SignOnState.DECLINED: "❌", SignOnState.PENDING: "⏳"}


@dataclass(frozen=True, slots=True)
class _StateAndPage(Argument):
    """``[signé|refusé|en-attente] [page]``, read by :func:`_state_and_page`.

    One argument for both, because a state may be two words (``en attente``) and either may be left out.
    """

    def usage(self, lang: str) -> str:
        states = "|".join(_state_word(state, lang) for state in _STATES)
        return f"[{states}] [{translate('bot.arg.announce.page', lang)}]"


def _help(name: str) -> str:
    return f"bot.announce.help.{name}"


# --- the coordinator's commands ---------------------------------------------------------------------------


@command(
    "annonce",
    english="announce",
    arguments=(Argument("announce.title", rest=True),),
    audience=Audience.COORDINATOR,
    summary=_help("annonce"),
    details="bot.announce.help.annonce.details",
)
async def announce(request: Request, args: Arguments) -> Reply:
    """Proposes an announcement: title on the command line, wording on the following lines; posts its card."""
    coalition = _coalition(request)
    first, text = args.lines("announce.title")
    options, title = _options(first)
    announcement = await request.hub.announcements.propose(
        request.sender,
        coalition.id,
        title,
        text,
        language=options.get("language"),
        allow_overrides="overrides" in options,
        draft="draft" in options,
    )
    await post_card(request.hub, request.matrix(), request.room_id, announcement.id, request.prefix)
    key = "bot.announce.created.draft" if "draft" in options else "bot.announce.created"
    return _say(request, key, announcement)


@command("ouvrir", english="open", arguments=(NUMBER,), audience=Audience.COORDINATOR, summary=_help("ouvrir"))
async def open_(request: Request, args: Arguments) -> Reply:
    """Opens a draft for sign-on."""
    announcement = await _announcement(request, args)
    announcement = await request.hub.announcements.open(request.sender, announcement.id)
    await _refresh(request, announcement.id)
    return _say(request, "bot.announce.opened", announcement)


@command(
    "modifier",
    english="edit",
    arguments=(NUMBER, Argument("announce.text", rest=True)),
    audience=Audience.COORDINATOR,
    summary=_help("modifier"),
)
async def edit(request: Request, args: Arguments) -> Reply:
    """A new wording: a new version; towns that had signed are asked to sign again."""
    announcement = await _announcement(request, args)
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
    summary=_help("variante"),
)
async def variant(request: Request, args: Arguments) -> Reply:
    """A shorter text for one network; without a text, the variant is removed."""
    announcement = await _announcement(request, args)
    platform = Platform(args.text("platform"))
    text = args.optional_text("announce.text")
    result = await request.hub.announcements.set_variant(request.sender, announcement.id, platform, text)
    return await _new_version(request, result)


@command(
    "image",
    arguments=(NUMBER, Argument("announce.alt", rest=True)),
    audience=Audience.COORDINATOR,
    summary=_help("image"),
    details="bot.announce.help.image.details",
)
async def image(request: Request, args: Arguments) -> Reply:
    """Attaches the image this command replies to, with its alt text."""
    announcement = await _announcement(request, args)
    data = await request.matrix().replied_image(request.room_id, request.event_id)
    alt = args.text("announce.alt")
    result = await request.hub.announcements.add_image(request.sender, announcement.id, data, alt)
    return await _new_version(request, result)


@command(
    "alt",
    arguments=(NUMBER, Argument("announce.position", number=True), Argument("announce.alt", rest=True)),
    audience=Audience.COORDINATOR,
    summary=_help("alt"),
    details="bot.announce.help.alt.details",
)
async def alt(request: Request, args: Arguments) -> Reply:
    """Changes the alt text of one image, or gives it to an image posted in reply to the card (attaching it)."""
    announcement = await _announcement(request, args)
    position, text = args.number("announce.position"), args.text("announce.alt")
    result = await request.hub.announcements.set_alt(request.sender, announcement.id, position, text)
    return await _new_version(request, result)


@command(
    "retirer-image",
    english="remove-image",
    arguments=(NUMBER, Argument("announce.position", number=True)),
    audience=Audience.COORDINATOR,
    summary=_help("retirer-image"),
)
async def remove_image(request: Request, args: Arguments) -> Reply:
    """Removes an attached image (a new version), or drops one still waiting for its alt text."""
    announcement = await _announcement(request, args)
    result = await request.hub.announcements.remove_image(
        request.sender, announcement.id, args.number("announce.position")
    )
    if isinstance(result, HeldImage):
        return _say(request, "bot.announce.held.dropped", announcement, position=result.position)
    return await _new_version(request, result)


@command(
    "programmer",
    english="schedule",
    arguments=(NUMBER, Argument("announce.when", rest=True)),
    audience=Audience.COORDINATOR,
    summary=_help("programmer"),
    details="bot.announce.help.programmer.details",
)
async def schedule(request: Request, args: Arguments) -> Reply:
    """Sets the publication date (and the sign-on deadline), echoing both in full."""
    announcement = await _announcement(request, args)
    publish, deadline = _split_deadline(args.text("announce.when"))
    announcement = await request.hub.announcements.schedule(
        request.sender, announcement.id, publish, deadline, lang=request.lang
    )
    await _refresh(request, announcement.id)
    rich = Rich().text(_text(request, "bot.announce.scheduled", announcement, when=_when(announcement, request.lang)))
    if announcement.deadline is not None:
        when = format_instant(announcement.deadline, announcement.timezone, request.lang)
        rich.line().text(translate("bot.announce.scheduled.deadline", request.lang, when=when))
    return rich.build()


@command(
    "verrouiller",
    english="lock",
    arguments=(NUMBER,),
    audience=Audience.COORDINATOR,
    summary=_help("verrouiller"),
)
async def lock(request: Request, args: Arguments) -> Reply:
    """Freezes what will be posted; says how many posts will go out and which towns have no account."""
    announcement = await _announcement(request, args)
    result = await request.hub.announcements.lock(request.sender, announcement.id)
    await _refresh(request, announcement.id)
    locked = result.announcement
    rich = Rich().text(
        _text(request, "bot.announce.locked", locked, count=result.deliveries, when=_when(locked, request.lang))
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
    summary=_help("deverrouiller"),
)
async def unlock(request: Request, args: Arguments) -> Reply:
    announcement = await _announcement(request, args)
    announcement = await request.hub.announcements.unlock(request.sender, announcement.id)
    await _refresh(request, announcement.id)
    return _say(request, "bot.announce.unlocked", announcement)


@command("annuler", english="cancel", arguments=(NUMBER,), audience=Audience.COORDINATOR, summary=_help("annuler"))
async def cancel(request: Request, args: Arguments) -> Reply:
    announcement = await _announcement(request, args)
    announcement = await request.hub.announcements.cancel(request.sender, announcement.id)
    await _refresh(request, announcement.id)
    return _say(request, "bot.announce.cancelled", announcement)


@command(
    "relancer",
    english="remind",
    arguments=(NUMBER,),
    audience=Audience.COORDINATOR,
    summary=_help("relancer"),
)
async def remind(request: Request, args: Arguments) -> Reply:
    """Mentions the officers of the towns that have not answered yet."""
    announcement = await _announcement(request, args)
    coalition = _coalition(request)
    permissions.require_coordinator(await request.hub.whois(request.sender), coalition.id, coalition.name)
    lifecycle.apply(Action.SIGN, announcement.state)
    board = await request.hub.announcements.board(announcement.id)
    pending = board.with_state(SignOnState.PENDING)
    if not pending:
        return _say(request, "bot.announce.remind.nobody", announcement)
    reached = [s.town for s in pending if board.officers.get(s.town.id)]
    unreachable = [s.town for s in pending if not board.officers.get(s.town.id)]
    lines = [_officers_line(t, board.officers[t.id]) for t in reached]
    lines += [_no_officer_line(t, request.lang) for t in unreachable]
    tail = translate("bot.announce.remind.no_officer", request.lang) if unreachable else ""
    head = Rich().text(_text(request, "bot.announce.remind", announcement))
    pages = paginate_list(
        head, lines, lambda: Rich().text(_text(request, "bot.announce.remind.continued", announcement)), tail
    )
    return _answer_in_pages(request, pages)


# --- reading -------------------------------------------------------------------------------------------------


@command("agenda", english="announcements", summary=_help("agenda"))
async def agenda(request: Request, args: Arguments) -> Reply:
    """The announcements of this room's coalition, newest first, with their state and date."""
    coalition = _coalition(request)
    announcements = await request.hub.announcements.list(coalition.id)
    if not announcements:
        return Reply.text(translate("bot.announce.agenda.empty", request.lang, prefix=request.prefix))
    heading = translate("bot.announce.agenda.heading", request.lang, coalition=coalition.name)
    lines = [_agenda_line(a, request.lang) for a in sorted(announcements, key=lambda a: -a.id)]
    return Rich().strong(heading).items(lines).build()


@command(
    "etat",
    english="status",
    aliases=("état",),
    arguments=(NUMBER, _StateAndPage("announce.state_page", optional=True, rest=True)),
    summary=_help("etat"),
    details="bot.announce.help.etat.details",
)
async def status(request: Request, args: Arguments) -> Reply:
    """Where the member towns stand — all, or those in one state — one page of the list at a time."""
    announcement = await _announcement(request, args)
    state, page = _state_and_page(request, announcement, args.optional_text("announce.state_page"))
    board = await request.hub.announcements.board(announcement.id)
    signons = board.signons if state is None else board.with_state(state)
    groups = batches((_status_line(s, request.lang) for s in signons), _STATUS_ROOM, STATUS_LINES) or [[]]
    if not 1 <= page <= len(groups):
        last = _status_command(request, announcement, state, len(groups))
        raise InvalidInput("bot.announce.status.no_page", page=page, pages=len(groups), last=last)
    key = "bot.announce.status.heading" if state is None else f"bot.announce.status.heading.{state.value}"
    heading = _text(request, key, announcement, count=len(signons))
    if len(groups) > 1:
        heading += translate("bot.announce.status.page", request.lang, page=page, pages=len(groups))
    rich = Rich().strong(heading).items(groups[page - 1])
    if not signons:
        rich.line().text(translate("bot.announce.status.empty", request.lang))
    elif page < len(groups):
        command = _status_command(request, announcement, state, page + 1)
        rich.text(translate("bot.announce.status.next", request.lang, command=command))
    table = request.prefix if request.audience >= Audience.COORDINATOR else None
    return add_status_links(rich, request.hub.settings, announcement, request.lang, table).build()


@command(
    "apercu",
    english="preview",
    aliases=("aperçu",),
    arguments=(NUMBER, Argument("announce.town", optional=True, rest=True)),
    summary=_help("apercu"),
)
async def preview(request: Request, args: Arguments) -> Reply:
    """Each town's text as it will be posted, with its length against each network's limit."""
    announcement = await _announcement(request, args)
    town = await _town(request, args.optional_text("announce.town"))
    lines = await request.hub.announcements.preview(announcement.id, town.id if town else None)
    rich = Rich().strong(_text(request, "bot.announce.preview.heading", announcement))
    return rich.items(_preview_line(line, request.lang) for line in lines).build()


# --- the officers' commands ---------------------------------------------------------------------------------


@command(
    "signer",
    english="sign",
    arguments=(NUMBER, Argument("announce.town", optional=True, rest=True)),
    audience=Audience.OFFICER,
    summary=_help("signer"),
    details="bot.announce.help.signer.details",
)
async def sign(request: Request, args: Arguments) -> Reply:
    """Signs for the officer's town (named on the command line if they have several); own text below."""
    announcement = await _announcement(request, args)
    first, override = args.lines("announce.town")
    town = await _town(request, first)
    signon = await request.hub.announcements.sign(
        request.sender, announcement.id, town.id if town else None, override or None
    )
    await note_decision(request.hub, None, announcement.id, signon.town.id)
    await _refresh(request, announcement.id)
    return _say(request, "bot.announce.signed", announcement, town=signon.town.name)


@command(
    "refuser",
    english="decline",
    arguments=(NUMBER, Argument("announce.reason", optional=True, rest=True)),
    audience=Audience.OFFICER,
    summary=_help("refuser"),
    details="bot.announce.help.refuser.details",
)
async def decline(request: Request, args: Arguments) -> Reply:
    """Declines for the officer's town, with an optional reason."""
    announcement = await _announcement(request, args)
    town, reason = await _town_and_reason(request, *args.lines("announce.reason"))
    signon = await request.hub.announcements.decline(
        request.sender, announcement.id, town.id if town else None, reason or None
    )
    await note_decision(request.hub, None, announcement.id, signon.town.id)
    await _refresh(request, announcement.id)
    return _say(request, "bot.announce.declined", announcement, town=signon.town.name)


# --- shared steps -------------------------------------------------------------------------------------------


def _coalition(request: Request) -> Coalition:
    if request.coalition is None:
        raise InvalidInput("bot.announce.no_coalition")
    return request.coalition


async def _announcement(request: Request, args: Arguments) -> Announcement:
    """Announcement number N, which must belong to this room's coalition."""
    coalition = _coalition(request)
    number = args.number("announce.number")
    announcement = await request.hub.announcements.get(number)
    if announcement.coalition_id != coalition.id:
        raise NotFound("bot.announce.elsewhere", id=str(number), prefix=request.prefix)
    return announcement


async def _refresh(request: Request, announcement_id: int) -> None:
    await refresh_cards(request.hub, request.matrix(), announcement_id, request.prefix)


async def _new_version(request: Request, result: NewVersion) -> Reply:
    """After any change of wording: cards edited, and the towns whose signature lapsed asked to sign again."""
    announcement = result.announcement
    await forget_reactions(request.hub, announcement.id, {t.id for t in result.reset}, SIGNED)
    await _refresh(request, announcement.id)
    number = announcement.current_version.number if announcement.current_version else 0
    if not result.reset:
        return _say(request, "bot.announce.new_version", announcement, version=number)
    await _call_to_sign_again(request, announcement, number, result.reset)
    return _say(request, "bot.announce.new_version.reset", announcement, version=number, count=len(result.reset))


async def _call_to_sign_again(request: Request, announcement: Announcement, version: int, towns: list[Town]) -> None:
    """Mentions the officers of ``towns`` in a message they can react to, as they would to the card."""
    board = await request.hub.announcements.board(announcement.id)
    lang = board.coalition.language
    about = {"id": str(announcement.id), "title": announcement.title, "version": version}
    head = Rich().text(translate("bot.announce.resign", lang, **about))
    lines = [_officers_line(t, board.officers.get(t.id, [])) for t in towns]
    how = translate("bot.announce.resign.how", lang, prefix=request.prefix, id=str(announcement.id))
    for page in paginate_list(
        head, lines, lambda: Rich().text(translate("bot.announce.resign.continued", lang, **about)), how
    ):
        # Every part is a message to react to, as the card is: each is remembered.
        event_id = await request.matrix().send(request.room_id, page)
        message = AnnouncementMessage(announcement.id, request.room_id, event_id, RESIGN)
        await request.hub.announcements.remember_message(message)


def _answer_in_pages(request: Request, pages: list[Reply]) -> Reply:
    """An answer in several messages: all but the last are queued now, in reply to the command; the last is the
    handler's answer, queued after them."""
    for page in pages[:-1]:
        request.matrix().post(request.room_id, page, in_reply_to=request.event_id, to=request.sender)
    return pages[-1]


async def _town(request: Request, text: str | None) -> Town | None:
    """The member town named by ``text`` (its name or official code), or None when nothing is named."""
    if not text or not text.strip():
        return None
    return await request.hub.towns.find(text.strip(), _coalition(request).id)


async def _town_and_reason(request: Request, first: str, below: str) -> tuple[Town | None, str]:
    """``!refuser N [ville] raison``: the command line names a town only if it is exactly one of the members."""
    whole = f"{first}\n{below}".strip()
    try:
        town = await _town(request, first)
    except (NotFound, InvalidInput):
        return None, whole
    return (town, below) if town else (None, whole)


def _options(line: str) -> tuple[dict[str, str], str]:
    """Leading ``--options`` of the title line, and the title after them."""
    options: dict[str, str] = {}
    words = line.split()
    while words and words[0].startswith("--"):
        word = words.pop(0)
        lowered = word.casefold()
        if lowered in _OPTIONS:
            options[_OPTIONS[lowered]] = "yes"
        elif lowered.startswith(_LANGUAGE_OPTIONS):
            options["language"] = lowered.split("=", 1)[1]
        else:
            known = ", ".join([*_OPTIONS, "--langue=fr|en"])
            raise InvalidInput("bot.announce.option", option=word, known=known)
    return options, " ".join(words)


def _split_deadline(text: str) -> tuple[str, str | None]:
    """``20/01/2026 9h limite 15/01/2026 18h`` → the publication date and the deadline."""
    parts = _DEADLINE.split(text.strip(), maxsplit=1)
    return parts[0], parts[1] if len(parts) > 1 else None


def _say(request: Request, key: str, announcement: Announcement, **params: object) -> Reply:
    return Reply.text(_text(request, key, announcement, **params))


def _text(request: Request, key: str, announcement: Announcement, **params: object) -> str:
    """A message about ``announcement`` with its number, title and the command prefix filled in."""
    return translate(
        key, request.lang, id=str(announcement.id), title=announcement.title, prefix=request.prefix, **params
    )


def _when(announcement: Announcement, lang: str) -> str:
    if announcement.publish_at is None:
        return translate("bot.announce.not_scheduled", lang)
    return format_instant(announcement.publish_at, announcement.timezone, lang)


def _names(towns: Iterable[Town]) -> str:
    return ", ".join(t.name for t in towns)


def _officers_line(town: Town, officers: list[str]) -> Rich:
    line = Rich().strong(town.name).text(" : ")
    for index, officer in enumerate(officers):
        line.text(", " if index else "").mention(officer)
    return line


def _no_officer_line(town: Town, lang: str) -> Rich:
    return Rich().strong(town.name).text(" : " + translate("bot.announce.remind.nobody_to_tell", lang))


def _agenda_line(announcement: Announcement, lang: str) -> Rich:
    state = translate(f"state.{announcement.state.value}", lang)
    return Rich().strong(f"n°{announcement.id} {announcement.title}").text(f" — {state} — {_when(announcement, lang)}")


def _status_line(signon: SignOn, lang: str) -> Rich:
    line = Rich().text(f"{_ICONS[signon.state]} ").strong(signon.town.name).text(" — ")
    if signon.state is SignOnState.SIGNED:
        return line.text(translate("bot.announce.status.signed", lang, version=signon.version_number or 0))
    if signon.state is SignOnState.DECLINED:
        key = "bot.announce.status.declined.reason" if signon.reason else "bot.announce.status.declined"
        return line.text(translate(key, lang, reason=shorten(signon.reason or "", _MAX_REASON)))
    if signon.previous_version_number:
        return line.text(translate("bot.announce.status.resign", lang, version=signon.previous_version_number))
    return line.text(translate("bot.announce.status.pending", lang))


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


# --- !etat's state and page ----------------------------------------------------------------------------------


def _state_and_page(request: Request, announcement: Announcement, text: str | None) -> tuple[SignOnState | None, int]:
    """``signés 2``, ``en attente``, ``Refusé``, ``3`` → the state asked for (None: every town) and the page."""
    words = (text or "").split()
    page = int(words.pop()) if words and words[-1].isdecimal() else 1
    wanted = _folded("".join(words))
    state = next((s for s, forms in _STATE_FORMS.items() if wanted in forms or wanted.removesuffix("s") in forms), None)
    if words and state is None:
        example = _status_command(request, announcement, SignOnState.SIGNED, 2)
        raise InvalidInput("bot.announce.status.filter", words=text or "", example=example)
    return state, page


def _status_command(request: Request, announcement: Announcement, state: SignOnState | None, page: int) -> str:
    """``!etat 3 signé 2`` in the language of the request."""
    declared = request.registry.find("etat")
    name = declared.shown_name(request.lang) if declared else "etat"
    words = [f"{request.prefix}{name}", str(announcement.id)]
    if state is not None:
        words.append(_state_word(state, request.lang))
    return " ".join([*words, str(page)])


def _state_word(state: SignOnState, lang: str) -> str:
    return translate(f"bot.announce.status.word.{state.value}", lang)


def _folded(text: str) -> str:
    """Lower case, without accents, hyphens or apostrophes: ``En-Attente`` → ``enattente``."""
    decomposed = unicodedata.normalize("NFD", text.casefold())
    return "".join(c for c in decomposed if c.isalnum() and not unicodedata.combining(c))


_STATES = (SignOnState.SIGNED, SignOnState.DECLINED, SignOnState.PENDING)
#: The words for each state, folded (:func:`_folded`), in French and English; a final "s" is also accepted.
_STATE_FORMS = {
    SignOnState.SIGNED: frozenset({"signe", "signee", "signed", "signature"}),
    SignOnState.DECLINED: frozenset({"refuse", "refusee", "refus", "declined", "refused", "decline"}),
    SignOnState.PENDING: frozenset({"enattente", "attente", "pending", "waiting"}),
}
