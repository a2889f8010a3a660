"""The official reference list: names, look-ups, suggestions and refusal messages, on the real data."""

from __future__ import annotations

import pytest

from hub.domain.model import TownKind
from hub.errors import InvalidInput
from hub.reference import RefEntry, check, communes, data_version, lookup, nearest, normalize, validate

K = TownKind


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("93055", "Pantin"),
        ("94043", "Le Kremlin-Bicêtre"),
        ("94038", "L'Haÿ-les-Roses"),
        ("78575", "Saint-Rémy-lès-Chevreuse"),
        ("2A004", "Ajaccio"),
        ("2B033", "Bastia"),
        ("97411", "Saint-Denis"),
    ],
)
def test_commune_names_come_out_exactly(code: str, name: str) -> None:
    entry = validate(K.COMMUNE, code)
    assert (entry.kind, entry.code, entry.name) == (K.COMMUNE, code, name)


def test_a_commune_knows_its_departement_region_and_population() -> None:
    pantin = validate(K.COMMUNE, "93055")
    assert (pantin.departement, pantin.region) == ("93", "11")
    assert pantin.population is not None and pantin.population > 50_000
    assert validate(K.COMMUNE, "2A004").departement == "2A"
    assert validate(K.COMMUNE, "2A004").region == "94"


def test_epci_departement_and_region() -> None:
    assert validate(K.EPCI, "243500139").name == "Rennes Métropole"
    haute_corse = validate(K.DEPARTEMENT, "2B")
    assert (haute_corse.name, haute_corse.region) == ("Haute-Corse", "94")
    assert validate(K.DEPARTEMENT, "976").name == "Mayotte"
    assert validate(K.REGION, "53").name == "Bretagne"


def test_whitespace_and_case_are_forgiven() -> None:
    assert normalize(" 2a 004\u00a0") == "2A004"
    assert lookup(K.COMMUNE, " 2a004 ") == validate(K.COMMUNE, "2A004")
    assert validate(K.EPCI, "243 500 139").code == "243500139"
    assert validate(K.DEPARTEMENT, "2b").code == "2B"


def test_a_missing_leading_zero_is_not_guessed() -> None:
    assert lookup(K.COMMUNE, "1001") is None
    with pytest.raises(InvalidInput) as caught:
        validate(K.COMMUNE, "1001")
    assert caught.value.message_key == "reference.commune.format"
    assert "01001" in caught.value.message("fr")


def test_lookup_of_unknown_or_other_is_none() -> None:
    assert lookup(K.COMMUNE, "93505") is None
    assert lookup(K.OTHER, "93055") is None
    assert lookup(K.REGION, "54") is None


def test_only_current_communes_are_listed() -> None:
    everything = communes()
    codes = {entry.code for entry in everything}
    assert len(everything) > 34_000
    assert all(entry.kind is K.COMMUNE for entry in everything)
    assert [e.code for e in everything] == sorted(codes)
    # Paris's municipal arrondissements are not communes.
    assert "75056" in codes and "75101" not in codes


