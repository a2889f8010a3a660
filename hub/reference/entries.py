"""The reference list itself: read once from the committed extract, indexed by kind and code.

The extract ``data/reference.json.gz`` is written by ``scripts/build_reference.py`` from Etalab's
``@etalab/decoupage-administratif``; see that script to update it.
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from hub.domain.model import TownKind

DATA_FILE = "reference.json.gz"


@dataclass(frozen=True, slots=True)
class RefEntry:
    """One official territory.

    ``departement`` and ``region`` are the codes of the département and région the territory lies in (a
    département's own code for a département, a région's own code for a région); ``None`` where that does not
    apply, such as an EPCI spanning several départements or a commune of an overseas collectivity, which
    belongs to no région. ``population`` is the municipal population where the source gives one.
    """

    kind: TownKind
    code: str
    name: str
    departement: str | None = None
    region: str | None = None
    population: int | None = None

    @property
    def label(self) -> str:
        """Code and name, as shown in suggestions: ``93055 Pantin``."""
        return f"{self.code} {self.name}"


@dataclass(frozen=True, slots=True)
class Reference:
    """Every entry by kind and code, plus the indexes the look-ups need."""

    version: str
    by_kind: Mapping[TownKind, Mapping[str, RefEntry]]
    communes: Sequence[RefEntry]
    #: Communes of each postcode, most populous first: a postcode is often typed where the INSEE code belongs.
    communes_by_postcode: Mapping[str, Sequence[RefEntry]]


@cache
def reference() -> Reference:
    """The reference list, read and indexed on first use."""
    raw = _read()
    rows = [(_commune(row), row[5]) for row in raw["communes"]]
    communes = tuple(entry for entry, _ in rows)
    return Reference(
        version=str(raw["source"]["version"]),
        by_kind={
            TownKind.COMMUNE: {e.code: e for e in communes},
            TownKind.EPCI: _index(RefEntry(TownKind.EPCI, c, n, population=p) for c, n, p in raw["epci"]),
            TownKind.DEPARTEMENT: _index(
                RefEntry(TownKind.DEPARTEMENT, c, n, departement=c, region=r) for c, n, r in raw["departements"]
            ),
            TownKind.REGION: _index(RefEntry(TownKind.REGION, c, n, region=c) for c, n in raw["regions"]),
        },
        communes=communes,
        communes_by_postcode=_by_postcode(rows),
    )


def _read() -> dict[str, Any]:
    resource = resources.files("hub.reference").joinpath("data", DATA_FILE)
    with resource.open("rb") as handle:
        value: dict[str, Any] = json.loads(gzip.decompress(handle.read()))
    return value


def _commune(row: list[Any]) -> RefEntry:
    code, name, departement, region, population = row[:5]
    return RefEntry(TownKind.COMMUNE, code, name, departement, region, population)


def _index(entries: Iterable[RefEntry]) -> dict[str, RefEntry]:
    return {entry.code: entry for entry in entries}


def _by_postcode(rows: Sequence[tuple[RefEntry, list[str]]]) -> dict[str, tuple[RefEntry, ...]]:
    groups: defaultdict[str, list[RefEntry]] = defaultdict(list)
    for entry, postcodes in rows:
        for postcode in postcodes:
            groups[postcode].append(entry)
    return {postcode: tuple(sorted(group, key=_by_size)) for postcode, group in groups.items()}


def _by_size(entry: RefEntry) -> tuple[int, str]:
    return (-(entry.population or 0), entry.code)
