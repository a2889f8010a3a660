"""Pills back to Matrix ids: what Element sends for a mention, and what a command must read."""

from __future__ import annotations

from typing import Any

import pytest

from bot.mentions import Pill, command_text, pills_in, user_of_link, with_named_users, with_user_ids
from bot.render import HTML_FORMAT

MARIE = "@marie:exemple.fr"


def _pill(user_id: str, name: str) -> str:
    return f'<a href="https://matrix.to/#/{user_id}">{name}</a>'


def _element(body: str, html: str, *mentioned: str, **more: Any) -> dict[str, Any]:
    """A message content as Element sends it with pills."""
    return {
        "msgtype": "m.text",
        "body": body,
        "format": HTML_FORMAT,
        "formatted_body": html,
        "m.mentions": {"user_ids": list(mentioned)},
        **more,
    }


def _no_names(user_id: str) -> str | None:
    return None


@pytest.mark.parametrize(
    ("href", "user_id"),
    [
        ("https://matrix.to/#/@marie:exemple.fr", MARIE),
        ("https://matrix.to/#/%40marie%3Aexemple.fr", MARIE),
        ("https://matrix.to/#/@marie:exemple.fr?via=exemple.fr", MARIE),
        ("matrix:u/marie:exemple.fr?action=chat", MARIE),
        ("https://matrix.to/#/#salon:exemple.fr", None),
        ("https://matrix.to/#/!salon:exemple.fr/$evenement", None),
        ("https://exemple.fr/#/@marie:exemple.fr", None),
        ("https://matrix.to/#/@pas un id", None),
    ],
)
def test_links_to_users_are_recognised_and_nothing_else(href: str, user_id: str | None) -> None:
    assert user_of_link(href) == user_id


def test_an_element_pill_becomes_the_user_id() -> None:
    html = f"!referent Le Pré-Saint-Gervais {_pill(MARIE, 'Marie Dupont')}"
    content = _element("!referent Le Pré-Saint-Gervais Marie Dupont", html, MARIE)

    assert command_text(content["body"], content, _no_names) == f"!referent Le Pré-Saint-Gervais {MARIE}"


def test_the_same_words_before_the_pill_are_left_alone() -> None:
    html = f"!referent Marie-Galante {_pill(MARIE, 'Marie')}"
    assert with_user_ids("!referent Marie-Galante Marie", html) == f"!referent Marie-Galante {MARIE}"


def test_several_pills_html_entities_and_markup() -> None:
    paul = "@paul:autre.example"
    html = f"<p>!coordinateur {_pill(MARIE, 'Marie &amp; Co')} et <strong>{_pill(paul, 'Paul')}</strong></p>"
    assert pills_in(html) == [Pill("Marie & Co", MARIE), Pill("Paul", paul)]
    assert with_user_ids("!coordinateur Marie & Co et Paul", html) == f"!coordinateur {MARIE} et {paul}"


def test_pills_in_the_quoted_reply_are_not_the_senders() -> None:
    quoted = f"<mx-reply><blockquote>{_pill('@paul:exemple.fr', 'Paul')} a dit : Marie</blockquote></mx-reply>"
    html = quoted + f"!coordinateur {_pill(MARIE, 'Marie')}"
    assert pills_in(html) == [Pill("Marie", MARIE)]
    assert with_user_ids("!coordinateur Marie", html) == f"!coordinateur {MARIE}"


def test_a_pill_already_showing_the_id_or_a_web_link_changes_nothing() -> None:
    html = f'!referent Pantin {_pill(MARIE, MARIE)} <a href="https://pantin.fr">site</a>'
    assert with_user_ids(f"!referent Pantin {MARIE} site", html) == f"!referent Pantin {MARIE} site"


def test_without_html_a_mentioned_display_name_is_read_as_whole_words() -> None:
    content = {"msgtype": "m.text", "body": "!referent Marie-Galante Marie", "m.mentions": {"user_ids": [MARIE]}}
    names = {MARIE: "Marie"}.get
    assert command_text(content["body"], content, names) == f"!referent Marie-Galante {MARIE}"
    assert with_named_users("!coordinateur Mariette", {MARIE: "Marie"}) == "!coordinateur Mariette"


def test_a_reply_without_html_keeps_its_text() -> None:
    """A reply lists the author it answers in ``m.mentions``; their name in the text is not a mention."""
    content = {
        "msgtype": "m.text",
        "body": "!annonce Merci Marie",
        "m.mentions": {"user_ids": [MARIE]},
        "m.relates_to": {"m.in_reply_to": {"event_id": "$message"}},
    }
    assert command_text(content["body"], content, {MARIE: "Marie"}.get) == "!annonce Merci Marie"


def test_plain_text_without_mentions_is_unchanged() -> None:
    content = {"msgtype": "m.text", "body": "!referent Pantin @marie:exemple.fr"}
    assert command_text(content["body"], content, _no_names) == "!referent Pantin @marie:exemple.fr"
