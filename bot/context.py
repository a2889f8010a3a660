"""What a command handler is given: the hub, who asked, where, in which language, and for which audience."""

from __future__ import annotations

from dataclasses import dataclass

from bot.registry import Audience, Command, Registry
from hub.domain.model import Coalition
from hub.domain.permissions import Actor
from hub.i18n import LANGUAGES
from hub.services.context import Hub


class Preferences:
    """Each user's chosen language, kept in memory: it lasts until the bot restarts."""

    def __init__(self) -> None:
        self._languages: dict[str, str] = {}

    def language(self, user_id: str) -> str | None:
        return self._languages.get(user_id)

    def set_language(self, user_id: str, lang: str) -> None:
        if lang not in LANGUAGES:
            raise ValueError(f"unknown language {lang!r}")
        self._languages[user_id] = lang


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
