"""A realistic town-import file: real communes, one per row, as ``type,code,nom,site``.

Used by tests and benchmarks of the import, and from the shell::

    python -m tests.tools.communes_csv OUT.csv [COUNT]
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

from slugify import slugify

from hub.reference import RefEntry, communes

HEADER = ("type", "code", "nom", "site")


def pick_communes(count: int = 1600, seed: int = 2025) -> list[RefEntry]:
    """``count`` distinct current communes drawn with ``seed``, by code; same arguments, same list."""
    return sorted(random.Random(seed).sample(list(communes()), count), key=lambda entry: entry.code)


def website(entry: RefEntry) -> str:
    """A plausible site for a commune: ``L'Haÿ-les-Roses`` → ``https://www.l-hay-les-roses.fr``."""
    return f"https://www.{slugify(entry.name)}.fr"


def write_communes_csv(path: Path | str, count: int = 1600, seed: int = 2025) -> list[RefEntry]:
    """Write ``count`` real communes to ``path`` (UTF-8, comma-separated) and return them in file order."""
    chosen = pick_communes(count, seed)
    with Path(path).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(("commune", entry.code, entry.name, website(entry)) for entry in chosen)
    return chosen


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description="Write a CSV of real communes for import tests.")
    parser.add_argument("out", type=Path, help="the CSV file to write")
    parser.add_argument("count", type=int, nargs="?", default=1600, help="how many communes (default 1600)")
    parser.add_argument("--seed", type=int, default=2025, help="random seed (default 2025)")
    args = parser.parse_args(argv)
    written = write_communes_csv(args.out, args.count, args.seed)
    print(f"{args.out}: {len(written)} communes")


if __name__ == "__main__":
    main()
