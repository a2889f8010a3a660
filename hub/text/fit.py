"""Whether a text fits a platform's limits, and the one-line verdict shown to the user when it does not."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from hub.domain.model import Platform, Town
from hub.errors import Problem
from hub.text.counting import bluesky_count, mastodon_count
from hub.text.template import render


class Unit(enum.StrEnum):
    GRAPHEMES = "graphemes"
    BYTES = "bytes"
    CHARACTERS = "characters"


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits a text must respect; Mastodon's come from each server's ``/api/v2/instance``."""

    bluesky_graphemes: int = 300
    bluesky_bytes: int = 3000
    mastodon_chars: int = 500
    mastodon_url_length: int = 23


@dataclass(frozen=True, slots=True)
class Measure:
    """A text's size against one limit."""

    count: int
    limit: int
    unit: Unit

    @property
    def over(self) -> int:
        """How many units must be removed to fit (0 when the text fits)."""
        return max(0, self.count - self.limit)

    @property
    def fits(self) -> bool:
        return self.count <= self.limit


@dataclass(frozen=True, slots=True)
class PreviewLine:
    """One town's rendered text on one platform, with its measure, for previews."""

    town_name: str
    platform: Platform
    text: str
    measure: Measure


_PLATFORM_NAMES = {Platform.BLUESKY: "Bluesky", Platform.MASTODON: "Mastodon"}


def measure(text: str, platform: Platform, limits: Limits) -> Measure:
    """The size of ``text`` on ``platform``, against the limit that binds.

    Bluesky has two limits; the measure reported is the one closest to (or furthest past) its limit, which is
    graphemes unless the text is unusually heavy in multi-byte characters.
    """
    if platform is Platform.MASTODON:
        count = mastodon_count(text, url_length=limits.mastodon_url_length)
        return Measure(count, limits.mastodon_chars, Unit.CHARACTERS)
    size = bluesky_count(text)
    graphemes = Measure(size.graphemes, limits.bluesky_graphemes, Unit.GRAPHEMES)
    in_bytes = Measure(size.bytes, limits.bluesky_bytes, Unit.BYTES)
    # Compare the ratios count/limit by cross-multiplying, to stay in integers.
    if in_bytes.count * graphemes.limit > graphemes.count * in_bytes.limit:
        return in_bytes
    return graphemes


def check_fit(text: str, platform: Platform, limits: Limits, town_name: str) -> None:
    """Raise a :class:`Problem` saying by how much to shorten ``text`` if it is too long for ``platform``."""
    size = measure(text, platform, limits)
    if not size.fits:
        raise Problem(
            f"text.fit.over.{size.unit}",
            platform=_PLATFORM_NAMES[platform],
            town=town_name,
            count=size.count,
            limit=size.limit,
            excess=size.over,
        )


def preview_line(template_text: str, town: Town, platform: Platform, limits: Limits) -> PreviewLine:
    """Render ``template_text`` for ``town`` and measure it on ``platform``."""
    text = render(template_text, town)
    return PreviewLine(town.name, platform, text, measure(text, platform, limits))