def test_data_version_is_the_pinned_package() -> None:
    assert data_version().count(".") == 2


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        (K.COMMUNE, "9305"),
        (K.COMMUNE, "930555"),
        (K.COMMUNE, "2C004"),
        (K.COMMUNE, "A3055"),
        (K.EPCI, "24350013"),
        (K.EPCI, "24350013X"),
        (K.DEPARTEMENT, "1"),
        (K.DEPARTEMENT, "00"),
        (K.DEPARTEMENT, "96"),
        (K.DEPARTEMENT, "977"),
        (K.REGION, "5"),
        (K.REGION, "053"),
    ],
)
def test_bad_formats_are_refused(kind: TownKind, code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate(kind, code)
    assert caught.value.message_key == f"reference.{kind}.format"
    assert code in caught.value.message("fr")


def test_a_wrong_siren_check_digit_suggests_the_right_epci() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate(K.EPCI, "243500138")
    assert caught.value.message_key == "reference.epci.checksum"
    assert nearest(K.EPCI, "243500138")[0].code == "243500139"
    assert "243500139 Rennes Métropole" in caught.value.message("fr")


def test_an_unknown_commune_code_suggests_near_codes_of_the_same_departement() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate(K.COMMUNE, "93505")
    assert caught.value.message_key == "reference.commune.unknown"
    first_two = [entry.code for entry in nearest(K.COMMUNE, "93505")[:2]]
    assert sorted(first_two) == ["93005", "93055"]
    message = caught.value.message("fr")
    assert message.startswith("Code INSEE 93505 inconnu. Vouliez-vous dire : ")
    assert "93055 Pantin" in message and "93005 Aulnay-sous-Bois" in message


def test_nearest_prefers_the_departement_typed() -> None:
    # 35832 does not exist; 35032, 35132, 35232 and 35332 are one slip away in the same département, and so is
    # 38532 (two digits swapped) in another: the département typed comes first.
    found = nearest(K.COMMUNE, "35832", limit=5)
    assert sorted(entry.code for entry in found[:4]) == ["35032", "35132", "35232", "35332"]
    assert found[4].code == "38532"


def test_nearest_respects_limit_and_returns_an_exact_code_first() -> None:
    assert [e.code for e in nearest(K.COMMUNE, "93055", limit=1)] == ["93055"]
    assert nearest(K.COMMUNE, "93505", limit=0) == []
    assert nearest(K.OTHER, "93055") == []


def test_an_old_corsican_code_points_to_2a_or_2b() -> None:
    assert nearest(K.COMMUNE, "20004")[0].code == "2A004"
    assert {e.code for e in nearest(K.DEPARTEMENT, "20")[:2]} == {"2A", "2B"}


def test_a_postcode_typed_for_an_insee_code_is_explained() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate(K.COMMUNE, "93500")
    assert caught.value.message_key == "reference.commune.postcode"
    assert "93055 Pantin" in caught.value.message("fr")
    assert "code postal" in caught.value.message("fr")


def test_unknown_departement_and_region() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate(K.REGION, "54")
    assert caught.value.message_key == "reference.region.unknown"
    with pytest.raises(InvalidInput) as caught:
        validate(K.DEPARTEMENT, "20")
    assert "2A Corse-du-Sud" in caught.value.message("en")


def test_an_unknown_code_without_near_match_says_so() -> None:
    # A SIREN with a right check digit but far from every EPCI's: no suggestion, the nomatch wording.
    with pytest.raises(InvalidInput) as caught:
        validate(K.EPCI, "111111118")
    assert caught.value.message_key == "reference.epci.unknown.nomatch"
    assert "111111118" in caught.value.message("fr")


def test_other_never_has_a_code() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate(K.OTHER, "93055")
    assert caught.value.message_key == "reference.other.code"
    assert check(K.OTHER, None) is None
    assert check(K.OTHER, "  ") is None
    with pytest.raises(InvalidInput):
        check(K.OTHER, "93055")


def test_a_coded_kind_without_code_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        check(K.COMMUNE, None)
    assert caught.value.message_key == "reference.commune.missing"
    assert isinstance(check(K.REGION, "53"), RefEntry)


KINDS = ("commune", "epci", "departement", "region")
KEYS: list[tuple[str, dict[str, str]]] = [
    ("reference.other.code", {"code": "93055"}),
    ("reference.commune.postcode", {"code": "93500", "communes": "93055 Pantin"}),
    ("reference.epci.checksum", {"code": "243500138", "suggestions": "243500139 Rennes Métropole"}),
    ("reference.epci.checksum.nomatch", {"code": "243500138"}),
    *[(f"reference.{kind}.missing", {}) for kind in KINDS],
    *[(f"reference.{kind}.format", {"code": "X1"}) for kind in KINDS],
    *[(f"reference.{kind}.unknown", {"code": "X1", "suggestions": "S1 Somewhere"}) for kind in KINDS],
    *[(f"reference.{kind}.unknown.nomatch", {"code": "X1"}) for kind in KINDS],
]


@pytest.mark.parametrize(("key", "params"), KEYS)
@pytest.mark.parametrize("lang", ["fr", "en"])
def test_every_message_renders_in_both_languages(key: str, params: dict[str, str], lang: str) -> None:
    text = InvalidInput(key, **params).message(lang)
    assert text != key and "{" not in text
    assert all(value in text for value in params.values())


def test_french_and_english_differ() -> None:
    error = InvalidInput("reference.commune.unknown", code="93505", suggestions="93055 Pantin")
    assert error.message("fr") == "Code INSEE 93505 inconnu. Vouliez-vous dire : 93055 Pantin ?"
    assert error.message("en") == "Unknown INSEE code 93505. Did you mean: 93055 Pantin?"
