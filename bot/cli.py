"""The ``unisson`` command: the hub's commands plus ``unisson bot``, which runs the Matrix bot.

The hub knows nothing of Matrix, so the bot adds its command to the hub's group here.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import Callable, Coroutine
from typing import Any

import click
from pydantic import ValidationError

from bot.settings import BotSettings
from hub.cli import Env, main, pass_env, run_async, with_hub
from hub.core import Hub
from hub.dispatch.worker import Dispatcher
from hub.errors import UnissonError
from hub.i18n import translate
from hub.web.app import Monitoring, serving

__all__ = ["main"]

#: What ``unisson run`` runs in one process.
ROLES = ("all", "bot", "dispatcher")
#: Allocations between two young passes of the garbage collector in `unisson run` (Python's default: 700).
YOUNG_COLLECTION_ALLOCATIONS = 20_000


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


async def run_bot(
    env: Env, hub: Hub, settings: BotSettings, stop: asyncio.Event, monitoring: Monitoring | None = None
) -> None:
    from bot.client import Bot  # here: a dispatcher-only process does not load the Matrix client

    async with Bot(hub, settings) as bot:
        click.echo(translate("cli.bot.started", env.lang, user=bot.user_id, homeserver=settings.homeserver))
        if monitoring is not None:
            monitoring.health.up("bot")  # and once it stops, the whole process is stopping
        await stop.wait()
    click.echo(translate("cli.bot.stopped", env.lang))


async def run_dispatcher(env: Env, hub: Hub, stop: asyncio.Event, monitoring: Monitoring | None = None) -> None:
    dispatcher = Dispatcher(hub, metrics=monitoring.metrics if monitoring else None)
    if monitoring is not None:
        monitoring.watch_dispatcher(dispatcher)
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


async def _then(job: Coroutine[Any, Any, None], after: Callable[[], None]) -> None:
    try:
        await job
    finally:
        after()


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
        # What was loaded to start (modules, settings, the hub) lives as long as the process: the garbage
        # collector's full passes need not go through it again (each took some 50 ms, several times per
        # thousand posts at an instant).
        gc.freeze()
        # And its young passes come less often: at the instant thousands of requests each leave objects that
        # live a moment, which a pass every 700 allocations kept finding alive (about 100 ms of collections
        # during the benchmark's 3,200 posts, some 40 ms this way).
        gc.set_threshold(YOUNG_COLLECTION_ALLOCATIONS, *gc.get_threshold()[1:])
        stop = stop_on_signals()
        parts = [part for part in ("bot", "dispatcher") if role in ("all", part)]
        monitoring = Monitoring(hub, stop, parts)

        async def until_one_ends(job: Coroutine[Any, Any, None]) -> None:
            try:
                await job
            finally:
                stop.set()  # one part failing stops the others cleanly

        async with serving(env.settings, monitoring) as endpoint:  # first: /healthz answers while parts start
            if endpoint is not None:
                click.echo(translate("web.started", env.lang, url=endpoint.url))
            jobs: list[Coroutine[Any, Any, None]] = []
            # On a stop the worker leaves first (its last writes hand back what it holds), then the bot: the bot's
            # tasks cancelled while the worker writes could leave the embedded database locked for it.
            bot_stop = asyncio.Event() if "dispatcher" in parts else stop
            if "dispatcher" in parts:
                jobs.append(_then(run_dispatcher(env, hub, stop, monitoring), bot_stop.set))
            if settings is not None:
                jobs.append(run_bot(env, hub, settings, bot_stop, monitoring))
            results = await asyncio.gather(*(until_one_ends(job) for job in jobs), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    await with_hub(env, serve)


@main.command("demo")
@click.option(
    "--once", is_flag=True, help="S'arrête après le bilan (code 0 si tout est publié) au lieu de rester en marche."
)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False),
    default="data/demo",
    show_default=True,
    help="Dossier de la démo, vidé à chaque lancement (jamais celui des données d'Unisson).",
)
@click.option("--doubles", is_flag=True, help="Le double de Bluesky, même si le vrai PDS est installé.")
@pass_env
@run_async
async def demo_command(env: Env, once: bool, data_dir: str, doubles: bool) -> None:
    """Montre Unisson en marche, en local : Synapse, Bluesky, Mastodon, le hub et le bot, et cinq villes qui
    publient une annonce commune ; puis reste en marche pour qu'on rejoigne le salon, jusqu'à Ctrl-C."""
    from pathlib import Path

    try:
        from demo import DemoOptions, quiet_logs, run_demo  # here: the bot and the hub never load the demo
    except ModuleNotFoundError as error:
        if error.name != "demo":
            raise
        raise UnissonError("demo.error.not_installed") from error  # an installation without it (the Docker image)

    quiet_logs()
    options = DemoOptions(lang=env.lang, data_dir=Path(data_dir), once=once, doubles=doubles)
    await run_demo(options, click.echo, stop_on_signals())


if __name__ == "__main__":
    main()
