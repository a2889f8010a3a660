"""Where things stand: ``!agenda``, the announcements of the room's coalition, and ``!etat``, where each member
town stands on one announcement — all of them or those in one state, one page of the list at a time."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from bot.commands.announcements.shared import NUMBER, about, announcement_of, coalition_of, help_key, publish_date
from bot.context import Request
from bot.pages import add_status_links
from bot.quorum import add_quorum, tally_of
from bot.registry import Argument, Arguments, Audience, command
from bot.render import MAX_CONTENT_BYTES, Reply, Rich, batches, shorten
from hub.domain.model import Announcement, SignOn, SignOnState
from hub.errors import InvalidInput
from hub.i18n import translate

#: At most this many towns on one page of ``!etat``.
STATUS_LINES = 100
#: A reason is shown up to this many characters in ``!etat`` (a page of the list must stay under the limit).
_MAX_REASON = 1_000
#: What one page of ``!etat``'s list may weigh: its heading (with a title of up to 200 characters), the
#: command for the next page and the message's own keys take less than the 3,000 bytes left.
_STATUS_ROOM = MAX_CONTENT_BYTES - 3_000
_ICONS = {SignOnState.SIGNED: "✅", SignOnState.DECLINED: "❌", SignOnState.PENDING: "⏳"}


@dataclass(frozen=True, slots=True)
class _StateAndPage(Argument):
    """``[signé|refusé|en-attente] [page]``, read by :func:`_state_and_page`.

    One argument for both, because a state may be two words (``en attente``) and either may be left out.
    """

    def usage(self, lang: str) -> str:
        states = "|".join(_state_word(state, lang) for state in _STATES)
        return f"[{states}] [{translate('bot.arg.announce.page', lang)}]"


@command("agenda", english="announcements", summary=help_key("agenda"))
async def agenda(request: Request, args: Arguments) -> Reply:
    """The announcements of this room's coalition, newest first, with their state and date."""
    coalition = coalition_of(request)
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
    summary=help_key("etat"),
    details="bot.announce.help.etat.details",
)
async def status(request: Request, args: Arguments) -> Reply:
    """Where the member towns stand — all, or those in one state — one page of the list at a time."""
    announcement = await announcement_of(request, args)
    state, page = _state_and_page(request, announcement, args.optional_text("announce.state_page"))
    board = await request.hub.announcements.board(announcement.id)
    signons = board.signons if state is None else board.with_state(state)
    groups = batches((_status_line(s, request.lang) for s in signons), _STATUS_ROOM, STATUS_LINES) or [[]]
    if not 1 <= page <= len(groups):
        last = _status_command(request, announcement, state, len(groups))
        raise InvalidInput("bot.announce.status.no_page", page=page, pages=len(groups), last=last)
    key = "bot.announce.status.heading" if state is None else f"bot.announce.status.heading.{state.value}"
    heading = about(request, key, announcement, count=len(signons))
    if len(groups) > 1:
        heading += translate("bot.announce.status.page", request.lang, page=page, pages=len(groups))
    tally = tally_of(announcement, len(board.with_state(SignOnState.SIGNED)), len(board.signons))
    rich = add_quorum(Rich().strong(heading), announcement, tally, request.lang).items(groups[page - 1])
    if not signons:
        rich.line().text(translate("bot.announce.status.empty", request.lang))
    elif page < len(groups):
        command = _status_command(request, announcement, state, page + 1)
        rich.text(translate("bot.announce.status.next", request.lang, command=command))
    table = request.prefix if request.audience >= Audience.COORDINATOR else None
    return add_status_links(rich, request.hub.settings, announcement, request.lang, table).build()


def _agenda_line(announcement: Announcement, lang: str) -> Rich:
    state = translate(f"state.{announcement.state.value}", lang)
    heading = f"n°{announcement.id} {announcement.title}"
    return Rich().strong(heading).text(f" — {state} — {publish_date(announcement, lang)}")


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
