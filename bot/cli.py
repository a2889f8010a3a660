"""The ``unisson`` command: the hub's commands plus ``unisson bot``, which runs the Matrix bot.

The hub knows nothing of Matrix, so the bot adds its command to the hub's group here.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

import click
from pydantic import ValidationError

from bot.client import Bot
from bot.settings import BotSettings
from hub.cli import Env, main, pass_env, run_async, with_hub
from hub.errors import UnissonError
from hub.i18n import translate
from hub.services.context import Hub

__all__ = ["main"]


def bot_settings() -> BotSettings:
    """The bot's settings, or a sentence naming the missing ones."""
    try:
        return BotSettings()
    except ValidationError as error:
        names = ", ".join(f"UNISSON_MATRIX_{str(e['loc'][0]).upper()}" for e in error.errors() if e["loc"])
        raise UnissonError("cli.bot.settings", names=names or "UNISSON_MATRIX_*") from error


@main.command("bot")
@pass_env
@run_async
async def bot_command(env: Env) -> None:
    """Lance le bot Matrix (réglages UNISSON_MATRIX_*) jusqu'à Ctrl-C ou SIGTERM."""
    settings = bot_settings()

    async def serve(hub: Hub) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signum, stop.set)
        async with Bot(hub, settings) as bot:
            click.echo(translate("cli.bot.started", env.lang, user=bot.user_id, homeserver=settings.homeserver))
            await stop.wait()
        click.echo(translate("cli.bot.stopped", env.lang))

    await with_hub(env, serve)
