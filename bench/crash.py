"""Stress: ``kill -9`` of the dispatcher 30 times during a fan-out of 3,200 posts, restarting it after each kill.

1,600 towns × (Bluesky + Mastodon) fall due at once. The servers (the Bluesky and Mastodon doubles, answering
``--latency`` seconds after each request came and losing ``--lost`` of their answers after making the post) run in
processes of their own (:mod:`bench.doubles`), so they survive the kills and count what was really posted. The
dispatchers run as the operator runs them (``unisson run --role dispatcher``, see :mod:`sandbox.dispatchers`),
making ``--per-host`` posts at a time per server, few enough for the fan-out to outlast the kills. Each dispatcher
(``--workers`` of them side by side, killed together) runs a random moment (:data:`sandbox.dispatchers.UPTIME`)
before its ``kill -9``, the next starting at once; after the last kill, dispatchers run until the announcement is
published. Prints:

- how many kills left the fan-out under way (all of them, if the pace is right);
- the time under kills, the time to finish after them, the deliveries tried more than once;
- posts counted on the servers' side: missing and duplicated ones (the figures that must be 0).

It is not a pass/fail test: ``tests/integration/test_dispatcher_crash.py`` runs the same kill pattern on a
smaller fan-out in CI.

    python -m bench.crash [--towns 1600] [--kills 30] [--workers 1] [--latency 0.1] [--per-host 8]
                          [--postgres | --database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.doubles import Doubles
from bench.fanout import on_the_servers
from hub.core import Hub, utc_now
from hub.crypto import SecretBox, generate_key
from hub.domain.model import AnnouncementState
from hub.settings import Settings
from hub.store import Store, migrate
from sandbox.dispatchers import UPTIME, Dispatchers
from sandbox.fleet import build_fleet
from sandbox.postgres import run_postgres
from tests.tools.communes_csv import pick_communes

#: Workers taken for dead this long after their last heartbeat (short: restarts soon take their claims back).
TIMEOUT, HEARTBEAT = 1.0, 0.2


async def run(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="unisson-crash-"))
    codes = [c.code for c in pick_communes(args.towns, seed=2025)]
    doubles = Doubles(codes, args.latency, lost=args.lost)
    try:
        with database(args, work) as url:
            await crash(args, work, url, doubles)
    finally:
        doubles.stop()


@contextlib.contextmanager
def database(args: argparse.Namespace, work: Path) -> Iterator[str]:
    if args.database_url:
        yield args.database_url
    elif args.postgres:
        with run_postgres() as server:
            yield server.url()
    else:
        yield f"sqlite+aiosqlite:///{work / 'unisson.db'}"


async def crash(args: argparse.Namespace, work: Path, url: str, doubles: Doubles) -> None:
    key = generate_key()
    settings = Settings(data_dir=work, database_url=url, _env_file=None)
    hub = Hub(Store.from_url(url), SecretBox([key]), settings, clock=utc_now)
    await migrate.upgrade(hub.store)
    blue, masto = doubles.bluesky, doubles.mastodon
    started = time.perf_counter()
    codes = [(c.code, c.name) for c in pick_communes(args.towns, seed=2025)]
    fleet = await build_fleet(hub, work, codes, timedelta(seconds=2), bluesky=(None, blue), mastodon=(None, masto))
    total = 2 * len(fleet.towns)
    print(f"{len(fleet.towns)} towns built in {time.perf_counter() - started:.0f} s: {total} posts due "
          f"({url.split(':')[0]}; {args.per_host} at a time per server, answers in {args.latency} s)")  # fmt: skip
    dispatchers = Dispatchers(environment(args, work, url, key, blue), work / "dispatcher.log")
    announcement_id = fleet.announcement.id
    await asyncio.sleep(2)  # the instant: the first dispatcher starts the fan-out at once
    chance = random.Random(42)
    during = 0
    started = time.perf_counter()
    for _ in range(args.kills):
        await dispatchers.crash(chance, args.workers)
        during += (await hub.announcements.get(announcement_id)).state is AnnouncementState.PUBLISHING
    killing = time.perf_counter() - started
    left = sum(1 for o in await hub.dispatch.outcomes(announcement_id) if o.delivery.published_at is None)
    started = time.perf_counter()
    async with dispatchers.running(args.workers):
        await _published(hub, announcement_id)
    finishing = time.perf_counter() - started
    outcomes = await hub.dispatch.outcomes(announcement_id)
    await hub.close()
    blue_posts, masto_posts = doubles.count()
    attempts = [o.delivery.attempts for o in outcomes]
    print(f"{args.kills} kill -9 of {args.workers} dispatcher(s), each {UPTIME[0]}–{UPTIME[1]} s after its start: "
          f"{during} left the fan-out under way")  # fmt: skip
    print(f"under kills: {killing:.0f} s, then {left} posts still to make, made in {finishing:.0f} s")
    print(f"deliveries tried more than once: {sum(1 for n in attempts if n > 1)}; most attempts: {max(attempts)}")
    print(f"{on_the_servers(blue_posts, masto_posts)} ({total} due)")
    print(f"run at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; the dispatchers' log: {dispatchers.log}")


def environment(args: argparse.Namespace, work: Path, url: str, key: str, plc: str) -> dict[str, str]:
    return {
        "UNISSON_HTTP_PORT": "0",
        "UNISSON_DATA_DIR": str(work),
        "UNISSON_DATABASE_URL": url,
        "UNISSON_ENCRYPTION_KEYS": key,
        "UNISSON_BLUESKY_PLC_URL": plc,
        "UNISSON_PER_HOST_CONCURRENCY": str(args.per_host),
        "UNISSON_RETRY_INITIAL_SECONDS": "0.2",
        "UNISSON_RETRY_MAX_SECONDS": "1",
        "UNISSON_WORKER_TIMEOUT_SECONDS": str(TIMEOUT),
        "UNISSON_WORKER_HEARTBEAT_SECONDS": str(HEARTBEAT),
        "UNISSON_LOG_LEVEL": "WARNING",
    }


async def _published(hub: Hub, announcement_id: int) -> None:
    while True:
        if (await hub.announcements.get(announcement_id)).state is AnnouncementState.PUBLISHED:
            return
        await asyncio.sleep(0.2)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--towns", type=int, default=1600)
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--workers", type=int, default=1, help="dispatchers side by side, killed together (PostgreSQL)")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds each server answer takes")
    parser.add_argument("--per-host", type=int, default=8, help="posts at a time per server and dispatcher")
    parser.add_argument("--lost", type=float, default=0.05, help="share of answers lost after the post was made")
    parser.add_argument("--postgres", action="store_true", help="a PostgreSQL started for the run")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
