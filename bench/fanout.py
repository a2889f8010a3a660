"""Benchmark: 1,600 towns × (Bluesky + Mastodon) = 3,200 posts due at one instant.

The servers (the Bluesky XRPC double and the Mastodon double, answering every request ``--latency`` seconds after it
came, their own work included) run each in a process of its own (:mod:`bench.doubles`); the dispatcher runs as in
production (``unisson run --role dispatcher``) in another, on the embedded SQLite (or ``--database-url``). The
benchmark builds the coalition, lets the pre-flight finish, moves the instant a few seconds ahead and measures, then
publishes a sample of posts one after the other over a single connection (the sequential baseline). Prints:

- time from the instant to the first and to the last accepted post, lateness p50/p99;
- CPU milliseconds of the dispatcher per delivery during the fan-out, its peak RSS (and its RSS just before the
  instant: what the fan-out adds); the doubles' CPU meanwhile (on the same cores here);
- the sequential baseline (per post, extrapolated to every post) and the ratio;
- posts counted on the servers' side (each town exactly once per network).

Targets: the pre-flight within 15 s; all accepted within 3 s of the instant; ≥ 100× the sequential baseline;
≤ 0.5 ms of dispatcher CPU per delivery; peak RSS ≤ 120 MB. Each figure says whether its target was met; it is
not a pass/fail test (a machine busy with other work gives slower figures).

    python -m bench.fanout [--towns 1600] [--latency 0.1] [--baseline 50] [--database-url URL]
    python -m bench.fanout --pds --towns 100      # the smaller run, Bluesky on the real PDS (@atproto/pds)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bench.doubles import Doubles
from hub.core import Hub, utc_now
from hub.crypto import SecretBox, generate_key
from hub.dispatch.gateway import StoreGateway
from hub.domain.model import AnnouncementState, DeliveryState, Platform
from hub.publishers.base import PostJob, Published
from hub.publishers.bluesky import BlueskyPublisher
from hub.publishers.mastodon import MastodonPublisher
from hub.reference import RefEntry
from hub.settings import Settings
from hub.store import Store, migrate
from sandbox.fleet import COORDINATOR, PASSWORD, build_fleet, handle_of, officer_of
from sandbox.pds import RunningPds, run_pds
from tests.tools.communes_csv import pick_communes

TARGET_PREFLIGHT_SECONDS = 15.0
TARGET_SECONDS = 3.0
TARGET_RATIO = 100.0
TARGET_CPU_MS = 0.5
TARGET_RSS_MB = 120.0
TICKS = os.sysconf("SC_CLK_TCK")
#: ``UNISSON_BENCH_PROFILE=out.prof`` runs the dispatcher under cProfile.
_PROFILE_TO = os.environ.get("UNISSON_BENCH_PROFILE")
PROFILE = ("-m", "cProfile", "-o", _PROFILE_TO) if _PROFILE_TO else ()
#: ``UNISSON_BENCH_PROFILE_PREFLIGHT=out.prof`` runs the dispatcher that does the pre-flight under cProfile.
_PREFLIGHT_PROFILE_TO = os.environ.get("UNISSON_BENCH_PROFILE_PREFLIGHT")
PREFLIGHT_PROFILE = ("-m", "cProfile", "-o", _PREFLIGHT_PROFILE_TO) if _PREFLIGHT_PROFILE_TO else ()
#: ``UNISSON_BENCH_SAMPLER="py-spy record -f raw -o out.txt -p {pid}"`` attaches a sampling profiler to the
#: publishing dispatcher (less overhead than cProfile, so the figures stay close to a plain run).
SAMPLER = os.environ.get("UNISSON_BENCH_SAMPLER")


# --- the servers, in their own process -----------------------------------------------------------------------


# --- the dispatcher, as the operator runs it ----------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    return stat_cpu_seconds(Path(f"/proc/{pid}/stat").read_text())


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds of the process's threads, user and system apart: its event loop's (the main thread) and the
    others' (the database's)."""
    seconds: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            user, system = stat_cpu_split((task / "stat").read_text())
            name = "event loop" if task.name == str(pid) else "other threads"
            seconds[f"{name}, user"] = seconds.get(f"{name}, user", 0.0) + user
            seconds[f"{name}, system"] = seconds.get(f"{name}, system", 0.0) + system
    return seconds


