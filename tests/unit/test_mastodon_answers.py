from __future__ import annotations

from hub.publishers.mastodon_answers import parse_json


def test_an_answer_is_its_json_read_from_its_bytes() -> None:
    assert parse_json('{"id": "1", "content": "<p>Été</p>"}'.encode()) == {"id": "1", "content": "<p>Été</p>"}


def test_an_error_page_is_its_text_in_the_charset_it_declares() -> None:
    page = "<h1>Accès refusé</h1>".encode("latin-1")
    assert parse_json(page, "iso-8859-1") == "<h1>Accès refusé</h1>"
    assert parse_json(page) == "<h1>Acc\ufffds refus\ufffd</h1>"  # no charset said: UTF-8, the rest replaced
    assert parse_json(page, "no-such-charset") == "<h1>Acc\ufffds refus\ufffd</h1>"
    assert parse_json(b"Invalid Bearer token", None) == "Invalid Bearer token"  # Takahe's text/html 400


def test_json_in_another_charset_than_utf8_is_still_read() -> None:
    assert parse_json('{"error": "Accès refusé"}'.encode("latin-1"), "iso-8859-1") == {"error": "Accès refusé"}
