"""Look-ups in the reference list: exact, nearest, and validation with a message that says what to type."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from hub.domain.model import TownKind
from hub.errors import InvalidInput
from hub.reference.codes import checksum_ok, departement_of, normalize, pre_corsica_split, well_formed
from hub.reference.entries import RefEntry, reference

#: How many communes to list when a postcode was typed instead of an INSEE code.
POSTCODE_SHOWN = 5


def lookup(kind: TownKind, code: str) -> RefEntry | None:
    """The entry with this official code, or ``None`` (always ``None`` for ``TownKind.OTHER``).

    Whitespace and case are forgiven (``" 2a004"`` finds Ajaccio); a missing leading zero is not.
    """
    if kind is TownKind.OTHER:
        return None
    return reference().by_kind[kind].get(normalize(code))


def nearest(kind: TownKind, code: str, limit: int = 3) -> list[RefEntry]:
    """Up to ``limit`` existing codes close to ``code``, most likely first, for a mistyped code.

    Closeness is the number of typing slips (a wrong, missing or extra character, or two swapped neighbours),
    at most 1 for codes of 3 characters or fewer and 2 for longer ones. Among equally close codes, those of
    the département typed come first (communes; Corsica's old ``20`` counts as ``2A``/``2B``), then the most
    populous, since a larger town is likelier to be the one meant. An existing code comes back first itself.
    """
    wanted = normalize(code)
    if kind is TownKind.OTHER or not wanted or limit <= 0:
        return []
    entries = reference().by_kind[kind]
    cutoff = 1 if len(wanted) <= 3 else 2
    # Imported here: the dispatcher never looks a code up, and rapidfuzz weighs some 4 MB in every process.
    from rapidfuzz import process
    from rapidfuzz.distance import OSA

    matches = process.extract(wanted, _codes(kind), scorer=OSA.distance, score_cutoff=cutoff, limit=None)
    home = _home(kind, wanted)
    ranked = sorted(matches, key=lambda m: _rank(entries[m[0]], int(m[1]), home))
    return [entries[match[0]] for match in ranked[:limit]]


def validate(kind: TownKind, code: str) -> RefEntry:
    """The entry for ``code``, or :class:`InvalidInput` saying what is wrong and what to type instead.

    Raises for a badly shaped code, a SIREN whose check digit is wrong, and an unknown code (with the nearest
    existing codes); and always for ``TownKind.OTHER``, which has no official code.
    """
    if kind is TownKind.OTHER:
        raise InvalidInput("reference.other.code", code=code.strip())
    wanted = normalize(code)
    if not wanted:
        raise InvalidInput(f"reference.{kind}.missing")
    if not well_formed(kind, wanted):
        raise InvalidInput(f"reference.{kind}.format", code=code.strip())
    if not checksum_ok(kind, wanted):
        raise _with_suggestions(f"reference.{kind}.checksum", kind, wanted)
    entry = lookup(kind, wanted)
    if entry is None:
        raise _unknown(kind, wanted)
    return entry


def check(kind: TownKind, code: str | None) -> RefEntry | None:
    """Like :func:`validate`, for a town being saved: ``None`` for an ``OTHER`` town without a code."""
    if kind is TownKind.OTHER and not (code or "").strip():
        return None
    return validate(kind, code or "")


def communes() -> Sequence[RefEntry]:
    """Every current commune, by code."""
    return reference().communes


def data_version() -> str:
    """The version of ``@etalab/decoupage-administratif`` the list was taken from."""
    return reference().version


@cache
def _codes(kind: TownKind) -> tuple[str, ...]:
    return tuple(reference().by_kind[kind])


def _home(kind: TownKind, code: str) -> str:
    """What "the same place" means for ranking: the département for a commune, the code itself otherwise."""
    code = pre_corsica_split(code)
    return departement_of(code) if kind is TownKind.COMMUNE else code


def _rank(entry: RefEntry, distance: int, home: str) -> tuple[int, bool, int, str]:
    elsewhere = _home(entry.kind, entry.code) != home
    return (distance, elsewhere, -(entry.population or 0), entry.code)


def _unknown(kind: TownKind, code: str) -> InvalidInput:
    # A commune's postcode has the same shape as its INSEE code and is what officers know by heart.
    by_postcode = reference().communes_by_postcode.get(code, ()) if kind is TownKind.COMMUNE else ()
    if by_postcode:
        shown = ", ".join(entry.label for entry in by_postcode[:POSTCODE_SHOWN])
        more = " …" if len(by_postcode) > POSTCODE_SHOWN else ""
        return InvalidInput("reference.commune.postcode", code=code, communes=shown + more)
    return _with_suggestions(f"reference.{kind}.unknown", kind, code)


def _with_suggestions(key: str, kind: TownKind, code: str) -> InvalidInput:
    suggestions = nearest(kind, code)
    if not suggestions:
        return InvalidInput(f"{key}.nomatch", code=code)
    return InvalidInput(key, code=code, suggestions=", ".join(entry.label for entry in suggestions))
