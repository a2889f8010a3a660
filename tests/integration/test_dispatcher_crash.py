"""Crashes during a fan-out: no post lost, none duplicated, counted on the servers' side.

- ``kill -9`` of the dispatcher thirty times at random moments, a restart after each;
- two dispatchers on PostgreSQL killed together, again and again: no claim of a dead worker held long;
- PostgreSQL restarted under the dispatcher (10 s without a database): it waits, reconnects and finishes.

The dispatchers run as the operator runs them (``unisson run --role dispatcher``, separate processes forked
from one that imported the code once: see :mod:`sandbox.dispatchers`); the servers (the Bluesky and Mastodon
doubles) run in the test, so they survive the kills and count what was really posted. Their answers are slow
and sometimes lost after the post was made (``commit_then_reset``), so that kills find posts under way and
retries meet posts already made.

The first test is the CI's version of ``bench/crash.py`` (3,200 posts, thirty kills): the same kill pattern on
200 posts, each dispatcher making one post at a time per server, every answer taking :data:`LATENCY`. At that
pace the thirty kills (about 16 s of work in all) do not reach the end of the fan-out (checked after each), so
each lands with posts under way; then the servers answer at once and the last dispatcher finishes in seconds.
A bigger fan-out would put more posts under way at each kill, not add other moments to die at; this one keeps
the test under a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from hub.core import Hub, utc_now
from hub.crypto import SecretBox, generate_key
from hub.domain.model import AnnouncementState
from hub.settings import Settings
from hub.store import Store, migrate
from sandbox.bluesky import BlueskyDouble
from sandbox.dispatchers import UPTIME, Dispatchers
from sandbox.fleet import Fleet, build_fleet, use_servers
from sandbox.mastodon import PERSONALITIES, MastodonDouble
from sandbox.postgres import LocalPostgres, local_postgres
from tests.conftest import ADMIN, slow
from tests.integration.test_dispatcher import settled
from tests.tools.communes_csv import pick_communes

KILLS = 30
#: Towns of the fan-out under thirty kills (a post on each network each): more than the kills leave time for.
TOWNS = 100
#: Seconds each server takes to answer, and posts at once per server and dispatcher, while the kills come.
LATENCY, PER_HOST = 0.1, 1
#: A dead worker's claims go back this long after its last heartbeat (short, so restarts soon find work).
TIMEOUT, HEARTBEAT = 0.5, 0.1


@pytest.fixture(params=list(PERSONALITIES.values()), ids=list(PERSONALITIES))
def mastodon(request: pytest.FixtureRequest) -> MastodonDouble:
    """The Mastodon double of every test here, as each of its personalities: Mastodon, which honours
    Idempotency-Key, and a server like Takahē, which ignores it (a retry must look before it posts again)."""
    return MastodonDouble(seed=5, personality=request.param)


@dataclass
class Scene:
    hub: Hub
    fleet: Fleet
    dispatchers: Dispatchers
    doubles: tuple[BlueskyDouble, MastodonDouble]

    def hurry(self) -> Dispatchers:
        """From now on the servers answer at once: dispatchers (returned) that finish the fan-out quickly."""
        for double in self.doubles:
            double.clear_faults()
            double.inject("commit_then_reset", count=None, fraction=0.05)
        return Dispatchers({**self.dispatchers.env, "UNISSON_PER_HOST_CONCURRENCY": "4"}, self.dispatchers.log)

    async def due(self) -> None:
        """Waits for the announcement's instant: the first dispatcher starts the fan-out at once."""
        publish_at = self.fleet.announcement.publish_at
        assert publish_at is not None
        await asyncio.sleep(max(0.0, (publish_at - utc_now()).total_seconds()))

    async def state(self) -> AnnouncementState:
        return (await self.hub.announcements.get(self.fleet.announcement.id)).state

    async def published(self) -> None:
        """Waits until the announcement is published, with the dispatchers' log if it is not in time."""
        state = await settled(self.hub, self.fleet.announcement.id, within=120)
        assert state is AnnouncementState.PUBLISHED, self.dispatchers.log.read_text(encoding="utf-8")[-4000:]

    def assert_each_post_made_once(self) -> None:
        """Counted on the servers: each town has exactly one post on each network."""
        once = {t.id: 1 for t in self.fleet.towns}
        assert self.fleet.bluesky_posts() == once
        assert self.fleet.mastodon_posts() == once


