"""Build ``hub/reference/data/reference.json.gz`` from Etalab's official list of French territories.

Etalab publishes the Insee's *code officiel géographique* and the EPCI list as the npm package
``@etalab/decoupage-administratif`` (MIT). This script installs one pinned version of it into a temporary
folder, checks its integrity against the pinned hash, and writes a compact extract that the hub reads
at run time: current communes, EPCI, départements and régions, plus the package version.

The output is deterministic (sorted rows, sorted keys, no timestamp or file name in the gzip header), so
running the script again with the same pin gives the same bytes and a clean ``git diff``.

To move to a newer release: ``npm view @etalab/decoupage-administratif version dist.integrity``, update
``VERSION`` and ``INTEGRITY``, run ``.venv/bin/python scripts/build_reference.py`` and commit the new file.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

PACKAGE = "@etalab/decoupage-administratif"
VERSION = "6.0.0"
INTEGRITY = "sha512-XavYsFlbcM/prKr8hNHPKER94IHw/dsxNM4nxjWMYk6PLFACpEedvn/7wK8Baozm0dCYhWWcf+7bcWpA5pmCaQ=="

OUTPUT = Path(__file__).resolve().parent.parent / "hub" / "reference" / "data" / "reference.json.gz"

Row = list[Any]


def install(prefix: Path) -> Path:
    """Install the pinned package under ``prefix`` and return its ``data`` folder."""
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm is needed to fetch the reference data: install Node.js (20 or later) first.")
    # --ignore-scripts: the package ships plain JSON; nothing of it needs to run.
    command = [npm, "install", "--prefix", str(prefix), "--ignore-scripts", "--no-audit", "--no-fund"]
    subprocess.run([*command, f"{PACKAGE}@{VERSION}"], check=True, stdout=subprocess.DEVNULL)
    check_integrity(prefix)
    return prefix / "node_modules" / PACKAGE / "data"


def check_integrity(prefix: Path) -> None:
    """Refuse a tarball whose hash differs from the pinned one (a republished or tampered version)."""
    lock = json.loads((prefix / "package-lock.json").read_text(encoding="utf-8"))
    entry = lock["packages"][f"node_modules/{PACKAGE}"]
    if entry["version"] != VERSION or entry["integrity"] != INTEGRITY:
        found = f"{entry['version']} {entry['integrity']}"
        sys.exit(f"{PACKAGE}: expected {VERSION} {INTEGRITY}, npm installed {found}")


def read(data: Path, name: str) -> list[dict[str, Any]]:
    """One of the package's JSON files."""
    rows: list[dict[str, Any]] = json.loads((data / name).read_text(encoding="utf-8"))
    return rows


def regions(source: Iterable[dict[str, Any]]) -> list[Row]:
    """Régions proper: the overseas collectivities listed beside them (zone ``com``) are not régions."""
    return sorted([r["code"], r["nom"]] for r in source if r["zone"] != "com")


def departements(source: Iterable[dict[str, Any]]) -> list[Row]:
    """The 101 départements, each with its région."""
    return sorted([d["code"], d["nom"], d["region"]] for d in source if d["zone"] != "com")


def communes(source: Iterable[dict[str, Any]], region_codes: set[str]) -> list[Row]:
    """Current communes: code, name, département, région (none overseas), population, postcodes.

    Delegated and associated communes and the municipal arrondissements of Paris, Lyon and Marseille share the
    code space but are not communes one can sign up as, so they are left out.
    """
    rows = [
        [
            c["code"],
            c["nom"],
            c["departement"],
            c["region"] if c["region"] in region_codes else None,
            c.get("population"),
            sorted(c.get("codesPostaux", [])),
        ]
        for c in source
        if c["type"] == "commune-actuelle"
    ]
    return sorted(rows, key=lambda row: str(row[0]))


def epci(source: Iterable[dict[str, Any]]) -> list[Row]:
    """EPCI à fiscalité propre: SIREN, name, municipal population."""
    return sorted([e["code"], e["nom"], e.get("populationMunicipale")] for e in source)


def extract(data: Path) -> dict[str, Any]:
    """The whole extract as one JSON-ready value."""
    region_rows = regions(read(data, "regions.json"))
    return {
        "source": {"package": PACKAGE, "version": VERSION, "license": "MIT"},
        "regions": region_rows,
        "departements": departements(read(data, "departements.json")),
        "communes": communes(read(data, "communes.json"), {str(row[0]) for row in region_rows}),
        "epci": epci(read(data, "epci.json")),
    }


def write(value: dict[str, Any], path: Path) -> int:
    """Write ``value`` as gzip'd compact JSON with a fixed header; return the size in bytes."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    buffer = io.BytesIO()
    # mtime=0 and an empty file name keep the gzip header identical from one run to the next.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as archive:
        archive.write(text.encode("utf-8"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return len(buffer.getvalue())


def main() -> None:
    """Fetch, extract, write, and say what was written."""
    with tempfile.TemporaryDirectory(prefix="unisson-reference-") as folder:
        value = extract(install(Path(folder)))
    size = write(value, OUTPUT)
    counts = ", ".join(f"{len(value[k])} {k}" for k in ("communes", "epci", "departements", "regions"))
    print(f"{OUTPUT}: {PACKAGE}@{VERSION}, {counts}, {size} bytes")


if __name__ == "__main__":
    main()
