"""From a command's text to its answer: find the command, choose the language, parse, run, word the errors.

:class:`CommandRunner` knows nothing of how events arrive or how answers leave (that is :mod:`bot.client`):
it takes who said what where, and returns the :class:`Reply` to send. Expected errors become answers in the
user's language; an unexpected one raises :class:`CommandFailed`, for the bot to log and apologise.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot.context import Messenger, Preferences, Request, audience_of, choose_language
from bot.registry import Command, Registry, UsageError
from bot.render import Reply
from hub.core import Hub
from hub.domain.model import Coalition
from hub.errors import UnissonError
from hub.i18n import translate


class CommandFailed(Exception):
    """A command failed unexpectedly (the cause is chained); the sender gets an apology in their language."""

    def __init__(self, lang: str) -> None:
        super().__init__(lang)
        self.lang = lang

    def apology(self) -> Reply:
        return Reply.text(translate("bot.error.unexpected", self.lang))


@dataclass(frozen=True, slots=True)
class Where:
    """The event a command came in, and the language chosen for the answer."""

    room_id: str
    event_id: str
    sender: str
    coalition: Coalition | None
    lang: str
    private: bool = False


class CommandRunner:
    """Runs the commands of one registry for one bot."""

    def __init__(self, hub: Hub, registry: Registry, preferences: Preferences, messenger: Messenger, prefix: str):
        self.hub = hub
        self.registry = registry
        self.preferences = preferences
        self.messenger = messenger
        self.prefix = prefix

    async def answer(
        self, room_id: str, event_id: str, sender: str, body: str, *, private: bool = False
    ) -> Reply | None:
        """The answer to command ``body`` (None for a lone prefix).

        An unexpected failure raises :class:`CommandFailed`, whose :meth:`~CommandFailed.apology` is the answer.
        """
        lang = self.hub.settings.default_language
        try:
            chosen = await self.preferences.language(sender)
            lang = chosen or lang
            coalition = await self.hub.coalitions.by_room(room_id)
            word, rest = split_command(body, self.prefix)
            if not word:
                return None
            declared = self.registry.find(word)
            lang = choose_language(
                chosen=chosen,
                invoked=word,
                command=declared,
                room=coalition.language if coalition else None,
                default=self.hub.settings.default_language,
            )
            if declared is None:
                return self._unknown(word, lang)
            return await self._execute(declared, rest, Where(room_id, event_id, sender, coalition, lang, private))
        except asyncio.CancelledError:
            raise
        except Exception as error:
            raise CommandFailed(lang) from error

    async def _execute(self, declared: Command[Request], rest: str, where: Where) -> Reply:
        """Parses the arguments and runs the handler; expected errors become replies in the user's language."""
        try:
            args = declared.parse(rest)
        except UsageError:
            return self.registry.usage_reply(declared, where.lang, self.prefix)
        actor = await self.hub.whois(where.sender)
        request = Request(
            hub=self.hub,
            registry=self.registry,
            preferences=self.preferences,
            sender=where.sender,
            room_id=where.room_id,
            event_id=where.event_id,
            coalition=where.coalition,
            lang=where.lang,
            prefix=self.prefix,
            audience=audience_of(actor, where.coalition),
            messenger=self.messenger,
            private=where.private,
        )
        try:
            return await declared.handler(request, args)
        except UnissonError as error:
            return Reply.text(error.message(where.lang))

    def _unknown(self, word: str, lang: str) -> Reply:
        helper = self.registry.find("aide")
        help_usage = self.prefix + (helper.shown_name(lang) if helper else "aide")
        suggestion = self.registry.suggest(word)
        if suggestion is None:
            return Reply.text(translate("bot.unknown", lang, name=self.prefix + word, help=help_usage))
        guess = self.prefix + suggestion.shown_name(lang)
        return Reply.text(
            translate("bot.unknown.suggest", lang, name=self.prefix + word, suggestion=guess, help=help_usage)
        )


def split_command(body: str, prefix: str) -> tuple[str, str]:
    """``"!aide  langue"`` → ``("aide", "langue")``; the rest keeps its inner spacing and line breaks."""
    parts = body.removeprefix(prefix).split(maxsplit=1)
    if not parts:
        return "", ""
    return parts[0], parts[1] if len(parts) > 1 else ""


def strip_reply_fallback(body: str) -> str:
    """The text of a message without the quoted ``> <@user> ...`` lines older clients put before a reply."""
    if not body.startswith("> "):
        return body
    lines = body.splitlines()
    while lines and lines[0].startswith(">"):
        lines.pop(0)
    return "\n".join(lines).lstrip("\n")
