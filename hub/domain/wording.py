"""Rules about an announcement's wording: what makes two wordings the same, which version is current, and
what an image's alt text must be."""

from __future__ import annotations

import hashlib
import json

from hub.domain.model import Announcement, Wording
from hub.errors import InvalidInput, NotFound

#: Longest alt text, in characters (Bluesky's and Mastodon's limits are both higher).
MAX_ALT = 1500


def content_hash(wording: Wording) -> str:
    """The wording's fingerprint: equal for the same text, variants and images (with their alt texts)."""
    canonical = {
        "text": wording.text,
        "variants": {p.value: t for p, t in sorted(wording.variants.items())},
        "images": [[i.sha256, i.alt] for i in wording.images],
    }
    return hashlib.sha256(json.dumps(canonical, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def current_wording(announcement: Announcement) -> Wording:
    if announcement.current_version is None:
        raise NotFound("error.announcement.no_version", id=str(announcement.id))
    return announcement.current_version.wording


def version_number(announcement: Announcement) -> int | None:
    return announcement.current_version.number if announcement.current_version else None


def check_alt(alt: str) -> str:
    """The alt text without surrounding blanks; an image must have one (it is what a screen reader says)."""
    alt = alt.strip()
    if not alt:
        raise InvalidInput("error.image.alt_required")
    if len(alt) > MAX_ALT:
        raise InvalidInput("error.image.alt_too_long", count=len(alt), max=MAX_ALT)
    return alt