def stat_cpu_seconds(stat: str) -> float:
    """User and system CPU seconds from a ``/proc/…/stat`` text (its name, in parentheses, may hold spaces)."""
    return sum(stat_cpu_split(stat))


def stat_cpu_split(stat: str) -> tuple[float, float]:
    """User CPU seconds and system CPU seconds from a ``/proc/…/stat`` text."""
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS


def peak_rss_mb(pid: int, field: str = "VmHWM") -> float:
    """The process's peak resident memory (``VmRSS``: the current one) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def start_dispatcher(
    env: dict[str, str], log: Path, *, profile: tuple[str, ...] = ()
) -> asyncio.subprocess.Process:
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, *profile, "-m", "bot.cli", "run", "--role", "dispatcher",
            env=env, stdout=asyncio.subprocess.PIPE, stderr=out,
        )  # fmt: skip
    assert process.stdout is not None
    if not await asyncio.wait_for(process.stdout.readline(), 60):
        raise SystemExit(f"the dispatcher did not start; see {log}")
    return process


# --- the run --------------------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="unisson-fanout-"))
    communes = pick_communes(args.towns, seed=2025)
    codes = [c.code for c in communes]
    doubles = Doubles(codes, args.latency, bluesky=not args.pds)
    try:
        if args.pds:
            async with run_pds() as pds:
                print(f"Bluesky: the real PDS at {pds.url}, answering at its own speed; Mastodon: the double")
                await fan_out(args, work, communes, doubles, Servers(pds.url, pds.plc_url, doubles.mastodon, pds))
        else:
            await fan_out(
                args, work, communes, doubles, Servers(doubles.bluesky, doubles.bluesky, doubles.mastodon, None)
            )
    finally:
        doubles.stop()


@dataclass(frozen=True)
class Servers:
    bluesky: str
    plc: str
    mastodon: str
    #: The real PDS, when Bluesky is not the double.
    pds: RunningPds | None


async def fan_out(
    args: argparse.Namespace, work: Path, communes: list[RefEntry], doubles: Doubles, servers: Servers
) -> None:
    url = args.database_url or f"sqlite+aiosqlite:///{work / 'unisson.db'}"
    pds_dids = await open_pds_accounts(servers.pds, [c.code for c in communes]) if servers.pds else {}
    key = generate_key()
    settings = Settings(data_dir=work, database_url=url, _env_file=None)
    hub = Hub(Store.from_url(url), SecretBox([key]), settings, clock=utc_now)
    await migrate.upgrade(hub.store)
    started = time.perf_counter()
    fleet = await build_fleet(
        hub,
        work,
        [(c.code, c.name) for c in communes],
        timedelta(hours=1),
        bluesky=(None, servers.bluesky),
        mastodon=(None, servers.mastodon),
    )
    total = 2 * len(fleet.towns)
    print(f"coalition of {len(fleet.towns)} towns built in {time.perf_counter() - started:.1f} s ({total} posts due)")
    env = {
        **os.environ,
        "UNISSON_HTTP_PORT": "0",  # no health endpoint: several of these processes run side by side
        "UNISSON_DATA_DIR": str(work),
        "UNISSON_DATABASE_URL": url,
        "UNISSON_ENCRYPTION_KEYS": key,
        "UNISSON_BLUESKY_PLC_URL": servers.plc,
        "UNISSON_PREFLIGHT_MINUTES": "120",
        "UNISSON_LOG_LEVEL": "WARNING",
    }
    # A first dispatcher runs the pre-flight, then a fresh one publishes: the figures are the fan-out's alone.
    preparing = await start_dispatcher(env, work / "dispatcher.log", profile=PREFLIGHT_PROFILE)
    try:
        took = await wait_prepared(hub, fleet.announcement.id, total)
        print(f"pre-flight of {total} posts done in {took:.1f} s (target ≤ {TARGET_PREFLIGHT_SECONDS:.0f} s: "
              f"{_met(took <= TARGET_PREFLIGHT_SECONDS)})")  # fmt: skip
        print(f"pre-flight CPU of the dispatcher: {cpu_seconds(preparing.pid):.1f} s, start-up included")
    finally:
        preparing.terminate()
        await preparing.wait()
    dispatcher = await start_dispatcher(env, work / "dispatcher.log", profile=PROFILE)
    sampler = None
    try:
        instant = utc_now() + timedelta(seconds=3)
        async with hub.store.unit() as uow:
            await uow.announcements.update(fleet.announcement.id, publish_at=instant)
            await uow.outbox.reschedule(fleet.announcement.id, instant)
        if SAMPLER:  # attached just before the instant: what it records is the fan-out's
            await asyncio.sleep((instant - utc_now()).total_seconds() - 0.6)
            sampler = await asyncio.create_subprocess_exec(*SAMPLER.format(pid=dispatcher.pid).split())
        await asyncio.sleep((instant - utc_now()).total_seconds() - 0.3)
        cpu_before = cpu_seconds(dispatcher.pid)
        doubles_before = {kind: cpu_seconds(pid) for kind, pid in doubles.pids.items()}
        threads_before = thread_cpu_seconds(dispatcher.pid)
        idle_rss = peak_rss_mb(dispatcher.pid, "VmRSS")
        await wait_published(hub, fleet.announcement.id)
        if sampler is not None:
            sampler.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
            await sampler.wait()
            sampler = None
        cpu = cpu_seconds(dispatcher.pid) - cpu_before
        # On this machine's two cores too, though in life they are other machines'.
        spent = {kind: (cpu_seconds(pid) - doubles_before[kind]) * 1000 for kind, pid in doubles.pids.items()}
        print("the doubles' CPU meanwhile: " + ", ".join(f"{kind} {ms:.0f} ms" for kind, ms in spent.items()))
        threads = thread_cpu_seconds(dispatcher.pid)
        print("dispatcher CPU by thread: " + ", ".join(
            f"{name} {(used - threads_before.get(name, 0.0)) * 1000:.0f} ms" for name, used in sorted(threads.items())
            if used - threads_before.get(name, 0.0) > 0
        ))  # fmt: skip
        rss = peak_rss_mb(dispatcher.pid)
    finally:
        if sampler is not None:
            sampler.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
            await sampler.wait()
        dispatcher.terminate()
        await dispatcher.wait()
    blue_posts, masto_posts = doubles.count()
    if servers.pds is not None:
        blue_posts = [await count_pds_posts(servers.pds, did) for did in pds_dids.values()]
    deliveries = await hub.dispatch.outcomes(fleet.announcement.id)
    accepted = sorted(
        (d.delivery.published_at - instant).total_seconds() for d in deliveries if d.delivery.published_at
    )
    baseline_towns = [t.id for t in fleet.towns[: args.baseline]]
    per_post = await baseline(hub, fleet.coalition_id, baseline_towns, servers.plc)
    await hub.close()
    report(total, accepted, deliveries, cpu, (idle_rss, rss), per_post, blue_posts, masto_posts)


async def open_pds_accounts(pds: RunningPds, codes: list[str]) -> dict[str, str]:
    """Creates each town's account on the real PDS (``handle_of``/``PASSWORD``); returns the DIDs by code."""
    dids: dict[str, str] = {}
    for code in codes:
        account = await pds.create_account(handle_of(code), f"{code.lower()}@unisson.test", PASSWORD)
        dids[code] = account.did
    return dids


