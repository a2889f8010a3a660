"""What a command handler is given: the hub, who asked, where, in which language, and for which audience."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from bot.registry import Audience, Command, Registry
from bot.render import Reply
from hub.core import Hub
from hub.domain.model import Coalition
from hub.domain.permissions import Actor


class Preferences:
    """Each user's chosen language, as the hub stores it (so it outlives the bot), remembered once read."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._languages: dict[str, str | None] = {}

    async def language(self, user_id: str) -> str | None:
        if user_id not in self._languages:
            self._languages[user_id] = await self.hub.preferences.language(user_id)
        return self._languages[user_id]

    async def set_language(self, user_id: str, lang: str) -> str:
        """Records the choice in the hub (which checks it); returns the language now in force."""
        chosen = await self.hub.preferences.set_language(user_id, lang)
        self._languages[user_id] = chosen
        return chosen

    async def language_in(self, user_id: str, room_id: str) -> str:
        """The language to address ``user_id`` in outside a command: theirs, else the room's, else the default."""
        if chosen := await self.language(user_id):
            return chosen
        coalition = await self.hub.coalitions.by_room(room_id)
        return coalition.language if coalition else self.hub.settings.default_language


@dataclass(frozen=True, slots=True)
class PostedFile:
    """A file someone posted in a room (``m.file``), downloaded and decrypted."""

    name: str
    data: bytes
    #: As the sender's client stated it; may be empty.
    mimetype: str = ""


@dataclass(frozen=True, slots=True)
class TextMessage:
    """A text message (or a bot's notice) read back from the homeserver, decrypted."""

    sender: str
    body: str
    #: The event it replies to, if any.
    in_reply_to: str | None = None
    notice: bool = False


class Messenger(Protocol):
    """What a handler may do in Matrix besides answering: post a message, edit one in place, read an image or a
    file, invite a coalition's officers to its room."""

    async def send(
        self,
        room_id: str,
        reply: Reply,
        *,
        in_reply_to: str | None = None,
        to: str | None = None,
        tx_id: str | None = None,
    ) -> str:
        """Posts ``reply`` as a notice; returns its event id. The same ``tx_id`` again does not post it twice."""
        ...

    def post(self, room_id: str, reply: Reply, *, in_reply_to: str | None = None, to: str | None = None) -> None:
        """Queues ``reply`` to be sent as soon as the homeserver allows; returns at once."""
        ...

    async def edit(self, room_id: str, event_id: str, reply: Reply) -> str:
        """Replaces the text of the bot's own message ``event_id``; returns the edit's event id."""
        ...

    async def direct(self, user_id: str, reply: Reply) -> str:
        """Sends ``reply`` to ``user_id`` alone, in a direct conversation (opened if need be); returns its id."""
        ...

    async def cards_changed(self, announcement_id: int) -> None:
        """The announcement changed: its cards will show it (posted first if it has none); returns at once."""
        ...

    async def replied_image(self, room_id: str, event_id: str) -> bytes:
        """The bytes of the image that message ``event_id`` replies to (an expected error if there is none)."""
        ...

    # -- town imports (bot/imports.py) --

    async def replied_file(self, room_id: str, event_id: str, max_bytes: int) -> PostedFile | None:
        """The file that message ``event_id`` replies to (an expected error if it is not a file or weighs more
        than ``max_bytes``); None if the message replies to nothing."""
        ...

    async def read_message(self, room_id: str, event_id: str) -> TextMessage | None:
        """Message ``event_id`` if it is a text or a notice; None otherwise or if it cannot be read."""
        ...

    async def invite_officers(self, sender: str, coalition: Coalition, room_id: str, reply_to: str, lang: str) -> Reply:
        """Starts inviting, in the background, the coalition's officers who are not yet in its room nor invited
        (``sender`` must coordinate it); progress is reported in ``room_id`` in answer to ``reply_to``.
        Returns what to tell ``sender`` now: how many will be invited, or why none."""
        ...


@dataclass(frozen=True, slots=True)
class Request:
    """One command invocation, as handlers see it; they never see the Matrix event itself."""

    hub: Hub
    registry: Registry
    preferences: Preferences
    sender: str
    room_id: str
    event_id: str
    coalition: Coalition | None
    lang: str
    prefix: str
    audience: Audience
    #: The bot itself, for handlers that post or edit more than their answer (announcement cards).
    messenger: Messenger | None = None
    #: A direct conversation between the sender and the bot (see :func:`bot.secrets.is_private`): the only
    #: place where a secret may be sent.
    private: bool = False

    def matrix(self) -> Messenger:
        """The messenger; a handler that needs one is only ever run by the bot, which always gives it."""
        if self.messenger is None:
            raise RuntimeError("this command needs the Matrix bot's messenger")
        return self.messenger


def choose_language(
    *, chosen: str | None, invoked: str, command: Command[Any] | None, room: str | None, default: str
) -> str:
    """The language of a reply.

    A language the user chose with ``!langue`` wins; then the language of the name they typed, when the
    command's French and English names differ (``!help`` is answered in English); then the room's
    coalition language; then the deployment default.
    """
    if chosen:
        return chosen
    if command is not None and command.name != command.english:
        if invoked.casefold() == command.english.casefold():
            return "en"
        if invoked.casefold() == command.name.casefold():
            return "fr"
    return room or default


def audience_of(actor: Actor, coalition: Coalition | None) -> Audience:
    """The highest audience ``actor`` belongs to in this room, for filtering the help only."""
    if actor.is_admin:
        return Audience.ADMIN
    if coalition is not None and coalition.id in actor.coordinator_of:
        return Audience.COORDINATOR
    if actor.officer_of:
        return Audience.OFFICER
    return Audience.ANYONE
