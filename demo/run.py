"""``unisson demo`` from start to end: the stage, the story, then either the exit (``--once``) or the logins and
the room's news until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from demo.people import Interrupted
from demo.script import Result, play, stay_up
from demo.stage import DemoOptions, open_stage
from hub.i18n import translate


async def run_demo(options: DemoOptions, say: Callable[[str], None], stop: asyncio.Event) -> Result | None:
    """Runs the demo; with ``options.once`` it returns after the recap, otherwise once ``stop`` is set.

    ``stop`` set during the story (Ctrl-C) ends it at its next wait, and everything stops: the result is None."""
    started = asyncio.get_running_loop().time()
    result = None
    with contextlib.suppress(Interrupted):
        async with open_stage(options, say, stop) as stage:
            result = await play(stage)
            stage.narrate("demo.done", seconds=round(asyncio.get_running_loop().time() - started))
            if not options.once:
                await stay_up(stage, result, stop)
    say(translate("demo.stopped", options.lang, path=str(options.data_dir.resolve())))
    return result


def quiet_logs() -> None:
    """The narration is the demo's output: the hub's, the bot's and the libraries' logs show warnings only,
    unless ``UNISSON_LOG_LEVEL=DEBUG`` asked for everything."""
    root = logging.getLogger()
    if root.level > logging.DEBUG:
        root.setLevel(max(root.level, logging.WARNING))
