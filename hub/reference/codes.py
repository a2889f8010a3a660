"""The shape of each kind of official code, checked before any look-up."""

from __future__ import annotations

import re

from hub.domain.model import TownKind

#: Commune: 2 digits (2A or 2B in Corsica, 3 digits overseas) then 3 digits, 5 characters in all.
#: Département: 01 to 95, 2A, 2B, or 971 to 976 overseas. Région: 2 digits. EPCI: a 9-digit SIREN.
FORMATS: dict[TownKind, re.Pattern[str]] = {
    TownKind.COMMUNE: re.compile(r"(?:\d{2}|2[AB])\d{3}"),
    TownKind.EPCI: re.compile(r"\d{9}"),
    TownKind.DEPARTEMENT: re.compile(r"0[1-9]|[1-8]\d|9[0-5]|2[AB]|97[1-6]"),
    TownKind.REGION: re.compile(r"\d{2}"),
}

_CORSICA = re.compile(r"2[AB]")


def normalize(code: str) -> str:
    """``" 2a 004 "`` → ``"2A004"``: whitespace removed, letters upper-cased, nothing else guessed.

    A missing leading zero is *not* restored: ``1001`` may be ``01001`` or a typo of ``10010``.
    """
    return "".join(code.split()).upper()


def well_formed(kind: TownKind, code: str) -> bool:
    """Whether a normalized ``code`` has the shape of a ``kind`` code (``OTHER`` never has one)."""
    pattern = FORMATS.get(kind)
    return pattern is not None and pattern.fullmatch(code) is not None


def checksum_ok(kind: TownKind, code: str) -> bool:
    """Whether the check digit is right; only SIRENs (EPCI) carry one, a Luhn key."""
    # Imported here: python-stdnum weighs some 8 MB, which the dispatcher (it never checks a code) need not hold.
    from stdnum.fr import siren

    return kind is not TownKind.EPCI or siren.is_valid(code)


def departement_of(commune_code: str) -> str:
    """The département part of a commune code: 3 characters overseas (97x, 98x), 2 elsewhere."""
    return commune_code[:3] if commune_code[:2] in {"97", "98"} else commune_code[:2]


def pre_corsica_split(code: str) -> str:
    """A Corsican code in its pre-1976 form (``2A004`` → ``20004``), still found in old files."""
    return "20" + code[2:] if _CORSICA.match(code) else code
