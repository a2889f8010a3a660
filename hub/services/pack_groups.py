"""How a coalition's towns are shared out between starter packs, the Bluesky app showing at most
:data:`PACK_SIZE` accounts per pack.

Up to :data:`PACK_SIZE` towns, one pack. Beyond, one pack per région, in the order of their names
(« Auvergne-Rhône-Alpes », « Bretagne »…); a région with more towns is cut into packs of whole départements where
it can (« Occitanie (1/2) », its description naming its départements), a département too large for one pack
into alphabetical runs of even size. Towns without a known région (an EPCI, an association) come last, in
« Autres membres ». Everyone finds their town by where it lies.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from hub.reference.places import Place

#: The Bluesky app's cap on the accounts one starter pack shows.
PACK_SIZE = 150
#: The last pack's label: towns whose région is unknown.
OTHERS = "Autres membres"


@dataclass(frozen=True, slots=True)
class Member:
    """A member town on Bluesky: its name, its account's handle, and where it lies when known."""

    name: str
    handle: str
    place: Place | None = None

    @property
    def region(self) -> str | None:
        return self.place.region if self.place else None

    @property
    def departement_code(self) -> str | None:
        return self.place.departement_code if self.place else None

    @property
    def departement(self) -> str | None:
        return self.place.departement if self.place else None


@dataclass(frozen=True, slots=True)
class PackGroup:
    """The towns of one pack; ``label`` names them for people ("" for a coalition's only pack), ``details``
    lists the départements when a région is cut into several packs."""

    label: str
    members: tuple[Member, ...]
    details: str = ""


def pack_groups(members: Sequence[Member], size: int = PACK_SIZE) -> list[PackGroup]:
    """The packs the coalition needs, each of at most ``size`` towns, every member in exactly one."""
    if not members:
        return []
    if len(members) <= size:
        return [PackGroup("", tuple(sorted(members, key=_by_name)))]
    regions: dict[str, list[Member]] = {}
    for member in members:
        regions.setdefault(member.region or "", []).append(member)
    groups: list[PackGroup] = []
    for region in sorted((r for r in regions if r), key=sort_key):
        groups += _region_packs(region, regions[region], size)
    if "" in regions:
        others = sorted(regions[""], key=_by_name)
        groups += _labelled(OTHERS, [_Run(run) for run in _even_runs(others, size)])
    return groups


def sort_key(text: str) -> str:
    """French order without the accents' weight: « Île-de-France » among the I, not after the Z."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _by_name(member: Member) -> tuple[str, str]:
    return (sort_key(member.name), member.handle)


@dataclass(slots=True)
class _Run:
    """Towns for one pack; ``cut`` when they are part of one département too large for a pack (nothing joins)."""

    members: list[Member]
    cut: bool = False


def _region_packs(region: str, members: list[Member], size: int) -> list[PackGroup]:
    if len(members) <= size:
        return [PackGroup(region, tuple(sorted(members, key=_by_name)))]
    departements: dict[str, list[Member]] = {}
    for member in members:
        departements.setdefault(member.departement_code or "", []).append(member)
    runs: list[_Run] = []
    for code in sorted(departements, key=lambda c: (c == "", c)):
        towns = sorted(departements[code], key=_by_name)
        if len(towns) > size:
            runs += [_Run(part, cut=True) for part in _even_runs(towns, size)]
        elif runs and not runs[-1].cut and len(runs[-1].members) + len(towns) <= size:
            runs[-1].members += towns
        else:
            runs.append(_Run(towns))
    return _labelled(region, runs)


def _even_runs(members: list[Member], size: int) -> list[list[Member]]:
    """Alphabetical runs of at most ``size``, of even size (no last pack of three towns)."""
    count = math.ceil(len(members) / size)
    step = math.ceil(len(members) / count)
    return [members[start : start + step] for start in range(0, len(members), step)]


def _labelled(label: str, runs: list[_Run]) -> list[PackGroup]:
    if len(runs) == 1:
        return [PackGroup(label, tuple(runs[0].members))]
    return [PackGroup(f"{label} ({n}/{len(runs)})", tuple(r.members), _details(r)) for n, r in enumerate(runs, 1)]


def _details(run: _Run) -> str:
    """What a reader needs to find their town: the départements, or a run's first and last town."""
    names = list(dict.fromkeys(m.departement for m in run.members if m.departement))
    span = f"{run.members[0].name} – {run.members[-1].name}"
    if not names:
        return span
    return f"{names[0]} : {span}" if run.cut else ", ".join(names)