async def count_pds_posts(pds: RunningPds, did: str) -> int:
    params = {"repo": did, "collection": "app.bsky.feed.post", "limit": "100"}
    async with pds.http.get(pds.xrpc_url("com.atproto.repo.listRecords"), params=params) as answer:
        answer.raise_for_status()
        return len((await answer.json())["records"])


async def wait_prepared(hub: Hub, announcement_id: int, total: int) -> float:
    """Waits until every delivery of the announcement has its pre-flight; returns the seconds it took."""
    started = time.perf_counter()
    waiting = total
    while waiting:
        await asyncio.sleep(0.5)
        async with hub.store.unit() as uow:
            waiting = len(await uow.outbox.to_prepare(announcement_id, retry_transient=False))
    return time.perf_counter() - started


async def wait_published(hub: Hub, announcement_id: int) -> None:
    busy = (AnnouncementState.LOCKED, AnnouncementState.PUBLISHING)
    state = AnnouncementState.LOCKED
    while state in busy:
        await asyncio.sleep(0.05)
        state = (await hub.announcements.get(announcement_id)).state


async def baseline(hub: Hub, coalition_id: int, town_ids: list[int], plc: str) -> float:
    """Seconds per post when posting one after the other over one connection (half to each network)."""
    announcement = await hub.announcements.propose(COORDINATOR, coalition_id, "Base", "{ville} : essai séquentiel")
    towns = {t.id: t for t in await hub.towns.list(coalition_id)}
    for town_id in town_ids:
        await hub.announcements.sign(officer_of(towns[town_id].code or ""), announcement.id, town_id)
    async with hub.store.unit() as uow:
        await uow.announcements.update(announcement.id, publish_at=utc_now() + timedelta(days=1))
    await hub.announcements.lock(COORDINATOR, announcement.id)
    async with hub.store.unit() as uow:
        pending = await uow.deliveries.list(announcement.id)
        accounts = await uow.accounts.many({d.account_id for d in pending if d.account_id})
    gateway = StoreGateway(hub)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as http:
        publishers = {
            Platform.BLUESKY: BlueskyPublisher(gateway, plc_url=plc, http=http),
            Platform.MASTODON: MastodonPublisher(gateway, http=http),
        }
        started = time.perf_counter()
        made: list[Published] = []
        for d in pending:
            job = PostJob(d.id, accounts[d.account_id or 0], d.text, "fr", d.idempotency_key)
            made.append(await publishers[d.platform].publish(job))
        elapsed = time.perf_counter() - started
    return elapsed / max(1, len(made))


