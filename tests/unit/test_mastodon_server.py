"""Telling which software a Mastodon-API server runs, and mapping its error answers by shape."""

from __future__ import annotations

from typing import Any

import pytest

from hub.domain.model import Account, Platform
from hub.publishers.base import PermanentPublishError, TransientPublishError
from hub.publishers.mastodon_errors import failure, visible_text
from hub.publishers.mastodon_server import UNKNOWN, Software, from_nodeinfo, from_version, nodeinfo_link
from hub.publishers.mastodon_text import comparable_text, same_post, status_plain_text

NODEINFO_20 = "http://nodeinfo.diaspora.software/ns/schema/2.0"
NODEINFO_21 = "http://nodeinfo.diaspora.software/ns/schema/2.1"


@pytest.mark.parametrize(
    ("version", "name"),
    [
        ("takahe/0.11.0", "takahe"),
        ("2.7.2 (compatible; Pleroma 2.6.0)", "pleroma"),
        ("2.7.2 (compatible; Akkoma 3.13.2)", "akkoma"),
        ("4.0.4 (compatible; NeoDB 0.10.4)", "neodb"),  # a Takahē fork behind a Mastodon-like number
        ("4.3.2", ""),  # a bare number names nobody
        (None, ""),
    ],
)
def test_the_instance_version_names_the_software_only_when_it_says_a_name(version: Any, name: str) -> None:
    assert from_version(version).name == name


def test_nodeinfo_prefers_the_newest_schema_and_names_the_software() -> None:
    links = {"links": [{"rel": NODEINFO_20, "href": "https://a.example/20"}, {"rel": NODEINFO_21, "href": "/21"}]}
    assert nodeinfo_link(links) == "/21"
    assert nodeinfo_link({"links": [{"rel": "other", "href": "/x"}]}) is None
    assert nodeinfo_link("<html>") is None
    assert from_nodeinfo({"software": {"name": "GoToSocial", "version": "0.17.0"}}) == Software("gotosocial", "0.17.0")
    assert from_nodeinfo({"software": {}}) == UNKNOWN


@pytest.mark.parametrize("name", ["mastodon", "pleroma", "akkoma", "hollo"])
def test_software_known_to_honour_the_key_is_trusted(name: str) -> None:
    assert Software(name).honours_idempotency


@pytest.mark.parametrize("name", ["takahe", "gotosocial", "neodb", ""])
def test_other_or_unknown_software_is_not_trusted(name: str) -> None:
    assert not Software(name).honours_idempotency


ACCOUNT = Account(1, 1, Platform.MASTODON, "@pantin@ville.example", "https://ville.example")
MAPPING = [
    (401, {"error": "The access token is invalid"}, "token_invalid", True),
    (400, "Invalid Bearer token", "token_invalid", True),
    (401, {"error": "identity_token_required"}, "token_invalid", True),
    (403, {"error": "This action is outside the authorized scopes"}, "scope", True),
    (403, {"error": "out_of_scope_for_token"}, "scope", True),
    (403, {"error": "Your login is currently disabled"}, "forbidden", False),
    (422, {"error": "Validation failed: Text character limit of 500 exceeded"}, "refused", False),
    (400, {"error": "Status is too long"}, "refused", False),
    (422, {"error": "This method requires an authenticated user"}, "app_token", True),
    (404, "<html><head><title>Not Found</title></head><body><h1>Not Found</h1></body></html>", "not_found", False),
    (418, {"error": "teapot"}, "unexpected", False),
]


@pytest.mark.parametrize(("status", "body", "key", "reconnect"), MAPPING)
def test_errors_are_mapped_by_status_class_and_shape(status: int, body: Any, key: str, reconnect: bool) -> None:
    error = failure(status, body, ACCOUNT, None)
    assert isinstance(error, PermanentPublishError)
    assert (error.message_key, error.reconnect) == (f"publish.mastodon.{key}", reconnect)


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 429])
def test_server_trouble_and_rate_limits_are_transient(status: int) -> None:
    assert isinstance(failure(status, "<html>nginx</html>", ACCOUNT, None), TransientPublishError)


def test_the_detail_of_an_html_page_is_its_visible_text() -> None:
    assert visible_text("<html><head><title>x</title></head><body><h1>Not  Found</h1></body></html>") == "Not Found"
    error = failure(400, "Invalid Bearer token", ACCOUNT, None)
    assert error.params["detail"] == "HTTP 400: Invalid Bearer token"


SENT = "Pantin quitte X !\n\nSuivez-nous sur https://ville.fr & @pantin@mastodon.example <3\n#AuRevoirX"
# Takahē's status: the rendered HTML in both ``content`` and ``text``.
RENDERED = (
    '<p>Pantin quitte X !</p><p>Suivez-nous sur <a href="https://ville.fr">ville.fr</a> &amp; '
    '<a href="https://mastodon.example/@pantin">@pantin@mastodon.example</a> &lt;3<br>'
    '<a href="/tags/aurevoirx/">#AuRevoirX</a></p>'
)


def test_a_status_whose_text_is_html_is_compared_on_its_visible_text() -> None:
    status = {"text": RENDERED, "content": RENDERED, "media_attachments": []}
    assert status_plain_text(status) == comparable_text(SENT)
    assert same_post(status, comparable_text(SENT), 0)
    assert not same_post(status, comparable_text(SENT), 1)
    assert not same_post(status, comparable_text(SENT.replace("Pantin", "Lyon")), 0)


def test_a_plain_source_text_with_angle_brackets_is_not_taken_for_html() -> None:
    assert status_plain_text({"text": "a <3 b", "content": "<p>autre</p>"}) == "a <3 b"
