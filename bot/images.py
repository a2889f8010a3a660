"""Images posted in reply to an announcement card, held by the hub until the coordinator describes them.

The coordinator answers the card with an image; the bot fetches it at once (it must not depend on the
homeserver keeping it), the hub checks and holds it, and the bot answers with the number the image will have
and how to give its alt text: ``!alt N POSITION texte`` — or ``!image N texte`` in reply to the image, as for
any image. Someone who may not change the announcement is told why, and nothing is fetched. The bot
serialises a room's events and skips the ones it has already processed; this module only decides.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.card import CARD
from bot.context import Messenger, Preferences
from bot.render import Reply, Rich
from hub.core import Hub
from hub.domain.model import AnnouncementMessage
from hub.errors import UnissonError
from hub.i18n import translate


class CardImages:
    """Turns images posted in reply to a card into images held for their alt text; refusals are explained."""

    def __init__(self, hub: Hub, messenger: Messenger, preferences: Preferences, prefix: str) -> None:
        self.hub = hub
        self.messenger = messenger
        self.preferences = preferences
        self.prefix = prefix

    async def posted(
        self, room_id: str, event_id: str, sender: str, target: str, fetch: Callable[[], Awaitable[bytes]]
    ) -> None:
        """``sender`` posted image ``event_id`` in answer to ``target``; only an answer to a card counts.

        ``fetch`` reads the image's bytes (called only once the sender may change the announcement).
        """
        card = await self._card(room_id, target)
        if card is None:
            return
        announcement_id = card.announcement_id
        lang = await self.preferences.language_in(sender, room_id)
        try:
            await self.hub.announcements.check_editable(sender, announcement_id)
            data = await fetch()
            held = await self.hub.images.hold_image(sender, announcement_id, room_id, event_id, data)
        except UnissonError as error:
            text = translate("bot.announce.held.refused", lang, reason=error.message(lang))
            self.messenger.post(room_id, Rich().mention(sender).text(" " + text).build(), in_reply_to=event_id)
            return
        text = translate("bot.announce.held", lang, id=str(announcement_id), position=held.position, prefix=self.prefix)
        self.messenger.post(room_id, Reply.text(text), in_reply_to=event_id, to=sender)

    async def _card(self, room_id: str, target: str) -> AnnouncementMessage | None:
        for message in await self.hub.announcements.find_message(target):
            if message.purpose == CARD and message.channel == room_id:
                return message
        return None
