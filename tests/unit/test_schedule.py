"""Reading the publication instant: every accepted form, and every refusal with its message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from hub.domain.schedule import describe_instant, parse_instant
from hub.errors import InvalidInput

NOW = datetime(2026, 1, 10, 13, 0, tzinfo=UTC)  # Saturday 10 January 2026, 14:00 in Paris
NINE_PARIS = datetime(2026, 1, 20, 8, 0, tzinfo=UTC)  # Tuesday 20 January 2026, 09:00 in Paris


def parse(text: str, **kwargs: str) -> datetime:
    return parse_instant(text, now=NOW, **kwargs)


def refusal(text: str, lang: str = "fr", now: datetime = NOW, zone: str = "Europe/Paris") -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_instant(text, now=now, lang=lang, zone=zone)
    return caught.value


@pytest.mark.parametrize(
    "text",
    [
        "20/01/2026 9h",
        "20/01/2026 09:00",
        "mardi 20 janvier 2026 à 09:00",
        "20 janv. 2026 9h",
        "2026-01-20T09:00",
        "2026-01-20 09:00",
        "le 20 janvier 2026 à 9h",
        "20/01/2026 à 9h",
        "20.01.2026 9 heures",
        "Tuesday, 20 January 2026 at 9:00",
        "20 January 2026 9am",
        "mar. 20 janv. 2026 9h",
        "  20/01/2026\t 9h  ",
    ],
)
def test_accepted_forms_give_nine_in_paris(text: str) -> None:
    result = parse(text)
    assert result == NINE_PARIS
    assert result.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20/01/2026 9h30", NINE_PARIS + timedelta(minutes=30)),
        ("20/01/2026 9 h 30", NINE_PARIS + timedelta(minutes=30)),
        ("20/01/2026 21h", NINE_PARIS + timedelta(hours=12)),
        ("20 January 2026 9:30 pm", NINE_PARIS + timedelta(hours=12, minutes=30)),
        ("20/01/2026 midi", NINE_PARIS + timedelta(hours=3)),
        ("20/01/2026 0h", NINE_PARIS - timedelta(hours=9)),
    ],
)
def test_the_typed_hour_and_minute_are_kept(text: str, expected: datetime) -> None:
    assert parse(text) == expected


def test_summer_date_uses_the_summer_offset() -> None:
    assert parse("20/06/2026 9h") == datetime(2026, 6, 20, 7, 0, tzinfo=UTC)


def test_other_zone() -> None:
    assert parse("20/01/2026 9h", zone="America/Martinique") == datetime(2026, 1, 20, 13, 0, tzinfo=UTC)


def test_iso_with_offset_is_that_instant() -> None:
    assert parse("2026-01-20T09:00+05:00") == datetime(2026, 1, 20, 4, 0, tzinfo=UTC)
    assert parse("2026-01-20T09:00Z") == datetime(2026, 1, 20, 9, 0, tzinfo=UTC)


def test_now_in_another_offset_is_compared_as_an_instant() -> None:
    now = datetime(2026, 1, 20, 9, 59, tzinfo=timezone(timedelta(hours=2)))  # 07:59 UTC
    assert parse_instant("20/01/2026 9h", now=now) == NINE_PARIS


@pytest.mark.parametrize(
    "text",
    [
        "demain 9h",
        "demain à 9h",
        "lundi prochain à 9h",
        "dans 2 heures",
        "aujourd'hui 18h",
        "tomorrow 9am",
        "next monday 9am",
        "in 2 hours",
    ],
)
def test_relative_forms_are_refused(text: str) -> None:
    error = refusal(text)
    assert error.message("fr") == (
        f"« {text} » est une date relative, qui peut être mal comprise : écrivez la date complète"
        " avec l'heure, par exemple 20/01/2026 9h30."
    )
    assert "is a relative date" in refusal(text, lang="en").message("en")


@pytest.mark.parametrize("text", ["20/01/2026", "mardi 20 janvier 2026", "2026-01-20", "20/01/2026 9"])
def test_a_date_without_a_time_is_refused(text: str) -> None:
    assert refusal(text).message("fr").startswith("Précisez l'heure de publication")


def test_wrong_weekday_names_the_right_one() -> None:
    error = refusal("lundi 20 janvier 2026 à 09:00")
    assert error.message("fr") == (
        "Le 20 janvier 2026 est un mardi, pas un lundi : corrigez le jour de la semaine ou la date."
    )
    english = refusal("Monday 20 January 2026 9am", lang="en")
    assert english.message("en") == (
        "20 January 2026 is a Tuesday, not a Monday: correct the day of the week or the date."
    )


def test_abbreviated_wrong_weekday_is_refused_too() -> None:
    assert "pas un lundi" in refusal("lun. 20 janv. 2026 9h").message("fr")


def test_non_existent_day_is_refused() -> None:
    assert refusal("31/02/2026 9h").message("fr").startswith("Date non comprise : « 31/02/2026 9h ».")
    assert refusal("2026-02-30T09:00").message_key == "schedule.bad_date"


def test_missing_year_is_not_guessed() -> None:
    assert refusal("20 janvier 9h").message("fr") == (
        "Date incomplète : « 20 janvier 9h ». Donnez le jour, le mois et l'année, par exemple 20/01/2026 9h30."
    )


def test_impossible_hour_and_two_hours_are_refused() -> None:
    assert refusal("20/01/2026 25h").message("fr").startswith("L'heure 25h n'existe pas")
    assert refusal("20/01/2026 9h 10h").message_key == "schedule.two_times"


def test_empty_text_is_refused() -> None:
    assert refusal("   ").message_key == "schedule.empty"


def test_dst_gap_is_refused_naming_the_choices() -> None:
    error = refusal("29/03/2026 02:30", now=NOW)
    assert error.message("fr") == (
        "À Paris, dimanche 29 mars 2026 à 02:30 n'existe pas : ce jour-là les horloges passent directement de"
        " 02:00 à 03:00 (heure d'été). Choisissez 01:59 ou 03:00."
    )


def test_dst_gap_in_iso_form_is_refused_too() -> None:
    assert refusal("2026-03-29T02:30").message_key == "schedule.gap"


def test_dst_overlap_is_refused_naming_both_offsets() -> None:
    error = refusal("25/10/2026 02:30", lang="en")
    assert error.message("en") == (
        "In Paris, Sunday 25 October 2026 at 02:30 happens twice: that day the clocks go back one hour"
        " (end of summer time). Write 2026-10-25T02:30+02:00 for the first one (UTC+02:00) or"
        " 2026-10-25T02:30+01:00 for the second (UTC+01:00)."
    )


def test_each_overlap_reading_can_then_be_chosen() -> None:
    assert parse("2026-10-25T02:30+02:00") == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert parse("2026-10-25T02:30+01:00") == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)


def test_times_next_to_dst_changes_are_accepted() -> None:
    assert parse("29/03/2026 03:00") == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert parse("25/10/2026 03:00") == datetime(2026, 10, 25, 2, 0, tzinfo=UTC)


def test_past_instant_is_refused_with_the_understood_date() -> None:
    error = refusal("05/01/2026 9h")
    assert error.message("fr") == (
        "La publication doit être dans le futur : lundi 5 janvier 2026 à 09:00 (heure de Paris)"
        " est déjà passé. Indiquez une date et une heure à venir."
    )


def test_the_present_instant_is_refused_and_the_next_minute_accepted() -> None:
    assert refusal("10/01/2026 14h00").message_key == "schedule.past"
    assert parse("10/01/2026 14h01") == NOW + timedelta(minutes=1)


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError):
        parse_instant("20/01/2026 9h", now=datetime(2026, 1, 10, 13, 0))


def test_describe_instant_echoes_in_full() -> None:
    assert describe_instant(NINE_PARIS, "Europe/Paris", "fr") == "mardi 20 janvier 2026 à 09:00 (heure de Paris)"
    assert describe_instant(NINE_PARIS, "Europe/Paris", "en") == "Tuesday 20 January 2026 at 09:00 (Paris time)"
