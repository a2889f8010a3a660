"""``kill -9`` during a fan-out, again and again, then a restart: no post lost, none duplicated.

The dispatcher runs as the operator runs it (``unisson run --role dispatcher``, a separate process); the
servers (the Bluesky and Mastodon doubles) run in the test, so they survive the kills and count what was
really posted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from hub.core import Hub, utc_now
from hub.crypto import SecretBox, generate_key
from hub.domain.model import AnnouncementState
from hub.settings import Settings
from hub.store import Store
from sandbox.bluesky import BlueskyDouble
from sandbox.fleet import build_fleet, use_servers
from sandbox.mastodon import MASTODON, TAKAHE, MastodonDouble, Personality
from tests.conftest import ADMIN
from tests.tools.communes_csv import pick_communes

TOWNS = 30
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


@pytest.mark.parametrize("personality", [MASTODON, TAKAHE], ids=["mastodon", "takahe"])
async def test_repeated_kill_9_during_a_fan_out_loses_and_duplicates_nothing(
    migrated_database_url: str, tmp_path: Path, personality: Personality
) -> None:
    key = generate_key()
    settings = Settings(data_dir=tmp_path, database_url=migrated_database_url, admins=[ADMIN], _env_file=None)  # type: ignore[call-arg]
    hub = Hub(Store.from_url(migrated_database_url), SecretBox([key]), settings, clock=utc_now)
    bluesky, mastodon = BlueskyDouble(seed=5), MastodonDouble(seed=5, personality=personality)
    for double in (bluesky, mastodon):  # slow answers keep the fan-out going while the kills come
        double.inject("latency", count=None, seconds=0.1)
        double.inject("commit_then_reset", count=None, fraction=0.05)
    async with bluesky.serve() as blue, mastodon.serve() as masto:
        use_servers(hub, plc_url=blue)
        codes = [(c.code, c.name) for c in pick_communes(TOWNS, seed=9)]
        fleet = await build_fleet(
            hub, tmp_path, codes, timedelta(seconds=1), bluesky=(bluesky, blue), mastodon=(mastodon, masto)
        )
        env = dispatcher_env(tmp_path, migrated_database_url, key, blue)
        state = await kill_then_finish(hub, fleet.announcement.id, env, tmp_path / "dispatcher.log")

        assert state is AnnouncementState.PUBLISHED, (tmp_path / "dispatcher.log").read_text(encoding="utf-8")[-3000:]
        assert fleet.bluesky_posts() == {t.id: 1 for t in fleet.towns}
        assert fleet.mastodon_posts() == {t.id: 1 for t in fleet.towns}
        outcomes = await hub.dispatch.outcomes(fleet.announcement.id)
        # The kills really interrupted the work: some deliveries needed more than one attempt.
        assert len(outcomes) == 2 * TOWNS and max(o.delivery.attempts for o in outcomes) > 1
    await hub.close()
