"""The announcement card: one message in the coalition's room that always shows where an announcement stands.

The card is posted once and then edited in place (``m.replace``) after every change — new wording, schedule,
sign-on, lock — so the room reads one current summary instead of a trail of stale ones. The hub remembers
the card's event id (purpose ``card``), so a restarted bot still edits the same message.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.context import Messenger
from bot.pages import add_packs, add_public_page, public_page
from bot.quorum import add_quorum, tally_of
from bot.render import MAX_CONTENT_BYTES, Reply, Rich, fitting, item_weight, notice_content, shorten, weight
from hub.core import Hub
from hub.domain.model import (
    AnnouncementMessage,
    AnnouncementState,
    SignOn,
    SignOnState,
    SignOnSummary,
    ThreadRules,
    Version,
)
from hub.i18n import format_instant, translate
from hub.services.announcements import Board, BoardSummary
from hub.services.starter_packs import PackLink

log = logging.getLogger(__name__)

#: Purposes of the bot's messages about an announcement, as the hub records them.
CARD = "card"
#: A card asked for and not posted yet: a bot restarted before the homeserver took it posts it then.
CARD_WANTED = "card.wanted"
#: A call to sign a new version again: reactions to it count like reactions to the card.
RESIGN = "signon"
#: Messages whose ✅ / ❌ reactions are sign-on decisions.
SIGN_ON_TARGETS = frozenset({CARD, RESIGN})

_ICONS = {SignOnState.SIGNED: "✅", SignOnState.DECLINED: "❌", SignOnState.PENDING: "⏳"}
#: What an edit adds to twice the card's own weight: ``m.relates_to``, the message type and format twice, "* ".
_EDIT_OVERHEAD = 600
#: The most the card's text may weigh: an edit carries it twice and must stay under the limit.
CARD_BYTES = (MAX_CONTENT_BYTES - _EDIT_OVERHEAD) // 2
#: At most this many towns in each list of a summarised card, so that the room can read it at a glance.
CARD_LINES = 40
#: The card reads every town from the hub up to this many members (more than ever fit in :data:`CARD_BYTES`),
#: to list them all when they fit; beyond, it reads :data:`CARD_LINES` of each state.
CARD_TOWNS = 400
#: Below this much room for the towns, the card shortens the texts it quotes (see :func:`render_card`).
_MIN_ROOM = 2_000
#: Where the card cuts a long text (a refusal's reason always; the wording and alt texts when too heavy).
_SHORT = 200


def render_card(
    view: Board | BoardSummary,
    lang: str,
    prefix: str,
    page: str | None = None,
    rules: ThreadRules | None = None,
    packs: Sequence[PackLink] = (),
) -> Reply:
    """The card of the announcement in ``lang``: what it says, when it goes out, who signed.

    Every member town is listed while they all fit; a larger coalition gets a summary instead — the refusals
    and the latest signatures, as many as fit, and the command that lists every town. The card never weighs
    more than :data:`CARD_BYTES`, so that its edits stay under the limit, plain or encrypted. ``rules``: the
    follow-up each town posts in thread under its post, and whether the post is pinned. ``packs``: the
    coalition's starter packs, linked at the end.
    """
    summary = view.summary(CARD_LINES, CARD_TOWNS) if isinstance(view, Board) else view
    links = _Links(page, tuple(packs))
    cut = None
    if CARD_BYTES - weight(_card(summary, lang, prefix, _Towns(), cut, links, rules)) < _MIN_ROOM:
        cut = _SHORT  # very long quoted texts (four alt texts of 1,500 characters…) leave the towns no room
    room = CARD_BYTES - weight(_card(summary, lang, prefix, _Towns(), cut, links, rules))
    return _card(summary, lang, prefix, _Towns.within(summary, lang, prefix, room), cut, links, rules)


@dataclass(frozen=True, slots=True)
class _Links:
    """What the card links to at its end: the public page (once published) and the starter packs."""

    page: str | None = None
    packs: tuple[PackLink, ...] = ()


def _card(
    summary: BoardSummary,
    lang: str,
    prefix: str,
    towns: _Towns,
    cut: int | None,
    links: _Links,
    rules: ThreadRules | None = None,
) -> Reply:
    announcement = summary.announcement
    version = announcement.current_version
    head = Rich().strong(translate("bot.announce.card.title", lang, id=str(announcement.id), title=announcement.title))
    state = translate(f"state.{announcement.state.value}", lang)
    head.line().text(
        translate("bot.announce.card.version", lang, version=version.number if version else 0, state=state)
    )
    for key, instant in (("publish", announcement.publish_at), ("deadline", announcement.deadline)):
        if instant is not None:
            when = format_instant(instant, announcement.timezone, lang)
            head.line().text(translate(f"bot.announce.card.{key}", lang, when=when))
    wording = Rich().text(_shorten(version.wording.text if version else "", None if cut is None else 10 * cut)).build()
    tail = _rules(_details(version, lang, cut), rules or ThreadRules(), lang, cut)
    if announcement.prestage is not None:  # None: as the deployment says, not worth a line
        tail.text(translate("bot.prestage.card." + ("on" if announcement.prestage else "off"), lang)).line()
    tail.strong(_counts(summary.signons, lang))
    signons = summary.signons
    add_quorum(tail, announcement, tally_of(announcement, signons.count(SignOnState.SIGNED), signons.total), lang)
    towns.add_to(tail)
    if announcement.state is AnnouncementState.OPEN:
        _new_line(tail).text(translate("bot.announce.card.how", lang, prefix=prefix, id=str(announcement.id)))
    add_public_page(tail, links.page, lang)
    add_packs(tail, links.packs, summary.coalition.name, lang)
    first, last = head.build(), tail.build()
    quoted = "\n".join("> " + line for line in wording.plain.splitlines())
    return Reply(
        f"{first.plain}\n{quoted}\n{last.plain}",
        f"{first.html}<blockquote>{wording.html}</blockquote>{last.html}",
    )


def _details(version: Version | None, lang: str, cut: int | None) -> Rich:
    """Variants and images of the current version, one line each."""
    rich = Rich()
    if version is None:
        return rich
    for platform, text in sorted(version.wording.variants.items()):
        shown = _shorten(text, cut)
        rich.text(translate("bot.announce.card.variant", lang, platform=platform.value.capitalize(), text=shown))
        rich.line()
    for position, image in enumerate(version.wording.images, start=1):
        rich.text(translate("bot.announce.card.image", lang, position=position, alt=_shorten(image.alt, cut))).line()
    return rich


def _rules(rich: Rich, rules: ThreadRules, lang: str, cut: int | None) -> Rich:
    """The follow-up posted in thread under each town's post, its variants, and the pin, one line each."""
    if rules.pin:
        rich.text(translate("bot.pin.card", lang)).line()
    followup = rules.followup
    if followup is None:
        return rich
    rich.text(translate("bot.followup.card", lang, text=_shorten(followup.text, cut))).line()
    for platform, text in sorted(followup.variants.items()):
        shown = _shorten(text, cut)
        rich.text(translate("bot.followup.card.variant", lang, platform=platform.value.capitalize(), text=shown))
        rich.line()
    return rich


