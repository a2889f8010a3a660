from __future__ import annotations

import pytest

from hub.domain.identifiers import (
    check_matrix_user_id,
    check_timezone,
    check_web_url,
    normalize_bluesky_handle,
    normalize_mastodon_handle,
)
from hub.errors import InvalidInput


def test_valid_identifiers_are_normalised() -> None:
    assert check_matrix_user_id("@com.pantin:tchap.gouv.fr") == "@com.pantin:tchap.gouv.fr"
    assert normalize_bluesky_handle("@Pantin.BSKY.social") == "pantin.bsky.social"
    assert normalize_mastodon_handle("villedepantin@Mastodon.Social") == "@villedepantin@mastodon.social"
    assert check_web_url(" https://www.ville-pantin.fr ") == "https://www.ville-pantin.fr"
    assert check_timezone("America/Cayenne") == "America/Cayenne"


@pytest.mark.parametrize(
    ("check", "value", "hint"),
    [
        (check_matrix_user_id, "com.pantin@tchap.gouv.fr", "@prenom.nom:serveur.fr"),
        (normalize_bluesky_handle, "pantin", "mairie.bsky.social"),
        (normalize_mastodon_handle, "@pantin", "@mairie@instance.fr"),
        (check_web_url, "www.pantin.fr", "https://"),
        (check_timezone, "Paris", "Europe/Paris"),
    ],
)
def test_invalid_identifiers_say_what_they_should_look_like(check: object, value: str, hint: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check(value)  # type: ignore[operator]
    assert hint in caught.value.message("fr")
    assert value in caught.value.message("fr")
