"""The pure rules of OAuth linking: PKCE (S256), the state, the scopes, the server's address."""

from __future__ import annotations

import base64
import hashlib

import pytest

from bot.secrets import looks_like_secret, masked
from hub.domain.oauth import challenge_of, new_pkce, new_state, scopes_for, state_hash, target_of
from hub.errors import InvalidInput


def test_the_challenge_is_s256_base64url_without_padding() -> None:
    verifier = "a" * 43
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert challenge_of(verifier) == expected and len(expected) == 43 and "=" not in expected


def test_a_pkce_pair_is_new_each_time_and_never_shown() -> None:
    first, second = new_pkce(), new_pkce()
    assert first.verifier != second.verifier and 43 <= len(first.verifier) <= 128
    assert challenge_of(first.verifier) == first.challenge
    assert first.verifier not in repr(first)


def test_the_state_is_random_and_stored_as_its_hash() -> None:
    state = new_state()
    assert state != new_state() and len(state) >= 43
    assert len(state_hash(state)) == 64 and state not in state_hash(state)


def test_the_least_scopes_are_asked_for() -> None:
    assert scopes_for({"profile", "read", "write"}) == "write:statuses write:media write:accounts profile"
    assert scopes_for({"read", "write"}) == "write:statuses write:media write:accounts read:accounts"
    assert scopes_for(None) == "write:statuses write:media write:accounts read:accounts"


@pytest.mark.parametrize(
    ("typed", "server", "domain"),
    [
        ("mastodon.exemple.fr", "https://mastodon.exemple.fr", "mastodon.exemple.fr"),
        ("https://Mastodon.exemple.fr/", "https://mastodon.exemple.fr", "mastodon.exemple.fr"),
        ("@mairie@mastodon.exemple.fr", "https://mastodon.exemple.fr", "mastodon.exemple.fr"),
        ("mairie@mastodon.exemple.fr", "https://mastodon.exemple.fr", "mastodon.exemple.fr"),
    ],
)
def test_a_server_or_a_handle_names_the_server(typed: str, server: str, domain: str) -> None:
    target = target_of(typed)
    assert (target.server, target.domain) == (server, domain)


def test_a_server_address_overrides_the_handle_domain() -> None:
    target = target_of("@mairie@ville.fr", "https://social.ville.fr")
    assert (target.server, target.domain) == ("https://social.ville.fr", "ville.fr")


@pytest.mark.parametrize("typed", ["pantin", "https://x.fr/chemin", "ftp://x.fr", "@a@", "x y.fr"])
def test_anything_else_is_refused(typed: str) -> None:
    with pytest.raises(InvalidInput):
        target_of(typed)


def test_the_code_command_is_kept_out_of_shared_rooms_and_logs() -> None:
    assert looks_like_secret("!code abc")
    assert masked("!code Qx7-secret-code") == "!code […]"
    assert not looks_like_secret("!comptes")
