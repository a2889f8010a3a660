"""The loop of the bot's periodic checks (reminders, account alerts): check, sleep, again, until cancelled."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def every(interval: float, wake: asyncio.Event, check: Callable[[], Awaitable[object]], what: str) -> None:
    """Runs ``check`` every ``interval`` seconds, or as soon as ``wake`` is set; a failed check is logged and the
    loop goes on; cancellation goes through."""
    while True:
        try:
            await check()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("The %s check failed; trying again in %s s", what, interval)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), interval)
        wake.clear()
