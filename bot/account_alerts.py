"""Telling a town's officers, in a direct message, that one of its linked accounts stopped working.

The hub raises an alert when an account that worked fails in a way only a person can fix (a revoked token, a
deleted account, a changed password): at a check (linking, pre-flight, ``accounts verify``) or when a post fails
for that reason. This task sends each alert to every officer of the town, in their language, with the one
command that links the account again, then marks it told. It looks every ``alert_check_seconds``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bot.commands.accounts import repair_command
from bot.context import Preferences
from bot.polling import every
from bot.render import Reply
from hub.core import Hub
from hub.i18n import translate
from hub.services.accounts import BrokenAccount

#: ``direct(user_id, reply)`` → the event id (``Bot.direct``).
Direct = Callable[[str, Reply], Awaitable[str]]


class AccountAlerts:
    """The background task that tells officers about broken accounts; one per bot."""

    def __init__(self, hub: Hub, direct: Direct, preferences: Preferences, prefix: str, interval: float) -> None:
        self.hub = hub
        self.direct = direct
        self.preferences = preferences
        self.prefix = prefix
        self.interval = interval
        self._wake = asyncio.Event()

    def poke(self) -> None:
        """Looks now rather than at the next interval (in tests)."""
        self._wake.set()

    async def run(self) -> None:
        await every(self.interval, self._wake, self.check, "account alerts")

    async def check(self) -> int:
        """Sends the alerts not yet told; returns how many."""
        told = 0
        for broken in await self.hub.accounts.broken():
            for officer in broken.officers:
                await self.direct(officer, await self._message(broken, officer))
            await self.hub.accounts.alert_told(broken.alert_id)
            told += 1
        return told

    async def _message(self, broken: BrokenAccount, officer: str) -> Reply:
        lang = await self.preferences.language(officer) or self.hub.settings.default_language
        account = broken.account
        return Reply.text(
            translate(
                "bot.accounts.broken",
                lang,
                network=account.platform.value.capitalize(),
                identifier=account.identifier,
                town=broken.town.name,
                problem=broken.problem.message(lang),
                fix=repair_command(account, self.prefix, lang),
            )
        )
