"""The announcement card: one message in the coalition's room that always shows where an announcement stands.

The card is posted once and then edited in place (``m.replace``) after every change — new wording, schedule,
sign-on, lock — so the room reads one current summary instead of a trail of stale ones. The hub remembers
the card's event id (purpose ``card``), so a restarted bot still edits the same message.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bot.context import Messenger
from bot.render import Reply, Rich, notice_content
from hub.domain.model import AnnouncementMessage, AnnouncementState, SignOn, SignOnState
from hub.i18n import format_instant, translate
from hub.services.announcements import Board
from hub.services.context import Hub

log = logging.getLogger(__name__)

#: Purposes of the bot's messages about an announcement, as the hub records them.
CARD = "card"
#: A call to sign a new version again: reactions to it count like reactions to the card.
RESIGN = "signon"
#: Messages whose ✅ / ❌ reactions are sign-on decisions.
SIGN_ON_TARGETS = frozenset({CARD, RESIGN})

_ICONS = {SignOnState.SIGNED: "✅", SignOnState.DECLINED: "❌", SignOnState.PENDING: "⏳"}


def render_card(board: Board, lang: str, prefix: str) -> Reply:
    """The card of ``board``'s announcement in ``lang``: what it says, when it goes out, who signed."""
    announcement = board.announcement
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
    wording = Rich().text(version.wording.text if version else "").build()
    tail = _details(board, lang)
    tail.strong(_counts(board, lang)).items(_town_line(s, lang) for s in board.signons)
    if announcement.state is AnnouncementState.OPEN:
        tail.text(translate("bot.announce.card.how", lang, prefix=prefix, id=str(announcement.id)))
    first, last = head.build(), tail.build()
    quoted = "\n".join("> " + line for line in wording.plain.splitlines())
    return Reply(
        f"{first.plain}\n{quoted}\n{last.plain}",
        f"{first.html}<blockquote>{wording.html}</blockquote>{last.html}",
    )


def _details(board: Board, lang: str) -> Rich:
    """Variants and images of the current version, one line each."""
    rich = Rich()
    version = board.announcement.current_version
    if version is None:
        return rich
    for platform, text in sorted(version.wording.variants.items()):
        rich.text(translate("bot.announce.card.variant", lang, platform=platform.value.capitalize(), text=text)).line()
    for position, image in enumerate(version.wording.images, start=1):
        rich.text(translate("bot.announce.card.image", lang, position=position, alt=image.alt)).line()
    return rich


def _counts(board: Board, lang: str) -> str:
    return translate(
        "bot.announce.card.counts",
        lang,
        signed=len(board.with_state(SignOnState.SIGNED)),
        declined=len(board.with_state(SignOnState.DECLINED)),
        pending=len(board.with_state(SignOnState.PENDING)),
        total=len(board.signons),
    )


def _town_line(signon: SignOn, lang: str) -> Rich:
    line = Rich().text(f"{_ICONS[signon.state]} {signon.town.name}")
    if signon.state is SignOnState.DECLINED and signon.reason:
        line.text(translate("bot.announce.card.reason", lang, reason=signon.reason))
    return line


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


async def post_card(hub: Hub, messenger: Messenger, room_id: str, announcement_id: int, prefix: str) -> str:
    """Posts the announcement's card in ``room_id`` and has the hub remember it; returns its event id."""
    board = await hub.announcements.board(announcement_id)
    event_id = await messenger.send(room_id, render_card(board, board.coalition.language, prefix))
    await hub.announcements.remember_message(AnnouncementMessage(announcement_id, room_id, event_id, CARD))
    return event_id


async def refresh_cards(hub: Hub, messenger: Messenger, announcement_id: int, prefix: str) -> None:
    """Edits every card of the announcement to its current state.

    A card that cannot be edited (the bot left the room…) is logged and skipped: the change it reports has
    already been made, and the person who made it must hear that it was.
    """
    board = await hub.announcements.board(announcement_id)
    reply = render_card(board, board.coalition.language, prefix)
    for card in await hub.announcements.messages(announcement_id, CARD):
        try:
            await messenger.edit(card.channel, card.message_id, reply)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Could not edit card %s of announcement %s", card.message_id, announcement_id)
