"""Benchmark: 10,000 towns × (Bluesky + Mastodon) = 20,000 posts due at one instant, on PostgreSQL, with several
dispatcher processes sharing the work.

A throwaway PostgreSQL server (:mod:`sandbox.postgres`) holds the hub's data; the servers (the Bluesky and Mastodon
doubles, answering every request ``--latency`` seconds after it came) run each in a process of its own
(:mod:`bench.doubles`); ``--processes`` dispatchers run as the operator runs them (``unisson run --role
dispatcher``). They run the pre-flight (the leader alone), then the instant is moved a few seconds ahead and the
publication measured. Prints:

- throughput (posts accepted per second, from the instant to the last post), lateness p50/p99, the last post;
- each dispatcher's CPU seconds during the fan-out (how evenly the work was shared) and PostgreSQL's;
- posts counted on the servers' side: 0 missing and 0 duplicates expected.

Started by hand (it takes several minutes, most of them building the coalition), not in CI::

    python -m bench.scale_out [--towns 10000] [--processes 2] [--latency 0.1] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.doubles import Doubles
from bench.fanout import cpu_seconds, start_dispatcher, wait_prepared, wait_published
from hub.core import Hub, utc_now
from hub.crypto import SecretBox, generate_key
from hub.settings import Settings
from hub.store import Store, migrate
from sandbox.fleet import build_fleet
from sandbox.postgres import run_postgres
from tests.tools.communes_csv import pick_communes

#: Seconds between moving the instant and the instant: every dispatcher is idle and waiting by then.
LEAD_SECONDS = 5.0


async def run(args: argparse.Namespace, database_url: str) -> None:
    work = Path(tempfile.mkdtemp(prefix="unisson-scale-"))
    communes = pick_communes(args.towns, seed=2025)
    codes = [c.code for c in communes]
    doubles = Doubles(codes, args.latency)
    blue, masto = doubles.bluesky, doubles.mastodon
    key = generate_key()
    hub = Hub(Store.from_url(database_url), SecretBox([key]), Settings(data_dir=work, _env_file=None), clock=utc_now)
    try:
        await migrate.upgrade(hub.store)
        started = time.perf_counter()
        towns = [(c.code, c.name) for c in communes]
        fleet = await build_fleet(hub, work, towns, timedelta(hours=1), bluesky=(None, blue), mastodon=(None, masto))
        total = 2 * len(fleet.towns)
        print(f"coalition of {len(fleet.towns)} towns built in {time.perf_counter() - started:.0f} s ({total} posts)")
        env = {
            **os.environ,
            "UNISSON_HTTP_PORT": "0",
            "UNISSON_DATA_DIR": str(work),
            "UNISSON_DATABASE_URL": database_url,
            "UNISSON_ENCRYPTION_KEYS": key,
            "UNISSON_BLUESKY_PLC_URL": blue,
            "UNISSON_PREFLIGHT_MINUTES": "120",
            "UNISSON_PER_HOST_CONCURRENCY": str(args.concurrency),
            "UNISSON_LOG_LEVEL": "WARNING",
        }
        dispatchers = [await start_dispatcher(env, work / f"dispatcher-{n}.log") for n in range(args.processes)]
        try:
            took = await wait_prepared(hub, fleet.announcement.id, total)
            print(f"pre-flight of {total} posts done in {took:.1f} s")
            instant = utc_now() + timedelta(seconds=LEAD_SECONDS)
            async with hub.store.unit() as uow:
                await uow.announcements.update(fleet.announcement.id, publish_at=instant)
                await uow.outbox.reschedule(fleet.announcement.id, instant)
            await asyncio.sleep((instant - utc_now()).total_seconds() - 0.3)
            cpu_before = [cpu_seconds(d.pid) for d in dispatchers]
            await wait_published(hub, fleet.announcement.id)
            cpu = [cpu_seconds(d.pid) - before for d, before in zip(dispatchers, cpu_before, strict=True)]
        finally:
            for dispatcher in dispatchers:
                dispatcher.terminate()
            for dispatcher in dispatchers:
                await dispatcher.wait()
        blue_posts, masto_posts = doubles.count()
        deliveries = await hub.dispatch.outcomes(fleet.announcement.id)
        accepted = sorted(
            (d.delivery.published_at - instant).total_seconds() for d in deliveries if d.delivery.published_at
        )
        report(total, accepted, cpu, blue_posts + masto_posts, args)
    finally:
        await hub.close()
        doubles.stop()


def report(total: int, accepted: list[float], cpu: list[float], counts: list[int], args: argparse.Namespace) -> None:
    if not accepted:
        print(f"posts accepted: 0/{total}")
        return
    last = accepted[-1]
    p99 = accepted[min(len(accepted) - 1, int(len(accepted) * 0.99))]
    print(f"{args.processes} dispatcher processes, {args.concurrency} requests at once per server and process, "
          f"servers answering in {args.latency * 1000:.0f} ms")  # fmt: skip
    print(f"posts accepted: {len(accepted)}/{total}")
    print(f"throughput: {len(accepted) / last:.0f} posts/s (from the instant to the last post)")
    print(f"from the instant: first {accepted[0]:.3f} s, last {last:.3f} s")
    print(f"lateness: p50 {statistics.median(accepted):.3f} s, p99 {p99:.3f} s")
    shares = ", ".join(f"{c:.1f}" for c in cpu)
    print(f"dispatchers' CPU during the fan-out: {shares} s ({sum(cpu) * 1000 / len(accepted):.2f} ms per post)")
    duplicates = sum(1 for n in counts if n > 1)
    missing = sum(1 for n in counts if n == 0)
    print(f"on the servers: {sum(counts)} posts; {missing} missing, {duplicates} duplicates")
    print(f"run at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average {os.getloadavg()[0]:.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--towns", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=2, help="dispatcher processes")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds each server answer takes")
    parser.add_argument("--concurrency", type=int, default=64, help="UNISSON_PER_HOST_CONCURRENCY of each process")
    parser.add_argument("--database-url", default=None, help="an empty PostgreSQL database (default: a throwaway one)")
    args = parser.parse_args(argv)
    if args.database_url:
        asyncio.run(run(args, args.database_url))
        return
    with run_postgres() as server:
        asyncio.run(run(args, server.url()))


if __name__ == "__main__":
    main()
