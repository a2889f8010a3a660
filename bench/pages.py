"""Benchmark: the coordinators' status page of an announcement for 1,600 real communes, served over HTTP.

Builds a coalition of ``--towns`` communes, each with a Bluesky and a Mastodon account, all signed but one in
ten declining with a reason, the announcement locked (3,200 deliveries waiting); then the hub's own endpoint
serves the pages and an HTTP client on this machine asks for each several times, one request at a time:

- the status page (the whole table), filtered to the declined towns, searched, and as CSV;
- the public page (opened early) and the coalition's page;
- the read model alone (``hub.pages.status``), to tell the database from the rendering.

Prints the first, median, p90 and worst times and the body sizes. Target: the whole status page well under a
second. It is not a pass/fail test.

    python -m bench.pages [--towns 1600] [--repeat 20] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import aiohttp

from hub.core import Hub
from hub.crypto import SecretBox, generate_key
from hub.settings import Settings
from hub.store import Store, migrate
from hub.urls import coalition_path, status_csv_path
from hub.web.app import HttpEndpoint, Monitoring
from sandbox.fleet import COORDINATOR, build_fleet
from tests.tools.communes_csv import pick_communes

TARGET_SECONDS = 1.0
#: Nothing listens there: the accounts are linked without being checked, and nothing is published.
NOWHERE = "http://127.0.0.1:9"
REASON = "Le conseil municipal doit d'abord en délibérer."


async def build(hub: Hub, folder: Path, towns: int) -> tuple[int, int]:
    """The coalition and its locked announcement; their ids."""
    codes = [(entry.code, entry.name) for entry in pick_communes(towns)]
    declined = {code: REASON for code, _ in codes[::10]}
    started = time.perf_counter()
    fleet = await build_fleet(
        hub,
        folder,
        codes,
        timedelta(days=1),
        bluesky=(None, NOWHERE),
        mastodon=(None, NOWHERE),
        declined=declined,
    )
    print(f"built {towns} towns ({len(declined)} declined), locked: {time.perf_counter() - started:.1f} s")
    return fleet.coalition_id, fleet.announcement.id


async def timed(label: str, repeat: int, call: Callable[[], Awaitable[int]], unit: str = "bytes") -> list[float]:
    """Runs ``call`` ``repeat`` times one after the other; prints its timings and the size it returns."""
    times, size = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        size = await call()
        times.append(time.perf_counter() - started)
    ordered = sorted(times)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    print(
        f"  {label:34} first {times[0] * 1000:7.1f} ms  median {statistics.median(times) * 1000:7.1f} ms  "
        f"p90 {p90 * 1000:7.1f} ms  worst {ordered[-1] * 1000:7.1f} ms  "
        + (f"{size / 1024:8.1f} KiB" if unit == "bytes" else f"{size:8} {unit}")
    )
    return times


async def run(url: str, folder: Path, towns: int, repeat: int) -> None:
    store = Store.from_url(url)
    await migrate.upgrade(store)
    settings = Settings(data_dir=folder, database_url=url, _env_file=None)  # type: ignore[call-arg]
    hub = Hub(store, SecretBox([generate_key()]), settings)
    endpoint = HttpEndpoint(Monitoring(hub, asyncio.Event(), ()))
    try:
        coalition_id, number = await build(hub, folder, towns)
        issued = await hub.links.issue(COORDINATOR, coalition_id, number)
        public = await hub.links.open_public(COORDINATOR, coalition_id, number)
        await endpoint.start("127.0.0.1", 0)
        print(f"{store.dialect}, {towns} towns, {repeat} requests each:")
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:

            async def get(path: str) -> int:
                async with http.get(endpoint.url + path) as response:
                    assert response.status == 200, (path, response.status)
                    return len(await response.read())

            async def read_model() -> int:
                page = await hub.pages.status(number)
                return len(page.lines) if page else 0

            status = await timed("status page, every town", repeat, lambda: get(issued.path))
            await timed("status page, declined only", repeat, lambda: get(issued.path + "?etat=declined"))
            await timed("status page, searched", repeat, lambda: get(issued.path + "?q=saint&tri=code"))
            await timed("status table as CSV", repeat, lambda: get(status_csv_path(issued.token)))
            await timed("public page", repeat, lambda: get(public))
            await timed("coalition page", repeat, lambda: get(coalition_path(coalition_id)))
            await timed("read model alone", repeat, read_model, "rows")
        verdict = "within" if statistics.median(status) < TARGET_SECONDS else "OVER"
        print(f"  status page median {verdict} the {TARGET_SECONDS:.0f} s target")
    finally:
        await endpoint.stop()
        await hub.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--towns", type=int, default=1600)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--postgres", action="store_true", help="also run on a throwaway PostgreSQL")
    args = parser.parse_args()
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        asyncio.run(run(f"sqlite+aiosqlite:///{folder / 'bench.db'}", folder, args.towns, args.repeat))
        if args.postgres:
            from sandbox.postgres import run_postgres

            server = stack.enter_context(run_postgres())
            asyncio.run(run(server.url(), folder, args.towns, args.repeat))


if __name__ == "__main__":
    main()
