"""Recognising our own post among a Mastodon account's statuses, and the publisher's messages."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from hub.i18n import LANGUAGES, catalog
from hub.publishers.mastodon_text import comparable_text, status_plain_text

SENT = (
    "Pantin quitte X !\n\nSuivez-nous sur https://ville-93055.fr/une/longue/adresse/de/page"
    " & @pantin@mastodon.example <3\n#AuRevoirX"
)
# What upstream Mastodon renders for SENT: paragraphs, a shortened link, an h-card mention, a hashtag link.
RENDERED = (
    "<p>Pantin quitte X !</p><p>Suivez-nous sur "
    '<a href="https://ville-93055.fr/une/longue/adresse/de/page" target="_blank" rel="nofollow noopener noreferrer"'
    ' translate="no"><span class="invisible">https://</span><span class="ellipsis">ville-93055.fr/une/longue/adre'
    '</span><span class="invisible">sse/de/page</span></a> &amp; <span class="h-card" translate="no">'
    '<a href="https://mastodon.example/@pantin" class="u-url mention">@<span>pantin</span></a></span> &lt;3<br />'
    '<a href="https://mastodon.example/tags/AuRevoirX" class="mention hashtag" rel="tag">#<span>AuRevoirX</span>'
    "</a></p>"
)
PUBLISHERS = Path(__file__).resolve().parents[2] / "hub" / "publishers"


def test_the_rendered_html_of_a_status_reads_as_the_text_we_sent() -> None:
    assert status_plain_text({"content": RENDERED}) == comparable_text(SENT)


def test_a_different_text_does_not_match() -> None:
    assert status_plain_text({"content": RENDERED}) != comparable_text(SENT.replace("Pantin", "Lyon"))
    assert status_plain_text({"content": "<p>Pantin quitte X !</p>"}) != comparable_text(SENT)


def test_the_source_text_is_preferred_when_the_server_gives_it() -> None:
    assert status_plain_text({"text": SENT, "content": "<p>autre chose</p>"}) == comparable_text(SENT)


def test_line_breaks_paragraphs_and_composed_accents_compare_equal() -> None:
    assert status_plain_text({"content": "<p>Cr\u00e9teil</p><p>a<br>b</p>"}) == comparable_text(
        "Cre\u0301teil\n\na\nb"
    )
    assert comparable_text("a  b") == comparable_text("a\n\nb") == "a b"


def test_paragraphs_do_not_glue_words_together() -> None:
    assert status_plain_text({"content": "<p>fin</p><p>début</p>"}) == "fin début"


def _keys() -> set[str]:
    modules = sorted(PUBLISHERS.glob("mastodon*.py"))
    return {key for m in modules for key in re.findall(r'"(publish\.mastodon\.[a-z_]+)"', m.read_text("utf-8"))}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_of_the_publisher_exists(lang: str) -> None:
    assert _keys() and sorted(k for k in _keys() if k not in catalog(lang)) == []


def test_the_messages_use_the_same_fields_in_both_languages() -> None:
    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    fr, en = catalog("fr"), catalog("en")
    assert {k: fields(fr[k]) for k in _keys()} == {k: fields(en[k]) for k in _keys()}
