"""The ``unisson`` command: the hub's commands plus ``unisson bot``, which runs the Matrix bot.

The hub knows nothing of Matrix, so the bot adds its command to the hub's group here.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Coroutine
from typing import Any

import click
from pydantic import ValidationError

from bot.settings import BotSettings
from hub.cli import Env, main, pass_env, run_async, with_hub
from hub.dispatch.worker import Dispatcher
from hub.errors import UnissonError
from hub.i18n import translate
from hub.services.context import Hub

__all__ = ["main"]

#: What ``unisson run`` runs in one process.
ROLES = ("all", "bot", "dispatcher")


def bot_settings() -> BotSettings:
    """The bot's settings, or a sentence naming the missing ones."""
    try:
        return BotSettings()
    except ValidationError as error:
        names = ", ".join(f"UNISSON_MATRIX_{str(e['loc'][0]).upper()}" for e in error.errors() if e["loc"])
        raise UnissonError("cli.bot.settings", names=names or "UNISSON_MATRIX_*") from error


def stop_on_signals() -> asyncio.Event:
    """An event set by Ctrl-C or SIGTERM (a graceful stop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    return stop


async def run_bot(env: Env, hub: Hub, settings: BotSettings, stop: asyncio.Event) -> None:
    from bot.client import Bot  # here: a dispatcher-only process does not load the Matrix client

    async with Bot(hub, settings) as bot:
        click.echo(translate("cli.bot.started", env.lang, user=bot.user_id, homeserver=settings.homeserver))
        await stop.wait()
    click.echo(translate("cli.bot.stopped", env.lang))


async def run_dispatcher(env: Env, hub: Hub, stop: asyncio.Event) -> None:
    dispatcher = Dispatcher(hub)
    click.echo(translate("cli.dispatcher.started", env.lang, worker=dispatcher.worker_id))
    await dispatcher.run(stop)
    click.echo(translate("cli.dispatcher.stopped", env.lang, worker=dispatcher.worker_id))


@main.command("bot")
@pass_env
@run_async
async def bot_command(env: Env) -> None:
    """Lance le bot Matrix (réglages UNISSON_MATRIX_*) jusqu'à Ctrl-C ou SIGTERM."""
    settings = bot_settings()

    async def serve(hub: Hub) -> None:
        await run_bot(env, hub, settings, stop_on_signals())

    await with_hub(env, serve)


@main.command("run")
@click.option(
    "--role",
    type=click.Choice(list(ROLES)),
    default="all",
    show_default=True,
    help="all : bot et publication ; bot ; dispatcher (publication seule, plusieurs possibles sur PostgreSQL).",
)
@pass_env
@run_async
async def run_command(env: Env, role: str) -> None:
    """Lance Unisson en production jusqu'à Ctrl-C ou SIGTERM (arrêt propre : les publications en cours finissent
    ou sont rendues à la file)."""
    settings = bot_settings() if role in ("all", "bot") else None

    async def serve(hub: Hub) -> None:
        stop = stop_on_signals()
        jobs: list[Coroutine[Any, Any, None]] = []
        if settings is not None:
            jobs.append(run_bot(env, hub, settings, stop))
        if role in ("all", "dispatcher"):
            jobs.append(run_dispatcher(env, hub, stop))

        async def until_one_ends(job: Coroutine[Any, Any, None]) -> None:
            try:
                await job
            finally:
                stop.set()  # one part failing stops the others cleanly

        results = await asyncio.gather(*(until_one_ends(job) for job in jobs), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    await with_hub(env, serve)


if __name__ == "__main__":
    main()
