"""Where a town lies: its département and its région, by name, as people group towns on a map.

A commune's département is read from its code (``94043`` → ``94``, ``2A004`` → ``2A``, ``97411`` → ``974``)
when the commune itself is not in the list (merged since, or typed in an old form); an EPCI spans several
départements and an "other" town has no code, so neither has a place here.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.domain.model import TownKind
from hub.reference.codes import departement_of, normalize
from hub.reference.entries import reference

#: Corsica's département code before it was split into 2A and 2B, still found in old files.
CORSICA_BEFORE_1976 = "20"


@dataclass(frozen=True, slots=True)
class Place:
    """A town's région and département, codes and names (``departement`` is None for a région itself)."""

    region_code: str
    region: str
    departement_code: str | None = None
    departement: str | None = None


def place_of(kind: TownKind, code: str | None) -> Place | None:
    """The région (and département) of a town, or None when it has no single known one."""
    if not code or kind in (TownKind.OTHER, TownKind.EPCI):
        return None
    wanted = normalize(code)
    by_kind = reference().by_kind
    if kind is TownKind.REGION:
        region = by_kind[TownKind.REGION].get(wanted)
        return Place(region.code, region.name) if region else None
    if kind is TownKind.COMMUNE:
        commune = by_kind[TownKind.COMMUNE].get(wanted)
        wanted = commune.departement if commune and commune.departement else departement_of(wanted)
        if wanted == CORSICA_BEFORE_1976:  # the island is one région, whichever of its two départements
            corsica = by_kind[TownKind.DEPARTEMENT]["2A"].region or ""
            region = by_kind[TownKind.REGION].get(corsica)
            return Place(region.code, region.name) if region else None
    departement = by_kind[TownKind.DEPARTEMENT].get(wanted)
    region = by_kind[TownKind.REGION].get(departement.region or "") if departement else None
    if departement is None or region is None:
        return None
    return Place(region.code, region.name, departement.code, departement.name)
