"""Rules about a wording: when two are the same, which version is current, what an alt text must be."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.domain.model import Announcement, AnnouncementState, ImageRef, Platform, Version, Wording
from hub.domain.wording import MAX_ALT, check_alt, content_hash, current_wording, version_number
from hub.errors import InvalidInput, NotFound

RED = ImageRef("a" * 64, "Un carré rouge", "image/png", 10, 10, 100)
NOW = datetime(2026, 12, 3, tzinfo=UTC)


def announcement(wording: Wording | None, number: int = 3) -> Announcement:
    version = Version(7, 5, number, wording, content_hash(wording), "@c:hub", NOW) if wording else None
    return Announcement(5, 1, "Titre", AnnouncementState.OPEN, "fr", False, "@c:hub", NOW, version)


def test_the_same_wording_has_the_same_hash_whatever_the_order_of_its_variants() -> None:
    one = Wording("Texte", variants={Platform.BLUESKY: "court", Platform.MASTODON: "long"})
    other = Wording("Texte", variants={Platform.MASTODON: "long", Platform.BLUESKY: "court"})
    assert content_hash(one) == content_hash(other)
    assert len(content_hash(one)) == 64


def test_text_variants_images_and_alt_texts_all_change_the_hash() -> None:
    base = Wording("Texte", images=(RED,))
    changes = [
        Wording("Texte.", images=(RED,)),
        Wording("Texte", variants={Platform.BLUESKY: "court"}, images=(RED,)),
        Wording("Texte"),
        Wording("Texte", images=(ImageRef(RED.sha256, "Un carré", RED.mime, 10, 10, 100),)),
    ]
    assert len({content_hash(base), *(content_hash(w) for w in changes)}) == 1 + len(changes)


def test_the_current_wording_and_version_number() -> None:
    wording = Wording("Texte")
    assert current_wording(announcement(wording)) == wording
    assert version_number(announcement(wording, number=3)) == 3


def test_an_announcement_without_a_version_has_no_wording_and_no_number() -> None:
    assert version_number(announcement(None)) is None
    with pytest.raises(NotFound) as raised:
        current_wording(announcement(None))
    assert raised.value.message_key == "error.announcement.no_version"


def test_alt_text_is_trimmed() -> None:
    assert check_alt("  Un carré rouge \n") == "Un carré rouge"


@pytest.mark.parametrize(
    ("alt", "key"), [("   ", "error.image.alt_required"), ("x" * (MAX_ALT + 1), "error.image.alt_too_long")]
)
def test_alt_text_is_required_and_bounded(alt: str, key: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        check_alt(alt)
    assert raised.value.message_key == key


def test_the_longest_alt_text_is_accepted() -> None:
    assert check_alt("x" * MAX_ALT) == "x" * MAX_ALT