@contextlib.asynccontextmanager
async def fan_out(
    database_url: str, tmp_path: Path, mastodon: MastodonDouble, towns: int, worker_timeout: float = TIMEOUT
) -> AsyncIterator[Scene]:
    """A coalition of ``towns`` whose announcement falls due at once, and dispatchers ready to start."""
    key = generate_key()
    settings = Settings(data_dir=tmp_path, database_url=database_url, admins=[ADMIN], _env_file=None)  # type: ignore[call-arg]
    hub = Hub(Store.from_url(database_url), SecretBox([key]), settings, clock=utc_now)
    bluesky = BlueskyDouble(seed=5)
    try:
        async with bluesky.serve() as blue, mastodon.serve() as masto:
            use_servers(hub, plc_url=blue)
            codes = [(c.code, c.name) for c in pick_communes(towns, seed=9)]
            fleet = await build_fleet(
                hub, tmp_path, codes, timedelta(seconds=1), bluesky=(bluesky, blue), mastodon=(mastodon, masto)
            )
            for double in (bluesky, mastodon):  # once the accounts are linked (each link asks the servers)
                double.inject("latency", count=None, seconds=LATENCY)
                double.inject("commit_then_reset", count=None, fraction=0.05)
            env = {
                "UNISSON_HTTP_PORT": "0",  # no health endpoint: several of these processes run side by side
                "UNISSON_DATA_DIR": str(tmp_path),
                "UNISSON_DATABASE_URL": database_url,
                "UNISSON_ENCRYPTION_KEYS": key,
                "UNISSON_BLUESKY_PLC_URL": blue,
                "UNISSON_PER_HOST_CONCURRENCY": str(PER_HOST),
                "UNISSON_RETRY_INITIAL_SECONDS": "0.1",
                "UNISSON_RETRY_MAX_SECONDS": "0.5",
                "UNISSON_WORKER_TIMEOUT_SECONDS": str(worker_timeout),
                "UNISSON_WORKER_HEARTBEAT_SECONDS": str(HEARTBEAT),
                "UNISSON_PUBLISH_TIMEOUT": "3",
            }
            yield Scene(hub, fleet, Dispatchers(env, tmp_path / "dispatcher.log"), (bluesky, mastodon))
    finally:
        await hub.close()


@slow
async def test_thirty_kill_9_during_a_fan_out_lose_and_duplicate_nothing(
    migrated_database_url: str, tmp_path: Path, mastodon: MastodonDouble
) -> None:
    async with fan_out(migrated_database_url, tmp_path, mastodon, TOWNS) as scene:
        chance = random.Random(42)
        await scene.due()
        for kill in range(KILLS):
            await scene.dispatchers.crash(chance)
            # Each kill interrupted the fan-out: a faster machine would need more towns.
            assert await scene.state() is AnnouncementState.PUBLISHING, f"the fan-out ended before kill {kill + 2}"
        async with scene.hurry().running():
            await scene.published()
        scene.assert_each_post_made_once()
        outcomes = await scene.hub.dispatch.outcomes(scene.fleet.announcement.id)
        assert len(outcomes) == 2 * TOWNS and max(o.delivery.attempts for o in outcomes) > 1


# --- two dispatchers killed together ------------------------------------------------------------------------

#: Rounds of two dispatchers killed together, and the towns of that fan-out.
ROUNDS, PAIR_TOWNS = 5, 40
#: How long a dead worker's claims may stay past the timeout: the recovery's period (the heartbeat's) and room
#: for a busy machine.
RECOVERY_SLACK = HEARTBEAT + 1.0


