"""Sign-on by reaction: ✅ on an announcement card signs for the officer's town, ❌ declines, and redacting
the reaction takes the decision back.

A redaction only names the event it removes, so every counted reaction is remembered in the hub (purpose
``signed`` or ``declined``, with its author and town): the match still works after a restart. The bot
serialises a room's events and skips the ones it has already processed; this module only decides.
"""

from __future__ import annotations

from bot.card import SIGN_ON_TARGETS, refresh_cards
from bot.context import Messenger, Preferences
from bot.render import Rich
from hub.core import Hub
from hub.domain.model import AnnouncementMessage, SignOn
from hub.errors import UnissonError
from hub.i18n import translate

SIGNED = "signed"
DECLINED = "declined"
_KEYS = {"✅": SIGNED, "✔": SIGNED, "☑": SIGNED, "❌": DECLINED, "✖": DECLINED}
_OPPOSITE = {SIGNED: DECLINED, DECLINED: SIGNED}


def decision_of(key: str) -> str | None:
    """``signed`` / ``declined`` for a sign-on reaction key (with or without emoji variation selector)."""
    return _KEYS.get(key.replace("\ufe0f", "").strip())


async def note_decision(hub: Hub, decision: AnnouncementMessage | None, announcement_id: int, town_id: int) -> None:
    """Keeps the hub's record of reactions in step with the town's latest decision.

    The town's reactions of the other kind no longer stand for anything: forgetting them keeps their later
    redaction from undoing the newer decision. ``decision`` is the reaction that made it (None for a command).
    """
    if decision is not None:
        await hub.announcements.remember_message(decision)
    kinds = (_OPPOSITE[decision.purpose],) if decision is not None else (SIGNED, DECLINED)
    for kind in kinds:
        for old in await hub.announcements.messages(announcement_id, kind, town_id):
            if decision is None or old.message_id != decision.message_id:
                await hub.announcements.forget_message(old.message_id, kind)


async def forget_reactions(hub: Hub, announcement_id: int, town_ids: set[int], kind: str = SIGNED) -> None:
    """Forgets the towns' reactions of one kind (after a new version reset their signatures)."""
    for old in await hub.announcements.messages(announcement_id, kind):
        if old.town_id in town_ids:
            await hub.announcements.forget_message(old.message_id, kind)


class SignOnReactions:
    """Turns reactions on cards, and their redactions, into sign-on decisions; refusals are explained."""

    def __init__(self, hub: Hub, messenger: Messenger, preferences: Preferences, prefix: str) -> None:
        self.hub = hub
        self.messenger = messenger
        self.preferences = preferences
        self.prefix = prefix

    async def reacted(self, room_id: str, event_id: str, sender: str, target: str, key: str) -> None:
        """A reaction ``key`` by ``sender`` on ``target``; only ✅ / ❌ on a card of this room count."""
        decision = decision_of(key)
        card = None if decision is None else await self._card(room_id, target)
        if decision is None or card is None:
            return
        try:
            signon = await self._decide(decision, sender, card.announcement_id, event_id)
        except UnissonError as error:
            await self._refuse(room_id, target, sender, card.announcement_id, error, "bot.announce.reaction.refused")
            return
        record = AnnouncementMessage(card.announcement_id, room_id, event_id, decision, sender, signon.town.id)
        await note_decision(self.hub, record, card.announcement_id, signon.town.id)
        await refresh_cards(self.hub, self.messenger, card.announcement_id, self.prefix)

    async def redacted(self, room_id: str, sender: str, redacts: str, event_id: str | None = None) -> None:
        """``sender`` removed event ``redacts``: if it was a counted reaction, the town is pending again."""
        for record in await self.hub.announcements.find_message(redacts):
            if record.purpose not in _OPPOSITE or record.channel != room_id or record.town_id is None:
                continue
            if not await self._still_held(record):
                await self._withdraw(room_id, sender, record, event_id)
            # Forgotten after the withdrawal, which records the redaction: a crash in between replays it whole.
            await self.hub.announcements.forget_message(redacts, record.purpose)

    async def _withdraw(self, room_id: str, sender: str, record: AnnouncementMessage, event_id: str | None) -> None:
        assert record.town_id is not None
        try:
            await self.hub.announcements.withdraw(sender, record.announcement_id, record.town_id, event_id=event_id)
        except UnissonError as error:
            key = "bot.announce.redaction.refused"
            await self._refuse(room_id, None, sender, record.announcement_id, error, key)
            return
        await refresh_cards(self.hub, self.messenger, record.announcement_id, self.prefix)

    async def _decide(self, decision: str, sender: str, announcement_id: int, event_id: str) -> SignOn:
        """Records the decision and the reaction's event id in one transaction: never counted twice."""
        if decision == SIGNED:
            return await self.hub.announcements.sign(sender, announcement_id, event_id=event_id)
        return await self.hub.announcements.decline(sender, announcement_id, event_id=event_id)

    async def _card(self, room_id: str, target: str) -> AnnouncementMessage | None:
        for message in await self.hub.announcements.find_message(target):
            if message.purpose in SIGN_ON_TARGETS and message.channel == room_id:
                return message
        return None

    async def _still_held(self, record: AnnouncementMessage) -> bool:
        """Whether another officer's reaction of the same kind still stands for the same town."""
        others = await self.hub.announcements.messages(record.announcement_id, record.purpose, record.town_id)
        return any(o.message_id != record.message_id for o in others)

    async def _refuse(
        self, room_id: str, target: str | None, sender: str, announcement_id: int, error: UnissonError, key: str
    ) -> None:
        """Tells ``sender`` (mentioned, in reply to the card) why their reaction did not count and what to do."""
        lang = await self.preferences.language_in(sender, room_id)
        text = translate(key, lang, reason=error.message(lang), prefix=self.prefix, id=str(announcement_id))
        reply = Rich().mention(sender).text(" " + text).build()
        self.messenger.post(room_id, reply, in_reply_to=target)
