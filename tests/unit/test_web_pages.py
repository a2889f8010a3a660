"""The pure parts of the web pages: the table's filters, search and sort, the CSV's cells, the reader's
language, dates in words, the public wording, and every sentence the templates ask for."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.domain.model import (
    Announcement,
    AnnouncementState,
    DeliveryState,
    Platform,
    SignOn,
    SignOnState,
    Town,
    TownKind,
)
from hub.i18n import LANGUAGES, catalog
from hub.services.campaign_pages import TownLine, is_public, readable
from hub.settings import Settings
from hub.store.repositories.pages import LinkedAccount, Post
from hub.urls import absolute, feed_path, public_path, status_csv_path, status_path
from hub.web.pages import CSV_COLUMNS
from hub.web.render import Words, choose_language, query_string
from hub.web.table import TROUBLED, TableQuery, cell, csv_text

WEB = Path(__file__).resolve().parents[2] / "hub" / "web"
AT = datetime(2026, 1, 20, 8, 0, tzinfo=UTC)


def _line(town_id: int, name: str, code: str, state: SignOnState, minute: int = 0, failed: bool = False) -> TownLine:
    town = Town(town_id, TownKind.COMMUNE, code, name)
    at = AT.replace(minute=minute) if state is not SignOnState.PENDING else None
    post = Post(
        town_id, Platform.BLUESKY, DeliveryState.FAILED if failed else DeliveryState.PENDING, None, None, None, None
    )
    return TownLine(SignOn(town, state, 1, "@x:y", at), [], [post])


LINES = [
    _line(1, "Pantin", "93055", SignOnState.SIGNED, minute=5),
    _line(2, "Le Kremlin-Bicêtre", "94043", SignOnState.DECLINED, minute=1, failed=True),
    _line(3, "Évry-Courcouronnes", "91228", SignOnState.PENDING),
    _line(4, "Saint-Rémy-lès-Chevreuse", "78575", SignOnState.SIGNED, minute=3),
]


def _names(query: TableQuery) -> list[str]:
    return [line.town.name for line in query.apply(LINES)]


def test_the_table_is_sorted_by_name_ignoring_accents_by_default() -> None:
    assert _names(TableQuery()) == ["Évry-Courcouronnes", "Le Kremlin-Bicêtre", "Pantin", "Saint-Rémy-lès-Chevreuse"]


def test_filters_by_state_and_by_trouble() -> None:
    assert _names(TableQuery(state="signed")) == ["Pantin", "Saint-Rémy-lès-Chevreuse"]
    assert _names(TableQuery(state=TROUBLED)) == ["Le Kremlin-Bicêtre"]


def test_search_by_name_without_accents_or_by_exact_code() -> None:
    assert _names(TableQuery(search="evry")) == ["Évry-Courcouronnes"]
    assert _names(TableQuery(search="KREMLIN bicetre")) == ["Le Kremlin-Bicêtre"]
    assert _names(TableQuery(search="93055")) == ["Pantin"]
    assert _names(TableQuery(search="930")) == []  # codes match whole, names by part


def test_sorts_by_code_state_or_date_either_way() -> None:
    assert _names(TableQuery(sort="code"))[0] == "Saint-Rémy-lès-Chevreuse"
    assert _names(TableQuery(sort="etat"))[:2] == ["Le Kremlin-Bicêtre", "Évry-Courcouronnes"]
    assert _names(TableQuery(sort="date", descending=True))[:3] == [
        "Pantin",
        "Saint-Rémy-lès-Chevreuse",
        "Le Kremlin-Bicêtre",
    ]


def test_the_query_is_read_leniently_and_written_back_without_defaults() -> None:
    query = TableQuery.of({"etat": "nonsense", "tri": "'; drop", "sens": "desc", "q": "  Pantin  "})
    assert query == TableQuery(state="", search="Pantin", sort="nom", descending=True)
    assert query.params() == {"q": "Pantin", "sens": "desc"}
    assert TableQuery.of({}).params() == {}


@pytest.mark.parametrize("value", ["=1+1", "+33 1", "-2", "@SUM(A1)", "\t=1"])
def test_a_cell_a_spreadsheet_would_compute_is_kept_as_text(value: str) -> None:
    assert cell(value) == "'" + value


def test_the_csv_starts_with_a_byte_order_mark() -> None:
    text = csv_text(["Ville", "Motif"], [["Pantin", "=cmd"], ["Rennes", None]])
    assert text == "\ufeffVille,Motif\r\nPantin,'=cmd\r\nRennes,\r\n"


@pytest.mark.parametrize(
    ("asked", "accept", "fallback", "chosen"),
    [
        ("en", "fr-FR", "fr", "en"),
        (None, "en-GB,en;q=0.9,fr;q=0.8", "fr", "en"),
        (None, "de-DE, fr;q=0.5, en;q=0.7", "fr", "en"),
        (None, "de-DE", "en", "en"),
        ("xx", None, "fr", "fr"),
        (None, "en;q=0, fr", "en", "fr"),
    ],
)
def test_the_language_is_asked_then_accepted_then_the_coalitions(
    asked: str | None, accept: str | None, fallback: str, chosen: str
) -> None:
    assert choose_language(asked, accept, fallback) == chosen


def test_dates_are_in_words_in_the_given_zone() -> None:
    assert Words("fr").short(AT, "Europe/Paris") == "20 janv. 2026 à 09:00"
    assert Words("en").short(AT, "America/Martinique") == "20 Jan 2026 at 04:00"
    assert Words("fr").instant(AT, "Europe/Paris") == "mardi 20 janvier 2026 à 09:00 (heure de Paris)"


def test_query_strings_keep_what_is_given() -> None:
    assert query_string({"etat": "signed", "q": ""}, lang="en") == "?etat=signed&lang=en"
    assert query_string({}) == ""


def test_a_wording_shows_its_placeholders_as_words() -> None:
    assert readable("{ville} quitte X, voir {site} {{sic}}") == "[ville] quitte X, voir [site] {sic}"
    assert readable("un { mal fermé") == "un { mal fermé"


@pytest.mark.parametrize(
    ("state", "opened", "public"),
    [
        (AnnouncementState.OPEN, False, False),
        (AnnouncementState.OPEN, True, True),
        (AnnouncementState.PUBLISHED, False, True),
        (AnnouncementState.PARTIALLY_FAILED, False, True),
        (AnnouncementState.CANCELLED, True, False),
        (AnnouncementState.RETRACTED, True, False),
    ],
)
def test_which_announcements_are_public(state: AnnouncementState, opened: bool, public: bool) -> None:
    announcement = Announcement(1, 1, "t", state, "fr", False, "@c:y", AT, None)
    assert is_public(announcement, AT if opened else None) is public


def test_paths_and_absolute_links() -> None:
    assert (status_path("abc"), status_csv_path("abc")) == ("/s/abc", "/s/abc/villes.csv")
    assert (public_path(2, 7), feed_path(2)) == ("/c/2/7", "/c/2/annonces.atom")
    bare = Settings(_env_file=None)  # type: ignore[call-arg]
    assert absolute(bare, "/c/2/7") is None
    public = Settings(public_url="https://unisson.example.org/", _env_file=None)  # type: ignore[call-arg]
    assert absolute(public, "/c/2/7") == "https://unisson.example.org/c/2/7"


def test_a_troubled_town_has_a_failing_account_or_a_failed_post() -> None:
    town = Town(9, TownKind.COMMUNE, "35238", "Rennes")
    account = LinkedAccount(9, Platform.MASTODON, "@r@m.example", "m.example", None, failing=True)
    assert TownLine(SignOn(town, SignOnState.SIGNED), [account]).troubled
    assert not TownLine(SignOn(town, SignOnState.SIGNED)).troubled


_ASKED = re.compile(r"""t\(\s*["'](web\.[a-z0-9_.]+)["']""")
_BUILT = re.compile(r"""["'](web\.[a-z_.]+\.)["']\s*~""")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_sentence_the_pages_ask_for_is_in_the_catalog(lang: str) -> None:
    sources = [*(WEB / "templates").glob("*.html"), *WEB.glob("*.py")]
    asked = {key for path in sources for key in _ASKED.findall(path.read_text("utf-8")) if not key.endswith(".")}
    asked |= {f"web.csv.{column}" for column in CSV_COLUMNS}
    assert asked and sorted(k for k in asked if k not in catalog(lang)) == []
    values = {
        "web.language.": LANGUAGES,
        "web.signon.": [s.value for s in SignOnState],
        "web.post.": [s.value for s in DeliveryState],
        "web.platform.": [p.value for p in Platform],
        "web.public.posts.": [p.value for p in Platform],
        "web.status.count.": [*(s.value for s in SignOnState), TROUBLED],
        "web.status.posts.": [s.value for s in DeliveryState],
        "web.filter.": ["all", *(s.value for s in SignOnState), TROUBLED],
        "web.sort.": ["nom", "code", "etat", "date"],
    }
    built = {prefix for path in sources for prefix in _BUILT.findall(path.read_text("utf-8"))}
    assert built <= set(values)
    missing = [prefix + v for prefix in built for v in values[prefix] if prefix + v not in catalog(lang)]
    assert missing == []
