"""Benchmark: importing 1,600 real communes from CSV, then the same file again (nothing to change).

Prints figures; it is not a pass/fail test. Target: under 5 s for the first import on SQLite.

    python -m bench.import_towns [--count 1600] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from hub.core import OPERATOR, Hub
from hub.crypto import SecretBox, generate_key
from hub.settings import Settings
from hub.store import Store, migrate
from tests.tools.communes_csv import write_communes_csv


async def run(url: str, folder: Path, count: int) -> None:
    store = Store.from_url(url)
    await migrate.upgrade(store)
    hub = Hub(store, SecretBox([generate_key()]), Settings(data_dir=folder, database_url=url, _env_file=None))  # type: ignore[call-arg]
    path = folder / "communes.csv"
    write_communes_csv(path, count)
    try:
        for label in ("first import", "same file again"):
            started = time.perf_counter()
            report = await hub.towns.import_file(OPERATOR, path)
            elapsed = time.perf_counter() - started
            print(
                f"{store.dialect:10} {label:16} {count} rows: {elapsed:6.3f} s "
                f"(created {len(report.created)}, updated {len(report.updated)}, unchanged {len(report.unchanged)})"
            )
    finally:
        await hub.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1600)
    parser.add_argument("--postgres", action="store_true", help="also run on a throwaway PostgreSQL")
    args = parser.parse_args()
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        asyncio.run(run(f"sqlite+aiosqlite:///{folder / 'bench.db'}", folder, args.count))
        if args.postgres:
            from sandbox.postgres import run_postgres

            server = stack.enter_context(run_postgres())
            asyncio.run(run(server.url(), folder, args.count))


if __name__ == "__main__":
    main()
