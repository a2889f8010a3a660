"""Whether a text fits, and the verdict shown when it does not."""

from __future__ import annotations

import pytest

from hub.domain.model import Platform, Town, TownKind
from hub.errors import InvalidInput, Problem
from hub.i18n import format_number
from hub.text.fit import Limits, Measure, Unit, check_fit, measure, preview_line

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 1 grapheme, 25 bytes
LIMITS = Limits()
TOWN = Town(id=1, kind=TownKind.COMMUNE, code="78575", name="Saint-Rémy-lès-Chevreuse")


def test_default_limits() -> None:
    assert Limits() == Limits(bluesky_graphemes=300, bluesky_bytes=3000, mastodon_chars=500, mastodon_url_length=23)


def test_bluesky_reports_graphemes_for_ordinary_text() -> None:
    result = measure("a" * 300, Platform.BLUESKY, LIMITS)
    assert result == Measure(300, 300, Unit.GRAPHEMES)
    assert result.fits
    assert result.over == 0


def test_bluesky_reports_bytes_when_they_bind() -> None:
    result = measure(FAMILY * 121, Platform.BLUESKY, LIMITS)
    assert result == Measure(3025, 3000, Unit.BYTES)
    assert result.over == 25
    assert not result.fits


def test_mastodon_measure_uses_the_server_limits() -> None:
    limits = Limits(mastodon_chars=1000, mastodon_url_length=30)
    result = measure("x https://pantin.fr/a", Platform.MASTODON, limits)
    assert result == Measure(32, 1000, Unit.CHARACTERS)


def test_text_that_fits_passes() -> None:
    check_fit("a" * 300, Platform.BLUESKY, LIMITS, TOWN.name)
    check_fit("a" * 500, Platform.MASTODON, LIMITS, TOWN.name)


def test_bluesky_graphemes_verdict() -> None:
    with pytest.raises(Problem) as caught:
        check_fit("é" * 312, Platform.BLUESKY, LIMITS, TOWN.name)
    assert caught.value.message("fr") == "Bluesky, Saint-Rémy-lès-Chevreuse : 312/300 graphèmes, raccourcir de 12"
    assert caught.value.message("en") == "Bluesky, Saint-Rémy-lès-Chevreuse: 312/300 graphemes, shorten by 12"


def test_mastodon_characters_verdict() -> None:
    with pytest.raises(Problem) as caught:
        check_fit("a" * 530, Platform.MASTODON, LIMITS, "Pantin")
    assert caught.value.message("fr") == "Mastodon, Pantin : 530/500 caractères, raccourcir de 30"
    assert caught.value.message("en") == "Mastodon, Pantin: 530/500 characters, shorten by 30"


def test_bluesky_bytes_verdict_formats_numbers_per_language() -> None:
    with pytest.raises(Problem) as caught:
        check_fit(FAMILY * 121, Platform.BLUESKY, LIMITS, "Pantin")
    fr_count, fr_limit = format_number(3025, "fr"), format_number(3000, "fr")
    assert caught.value.message("fr") == f"Bluesky, Pantin : {fr_count}/{fr_limit} octets, raccourcir de 25"
    assert caught.value.message("en") == "Bluesky, Pantin: 3,025/3,000 bytes, shorten by 25"


def test_long_url_fits_on_mastodon_but_not_on_bluesky() -> None:
    text = "a" * 450 + " https://pantin.fr/" + "p" * 100
    check_fit(text, Platform.MASTODON, LIMITS, "Pantin")
    with pytest.raises(Problem):
        check_fit(text, Platform.BLUESKY, LIMITS, "Pantin")


def test_preview_line_renders_and_measures() -> None:
    line = preview_line("Fête à {ville} !", TOWN, Platform.MASTODON, LIMITS)
    assert line.town_name == "Saint-Rémy-lès-Chevreuse"
    assert line.platform is Platform.MASTODON
    assert line.text == "Fête à Saint-Rémy-lès-Chevreuse !"
    assert line.measure == Measure(len(line.text), 500, Unit.CHARACTERS)


def test_preview_line_reports_a_missing_field() -> None:
    with pytest.raises(InvalidInput):
        preview_line("{site}", TOWN, Platform.BLUESKY, LIMITS)
