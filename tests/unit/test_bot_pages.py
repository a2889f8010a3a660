"""Links from the room to the web pages: shown only with ``UNISSON_PUBLIC_URL``, the public page once published."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.pages import add_public_page, add_status_links, public_page
from bot.publication_text import publication_recap
from bot.render import Rich
from hub.domain.model import Announcement, AnnouncementState
from hub.settings import Settings

INSTANT = datetime(2026, 1, 20, 8, 0, tzinfo=UTC)


def _announcement(state: AnnouncementState) -> Announcement:
    return Announcement(
        7, 2, "Départ de X", state, "fr", False, "@coordination:unisson.test", INSTANT, None, None, INSTANT
    )


def _settings(public_url: str | None) -> Settings:
    return Settings(public_url=public_url, _env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("state", "shown"),
    [
        (AnnouncementState.OPEN, False),
        (AnnouncementState.LOCKED, False),
        (AnnouncementState.PUBLISHING, True),
        (AnnouncementState.PUBLISHED, True),
        (AnnouncementState.PARTIALLY_FAILED, True),
        (AnnouncementState.RETRACTED, False),
    ],
)
def test_the_public_page_is_linked_once_published_and_only_with_a_public_url(
    state: AnnouncementState, shown: bool
) -> None:
    announcement = _announcement(state)
    expected = "https://unisson.example.org/c/2/7" if shown else None
    assert public_page(_settings("https://unisson.example.org/"), announcement) == expected
    assert public_page(_settings(None), announcement) is None


def test_the_link_reads_as_a_sentence_in_plain_text_and_a_link_in_html() -> None:
    reply = add_public_page(Rich().strong("Annonce"), "https://unisson.example.org/c/2/7", "fr").build()
    assert (
        reply.plain
        == "Annonce\nPage publique : les villes signataires et leurs publications https://unisson.example.org/c/2/7"
    )
    assert '<a href="https://unisson.example.org/c/2/7">Page publique' in reply.html
    assert add_public_page(Rich().text("x"), None, "fr").build().plain == "x"


def test_the_recap_links_to_the_public_page_under_its_count() -> None:
    announcement = _announcement(AnnouncementState.PUBLISHED)
    [page] = publication_recap(announcement, [], {}, "en", "!", "https://unisson.example.org/c/2/7")
    assert (
        page.plain.splitlines()[1]
        == "Public page: the signatory towns and their posts https://unisson.example.org/c/2/7"
    )


def test_the_status_answer_names_the_link_command_to_coordinators_only() -> None:
    announcement = _announcement(AnnouncementState.PUBLISHED)
    settings = _settings("https://unisson.example.org")
    coordinator = add_status_links(Rich().text("État"), settings, announcement, "fr", "!").build().plain
    assert "https://unisson.example.org/c/2/7" in coordinator and "!lien 7 vous en envoie le lien" in coordinator
    officer = add_status_links(Rich().text("État"), settings, announcement, "fr", None).build().plain
    assert "https://unisson.example.org/c/2/7" in officer and "!lien" not in officer
    assert add_status_links(Rich().text("État"), _settings(None), announcement, "fr", "!").build().plain == "État"
