"""Keeping every announcement card current through the bot's outbound queue, whatever the room's pace.

A change (a sign-on, a new wording, a lock…) only marks the announcement's card as stale: :meth:`CardKeeper.touch`
queues one coalesced job per announcement (:mod:`bot.sending`), which renders the card as it stands when the
job runs and edits it — so three hundred ✅ in ten seconds make a handful of edits, the last one showing all
three hundred. An announcement without a card yet (just proposed, or its first post failed) gets its card
posted instead, ahead of the edits; the hub remembers it, so a restarted bot edits that same message.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from bot.card import CARD, CARD_WANTED, card_now, edit_content
from bot.render import notice_content
from bot.sending import Priority, SendQueue
from hub.core import Hub
from hub.domain.model import AnnouncementMessage

log = logging.getLogger(__name__)

#: ``transmit(room_id, content, tx_id)`` → the event id (``Bot.transmit``).
Transmit = Callable[[str, dict[str, Any], str], Awaitable[str]]


class CardKeeper:
    """Posts and edits the announcement cards; one per bot."""

    def __init__(self, hub: Hub, queue: SendQueue, transmit: Transmit, prefix: str) -> None:
        self.hub = hub
        self.queue = queue
        self.transmit = transmit
        self.prefix = prefix
        #: What each card shows now, so that an unchanged card is not edited again.
        self._shown: dict[str, str] = {}
        self._edits = 0

    @property
    def edits(self) -> int:
        """Card edits sent since the bot started (for the benchmark)."""
        return self._edits

    async def touch(self, announcement_id: int) -> None:
        """The announcement changed: its cards will show it (the card is posted first if it has none)."""
        key = ("card", announcement_id)
        if self.queue.is_waiting(key):
            return  # the edit waiting will show this change too
        posted = bool(await self.hub.announcements.messages(announcement_id, CARD))
        priority = Priority.CARD if posted else Priority.REPLY
        self.queue.coalesce(key, lambda: self._bring_up_to_date(announcement_id), priority)

    async def _bring_up_to_date(self, announcement_id: int) -> None:
        room_id, reply = await card_now(self.hub, announcement_id, self.prefix)
        cards = await self.hub.announcements.messages(announcement_id, CARD)
        if not cards:
            # The same transaction id on a second try: the homeserver answers with the card it already has.
            event_id = await self.transmit(room_id, notice_content(reply), f"unisson-card-{announcement_id}")
            await self.hub.announcements.remember_message(AnnouncementMessage(announcement_id, room_id, event_id, CARD))
            await self.hub.announcements.forget_message(f"{CARD_WANTED}:{announcement_id}", CARD_WANTED)
            self._shown[event_id] = reply.html
            return
        for card in cards:
            if self._shown.get(card.message_id) == reply.html:
                continue
            tx_id = f"unisson-edit-{uuid.uuid4().hex}"
            await self.transmit(card.channel, edit_content(reply, card.message_id), tx_id)
            self._shown[card.message_id] = reply.html
            self._edits += 1
