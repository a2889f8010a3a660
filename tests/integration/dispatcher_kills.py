"""Dispatcher processes started and killed (``kill -9``) at random moments, for the crash tests of follow-ups
and pins (:mod:`tests.integration.test_thread_crash`).

Each is ``unisson run --role dispatcher`` forked from a process that imported its code once
(:mod:`sandbox.dispatchers`, as in :mod:`tests.integration.test_dispatcher_crash`): it starts in a fraction of a
second instead of the second or two of a fresh interpreter, and its ``kill -9`` is a real one."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Awaitable, Callable
from pathlib import Path

from hub.core import Hub
from hub.domain.model import AnnouncementState
from sandbox.dispatchers import Dispatchers

#: Kills of each run.
KILLS = 6


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
    aim: Callable[[], Awaitable[bool]] | None = None,
) -> AnnouncementState:
    """Starts a dispatcher and kills it (``kill -9``) at a random moment, ``kills`` times (calling ``after_kill``
    after each), then lets one run until the announcement is published; returns its state then.

    With ``aim``, every other kill lands as soon as ``aim`` says the moment the test is about has come (looked
    at every 20 ms, for 10 s at most) instead of at a random one: how fast the dispatcher starts and posts then
    no longer decides whether a kill meets that moment."""
    chance = random.Random(seed)
    dispatchers = Dispatchers(env, log)
    for n in range(kills):
        async with dispatchers.running() as (process,):
            if aim is not None and n % 2 == 0:
                await _until(aim, seconds=10)
            else:
                await asyncio.sleep(chance.uniform(0.2, 1.5))
            process.kill()
        if after_kill is not None:
            await after_kill()
    async with dispatchers.running():
        state = AnnouncementState.LOCKED
        for _ in range(600):
            state = (await hub.announcements.get(announcement_id)).state
            if state is AnnouncementState.PUBLISHED:
                break
            await asyncio.sleep(0.1)
    return state


async def _until(moment: Callable[[], Awaitable[bool]], *, seconds: float) -> None:
    for _ in range(int(seconds / 0.02)):
        if await moment():
            return
        await asyncio.sleep(0.02)
