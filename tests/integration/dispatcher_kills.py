"""Dispatcher processes started and killed (``kill -9``) at random moments, for the crash tests of follow-ups
and pins (:mod:`tests.integration.test_thread_crash`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from hub.core import Hub
from hub.domain.model import AnnouncementState

#: Kills of each run.
KILLS = 6


@contextlib.asynccontextmanager
async def dispatcher_process(env: dict[str, str], log: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """``unisson run --role dispatcher``, yielded once it says it has started."""
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "run", "--role", "dispatcher",
            env=env, stdout=asyncio.subprocess.PIPE, stderr=out,
        )  # fmt: skip
        assert process.stdout is not None
        first = await asyncio.wait_for(process.stdout.readline(), 30)
        assert first, f"the dispatcher did not start; see {log}"
        try:
            yield process
        finally:
            if process.returncode is None:
                process.kill()
            await process.wait()


def dispatcher_env(workdir: Path, database_url: str, key: str, plc_url: str) -> dict[str, str]:
    """The environment of a dispatcher process for these tests: fast retries and a quick takeover of claims."""
    return {
        **os.environ,
        "UNISSON_HTTP_PORT": "0",  # no health endpoint: several of these processes run side by side
        "UNISSON_DATA_DIR": str(workdir),
        "UNISSON_DATABASE_URL": database_url,
        "UNISSON_ENCRYPTION_KEYS": key,
        "UNISSON_BLUESKY_PLC_URL": plc_url,
        "UNISSON_PER_HOST_CONCURRENCY": "3",
        "UNISSON_RETRY_INITIAL_SECONDS": "0.1",
        "UNISSON_RETRY_MAX_SECONDS": "0.5",
        "UNISSON_WORKER_TIMEOUT_SECONDS": "1",
        "UNISSON_WORKER_HEARTBEAT_SECONDS": "0.3",
        "UNISSON_PUBLISH_TIMEOUT": "2",
    }


async def kill_then_finish(
    hub: Hub,
    announcement_id: int,
    env: dict[str, str],
    log: Path,
    *,
    kills: int = KILLS,
    seed: int = 42,
    after_kill: Callable[[], Awaitable[None]] | None = None,
) -> AnnouncementState:
    """Starts a dispatcher and kills it (``kill -9``) at a random moment, ``kills`` times (calling ``after_kill``
    after each), then lets one run until the announcement is published; returns its state then."""
    chance = random.Random(seed)
    for _ in range(kills):
        async with dispatcher_process(env, log) as process:
            await asyncio.sleep(chance.uniform(0.2, 1.5))
            process.send_signal(signal.SIGKILL)
        if after_kill is not None:
            await after_kill()
    async with dispatcher_process(env, log):
        state = AnnouncementState.LOCKED
        for _ in range(600):
            state = (await hub.announcements.get(announcement_id)).state
            if state is AnnouncementState.PUBLISHED:
                break
            await asyncio.sleep(0.1)
    return state