@dataclass
class ClaimWatch:
    """Watches, every 0.1 s, the claims of workers not heard from for longer than the timeout.

    Such claims are due back at the later of the holder's last heartbeat plus the timeout and the start of a
    worker to take them back (none runs between two kills and the next starts); :attr:`overdue` is the longest
    any was seen held past that moment.
    """

    hub: Hub
    timeout: timedelta
    #: When the dispatchers running now started (None: none runs).
    running_since: datetime | None = None
    overdue: float = 0.0
    looks: int = 0
    holders: set[str] = field(default_factory=set)

    async def watch(self) -> None:
        while True:
            async with self.hub.store.unit() as uow:
                holding = await uow.workers.holding()
            now = utc_now()
            self.looks += 1
            self.holders |= holding.keys()
            if self.running_since is not None:
                for heard in holding.values():
                    due = max(heard + self.timeout, self.running_since) if heard else self.running_since
                    self.overdue = max(self.overdue, (now - due).total_seconds())
            await asyncio.sleep(0.1)


@slow
@pytest.mark.parametrize("migrated_database_url", ["postgresql"], indirect=True)
async def test_two_dispatchers_killed_together_lose_and_duplicate_nothing(
    migrated_database_url: str, tmp_path: Path, mastodon: MastodonDouble
) -> None:
    """Both dispatchers die at once, again and again, holding claims: the next ones must take them back once the
    dead workers' heartbeats are older than the timeout, not later (see :class:`ClaimWatch`)."""
    timeout = 2.0
    async with fan_out(migrated_database_url, tmp_path, mastodon, PAIR_TOWNS, timeout) as scene:
        claims = ClaimWatch(scene.hub, timedelta(seconds=timeout))
        watching = asyncio.create_task(claims.watch())
        chance = random.Random(7)
        try:
            await scene.due()
            for kill in range(ROUNDS):
                async with scene.dispatchers.running(2) as pair:
                    claims.running_since = pair[0].started_at
                    # Long enough to take the last ones' claims back, then a random moment of work.
                    await asyncio.sleep(timeout + chance.uniform(*UPTIME))
                    claims.running_since = None
                    for dispatcher in pair:
                        dispatcher.kill()
                assert await scene.state() is AnnouncementState.PUBLISHING, f"the fan-out ended before kill {kill + 2}"
            async with scene.hurry().running(2):
                claims.running_since = utc_now()
                await scene.published()
        finally:
            watching.cancel()
        scene.assert_each_post_made_once()
    assert claims.looks > 10 and len(claims.holders) >= ROUNDS  # the watch saw the claims of most workers
    assert claims.overdue <= RECOVERY_SLACK, claims.overdue


# --- the database restarted ---------------------------------------------------------------------------------

#: How long PostgreSQL stays down, and the towns of that fan-out.
OUTAGE, OUTAGE_TOWNS = 10.0, 40


@pytest.fixture
async def restartable_postgres() -> AsyncIterator[tuple[LocalPostgres, str]]:
    """A PostgreSQL of the test's own (it is stopped mid-test), with a migrated database: the server and its URL."""
    with local_postgres() as server:
        url = server.server.url()
        store = Store.from_url(url)
        await migrate.upgrade(store)
        await store.close()
        yield server, url


@slow
async def test_the_database_restarted_mid_fan_out_loses_and_duplicates_nothing(
    restartable_postgres: tuple[LocalPostgres, str], tmp_path: Path, mastodon: MastodonDouble
) -> None:
    """The database stops once a quarter of the Mastodon posts are made, and starts again 10 s later. The
    dispatcher goes on meanwhile with the posts it has claimed (their outcomes wait in memory), then reconnects,
    records them and finishes (its retries need new claims). The worker timeout is shorter than the outage:
    back on line, the worker's own heartbeat looks dead, and it must not take back (and post again) what it
    still works on."""
    server, url = restartable_postgres
    async with fan_out(url, tmp_path, mastodon, OUTAGE_TOWNS, worker_timeout=2.0) as scene:
        async with scene.dispatchers.running() as (dispatcher,):
            while True:  # until the fan-out is well under way
                if sum(scene.fleet.mastodon_posts().values()) >= OUTAGE_TOWNS // 4:
                    break
                await asyncio.sleep(0.05)
            await asyncio.to_thread(server.stop)
            await asyncio.sleep(OUTAGE)
            await asyncio.to_thread(server.start)
            assert dispatcher.running
            await scene.published()
            assert dispatcher.running  # the same process, never restarted
        scene.assert_each_post_made_once()
        log = scene.dispatchers.log.read_text(encoding="utf-8")
        assert "database out of reach" in log
