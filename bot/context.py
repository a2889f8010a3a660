"""What a command handler is given: the hub, who asked, where, in which language, and for which audience."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.registry import Audience, Command, Registry
from bot.render import Reply
from hub.domain.model import Coalition
from hub.domain.permissions import Actor
from hub.services.context import Hub


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


class Messenger(Protocol):
    """What a handler may do in Matrix besides answering: post a message, edit one in place, read an image."""

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

    async def edit(self, room_id: str, event_id: str, reply: Reply) -> str:
        """Replaces the text of the bot's own message ``event_id``; returns the edit's event id."""
        ...

    async def replied_image(self, room_id: str, event_id: str) -> bytes:
        """The bytes of the image that message ``event_id`` replies to (an expected error if there is none)."""
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
    *, chosen: str | None, invoked: str, command: Command | None, room: str | None, default: str
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