def report(
    total: int,
    accepted: list[float],
    deliveries: list[Any],
    cpu: float,
    memory: tuple[float, float],
    per_post: float,
    blue_posts: list[int],
    masto_posts: list[int],
) -> None:
    published = sum(1 for d in deliveries if d.delivery.state is DeliveryState.PUBLISHED)
    last = accepted[-1] if accepted else float("nan")
    sequential = per_post * total
    ratio = sequential / last if accepted else float("nan")
    cpu_ms = cpu * 1000 / max(1, published)
    print(f"posts accepted: {published}/{total}")
    print(f"from the instant: first {accepted[0]:.3f} s, last {last:.3f} s "
          f"(target ≤ {TARGET_SECONDS:.0f} s: {_met(last <= TARGET_SECONDS)})")  # fmt: skip
    p50 = statistics.median(accepted)
    p99 = accepted[min(len(accepted) - 1, int(len(accepted) * 0.99))]
    print(f"lateness: p50 {p50:.3f} s, p99 {p99:.3f} s")
    cpu_met = _met(cpu_ms <= TARGET_CPU_MS)
    print(f"dispatcher CPU: {cpu_ms:.2f} ms per delivery (target ≤ {TARGET_CPU_MS} ms: {cpu_met})")
    idle, rss = memory
    print(f"dispatcher peak RSS: {rss:.0f} MB (target ≤ {TARGET_RSS_MB:.0f} MB: {_met(rss <= TARGET_RSS_MB)}); "
          f"{idle:.0f} MB just before the instant")  # fmt: skip
    print(f"sequential baseline: {per_post * 1000:.0f} ms per post → {sequential:.0f} s for {total}")
    ratio_met = _met(ratio >= TARGET_RATIO)
    print(f"speed-up: {ratio:.0f}× the sequential baseline (target ≥ {TARGET_RATIO:.0f}×: {ratio_met})")
    print(on_the_servers(blue_posts, masto_posts))
    print(f"run at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average {os.getloadavg()[0]:.2f}")


def _met(met: bool) -> str:
    return "met" if met else "NOT met"


def on_the_servers(blue_posts: list[int], masto_posts: list[int]) -> str:
    """What the servers hold, from each town's count of posts on each: the posts, the missing, the doubled."""
    duplicates = sum(1 for n in blue_posts + masto_posts if n > 1)
    missing = sum(1 for n in blue_posts + masto_posts if n == 0)
    return (f"on the servers: {sum(blue_posts)} Bluesky + {sum(masto_posts)} Mastodon posts; {missing} missing, "
            f"{duplicates} towns posted twice")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--towns", type=int, default=1600)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds each server answer takes")
    parser.add_argument("--baseline", type=int, default=50, help="towns posted sequentially for the baseline")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--pds", action="store_true", help="Bluesky on the real PDS (use fewer towns, e.g. 100)")
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