def _counts(signons: SignOnSummary, lang: str) -> str:
    return translate(
        "bot.announce.card.counts",
        lang,
        signed=signons.count(SignOnState.SIGNED),
        declined=signons.count(SignOnState.DECLINED),
        pending=signons.count(SignOnState.PENDING),
        total=signons.total,
    )


@dataclass(frozen=True, slots=True)
class _Section:
    """Some of the towns in one state, under a title, then how many more there are (if any)."""

    title: str
    shown: list[Rich]
    more: str | None


@dataclass(frozen=True, slots=True)
class _Towns:
    """The towns part of the card: every town (``everyone``), or sections and how to see the full list."""

    everyone: list[Rich] = field(default_factory=list)
    sections: list[_Section] = field(default_factory=list)
    full_list: str | None = None

    @classmethod
    def within(cls, summary: BoardSummary, lang: str, prefix: str, room: int) -> _Towns:
        """Every town if they all fit in ``room`` bytes, else the refusals and the latest signatures that do."""
        signons = summary.signons
        everyone = [_town_line(s, lang) for s in signons.everyone()] if signons.complete else None
        if everyone is not None and fitting(everyone, room) == everyone:
            return cls(everyone=everyone)
        hint = translate("bot.announce.card.full", lang, prefix=prefix, id=str(summary.announcement.id))
        room -= weight(Rich().text(hint).build()) + 2 * _SECTION_OVERHEAD
        declined = [_town_line(s, lang) for s in signons.declined[:CARD_LINES]]
        signed = [_town_line(s, lang) for s in signons.signed[:CARD_LINES]]
        # The refusals get at least half of the room, more if the signatures need less.
        declined = fitting(declined, room - min(_need(signed), room // 2))
        signed = fitting(signed, room - _need(declined))
        sections = [
            _section("bot.announce.card.declined", declined, signons.count(SignOnState.DECLINED), lang),
            _section("bot.announce.card.latest", signed, signons.count(SignOnState.SIGNED), lang),
        ]
        return cls(sections=[s for s in sections if s.shown or s.more], full_list=hint)

    def add_to(self, tail: Rich) -> None:
        tail.items(self.everyone)
        for section in self.sections:
            _new_line(tail).strong(section.title).items(section.shown)
            if section.more:
                _new_line(tail).text(section.more)
        if self.full_list:
            _new_line(tail).text(self.full_list)


#: What a section costs besides its items: its title, the "… and 1,412 more" line and the line breaks.
_SECTION_OVERHEAD = 160


def _section(title: str, shown: list[Rich], count: int, lang: str) -> _Section:
    more = translate("bot.announce.card.more", lang, count=count - len(shown)) if count > len(shown) else None
    return _Section(translate(title, lang), shown, more)


def _need(items: list[Rich]) -> int:
    return sum(item_weight(item) for item in items)


def _town_line(signon: SignOn, lang: str) -> Rich:
    line = Rich().text(f"{_ICONS[signon.state]} {signon.town.name}")
    if signon.state is SignOnState.DECLINED and signon.reason:
        line.text(translate("bot.announce.card.reason", lang, reason=_shorten(signon.reason, _SHORT)))
    return line


def _new_line(rich: Rich) -> Rich:
    """``rich``, on a new line (a bulleted list already ends its own)."""
    return rich if rich.ends_with_list() else rich.line()


def _shorten(text: str, most: int | None) -> str:
    return text if most is None else shorten(text, most)


def edit_content(reply: Reply, event_id: str) -> dict[str, Any]:
    """The content of an edit that replaces message ``event_id`` with ``reply``, notifying nobody again."""
    new = notice_content(reply)
    new["m.mentions"] = {}
    return {
        **new,
        "body": "* " + reply.plain,
        "formatted_body": "* " + reply.html,
        "m.new_content": new,
        "m.relates_to": {"rel_type": "m.replace", "event_id": event_id},
    }


async def card_now(hub: Hub, announcement_id: int, prefix: str) -> tuple[str, Reply]:
    """The coalition's room and the card of the announcement as it stands now."""
    summary = await hub.announcements.summary(announcement_id, CARD_LINES, CARD_TOWNS)
    page = public_page(hub.settings, summary.announcement)
    rules = await hub.threads.rules(announcement_id)
    packs = await hub.starter_packs.links(summary.coalition.id)
    return summary.coalition.room_id, render_card(summary, summary.coalition.language, prefix, page, rules, packs)


async def post_card(hub: Hub, messenger: Messenger, room_id: str, announcement_id: int, prefix: str) -> None:
    """Has the announcement's card posted in its coalition's room, ahead of the answers queued after it.

    The bot's outbound queue posts it as soon as the homeserver allows, and keeps trying; the hub remembers
    it then (see :mod:`bot.card_keeper`). Until then the hub notes that it is wanted, so that a restart in
    between still posts it.
    """
    wanted = AnnouncementMessage(announcement_id, room_id, f"{CARD_WANTED}:{announcement_id}", CARD_WANTED)
    await hub.announcements.remember_message(wanted)
    await messenger.cards_changed(announcement_id)


async def refresh_cards(hub: Hub, messenger: Messenger, announcement_id: int, prefix: str) -> None:
    """Has every card of the announcement brought up to its current state (coalesced edits, see
    :mod:`bot.card_keeper`); returns at once."""
    await messenger.cards_changed(announcement_id)
