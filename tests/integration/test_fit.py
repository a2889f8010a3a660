"""Every town's rendered text must fit every network it posts to, with each Mastodon server's own limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.core import Hub
from hub.domain.model import Platform
from hub.errors import NotFound, TextDoesNotFit
from hub.i18n import format_number
from hub.text.fit import Unit
from tests.integration.helpers import (
    KREMLIN,
    PANTIN,
    RENNES,
    SAINT_REMY,
    build_coalition,
    link_bluesky,
    link_mastodon,
    propose,
)

FAMILY = "👨‍👩‍👧‍👦"  # one grapheme, 25 UTF-8 bytes


def _lines(error: TextDoesNotFit, lang: str = "fr") -> list[str]:
    return [problem.message(lang) for problem in error.problems]


async def test_a_long_town_name_tips_the_text_over_bluesky_graphemes(hub: Hub, tmp_path: Path) -> None:
    setup = await build_coalition(hub, tmp_path, (PANTIN, SAINT_REMY))
    # Rendered: "Pantin " + 287 = 294 graphemes; "Saint-Rémy-lès-Chevreuse " + 287 = 312.
    text = "{ville} " + "a" * 287

    with pytest.raises(TextDoesNotFit) as too_long:
        await propose(hub, setup, text)

    assert _lines(too_long.value) == ["Bluesky, Saint-Rémy-lès-Chevreuse : 312/300 graphèmes, raccourcir de 12"]
    message = too_long.value.message("fr")
    assert message.startswith("Le texte ne tient pas pour 1 ville(s) et réseau(x).")
    assert "Pantin" not in message
    assert _lines(too_long.value, "en") == ["Bluesky, Saint-Rémy-lès-Chevreuse: 312/300 graphemes, shorten by 12"]

    # Without the long name in the coalition, the same text fits.
    await hub.coalitions.remove_town(setup.coordinator, setup.coalition.id, setup.town(SAINT_REMY).id)
    announcement = await propose(hub, setup, text)
    preview = await hub.announcements.preview(announcement.id)
    [line] = [line for line in preview if line.platform is Platform.BLUESKY]
    assert (line.town_name, line.measure.count, line.measure.limit) == ("Pantin", 294, 300)


async def test_bluesky_bytes_bind_before_graphemes_for_heavy_characters(hub: Hub, tmp_path: Path) -> None:
    setup = await build_coalition(hub, tmp_path, (PANTIN, SAINT_REMY))
    # 127 graphemes for Pantin but 7 + 120 × 25 = 3,007 bytes; the long name adds 2 bytes for "é" and "è".
    with pytest.raises(TextDoesNotFit) as too_heavy:
        await propose(hub, setup, "{ville} " + FAMILY * 120)

    assert _lines(too_heavy.value) == [
        f"Bluesky, Pantin : {format_number(3007)}/{format_number(3000)} octets, raccourcir de 7",
        f"Bluesky, Saint-Rémy-lès-Chevreuse : {format_number(3027)}/{format_number(3000)} octets, raccourcir de 27",
    ]


async def test_a_mastodon_servers_own_limit_applies_to_its_town_only(hub: Hub, tmp_path: Path) -> None:
    setup = await build_coalition(hub, tmp_path, (PANTIN, KREMLIN))
    account = await link_mastodon(hub, setup, PANTIN)
    text = "{ville} " + "a" * 113  # 120 characters for Pantin, 132 for Le Kremlin-Bicêtre
    await propose(hub, setup, text)  # fits the default 500 characters

    async with hub.store.unit() as uow:
        await uow.accounts.record_health(account.id, error=None, limits={"max_characters": 100})
    with pytest.raises(TextDoesNotFit) as too_long:
        await propose(hub, setup, text)

    assert _lines(too_long.value) == ["Mastodon, Pantin : 120/100 caractères, raccourcir de 20"]


async def test_the_lock_checks_the_limits_known_at_that_moment(hub: Hub, tmp_path: Path) -> None:
    setup = await build_coalition(hub, tmp_path, (PANTIN, KREMLIN))
    account = await link_mastodon(hub, setup, PANTIN)
    announcement = await propose(hub, setup, "{ville} " + "a" * 113)
    await hub.announcements.sign(setup.officer(PANTIN), announcement.id)
    await hub.announcements.schedule(setup.coordinator, announcement.id, "20/01/2026 9h")
    async with hub.store.unit() as uow:
        await uow.accounts.record_health(account.id, error=None, limits={"max_characters": 100})

    with pytest.raises(TextDoesNotFit) as too_long:
        await hub.announcements.lock(setup.coordinator, announcement.id)

    assert _lines(too_long.value) == ["Mastodon, Pantin : 120/100 caractères, raccourcir de 20"]
    async with hub.store.unit() as uow:
        assert await uow.deliveries.list(announcement.id) == []


async def test_a_long_link_counts_23_characters_on_mastodon(hub: Hub, tmp_path: Path) -> None:
    setup = await build_coalition(hub, tmp_path, (PANTIN,))
    await link_mastodon(hub, setup, PANTIN, limits={"max_characters": 100})
    link = "https://www.pantin.fr/actualites/" + "x" * 120

    announcement = await propose(hub, setup, "{ville} quitte X : " + link)

    [line] = await hub.announcements.preview(announcement.id)
    assert line.platform is Platform.MASTODON
    assert line.text == "Pantin quitte X : " + link
    assert len(line.text) > 100
    # "Pantin quitte X : " is 18 characters, the link 23 whatever its length.
    assert (line.measure.count, line.measure.limit, line.measure.unit) == (41, 100, Unit.CHARACTERS)


async def test_a_platform_variant_is_what_is_measured_for_that_platform(hub: Hub, tmp_path: Path) -> None:
    setup = await build_coalition(hub, tmp_path, (PANTIN,))
    announcement = await propose(hub, setup, "{ville} : court")
    long_text = "{ville} " + "b" * 400  # 407 graphemes: too long for Bluesky, fine for Mastodon

    with pytest.raises(TextDoesNotFit) as without_variant:
        await hub.announcements.edit(setup.coordinator, announcement.id, long_text)
    assert _lines(without_variant.value) == ["Bluesky, Pantin : 407/300 graphèmes, raccourcir de 107"]

    await hub.announcements.set_variant(setup.coordinator, announcement.id, Platform.BLUESKY, "{ville} en bref")
    await hub.announcements.edit(setup.coordinator, announcement.id, long_text)

    lines = {line.platform: line for line in await hub.announcements.preview(announcement.id)}
    assert (lines[Platform.BLUESKY].text, lines[Platform.BLUESKY].measure.count) == ("Pantin en bref", 14)
    assert (lines[Platform.MASTODON].text, lines[Platform.MASTODON].measure.count) == ("Pantin " + "b" * 400, 407)

    with pytest.raises(TextDoesNotFit) as long_variant:
        await hub.announcements.set_variant(
            setup.coordinator, announcement.id, Platform.BLUESKY, "{ville} " + "c" * 300
        )
    assert _lines(long_variant.value) == ["Bluesky, Pantin : 307/300 graphèmes, raccourcir de 7"]


async def test_preview_gives_each_towns_text_and_count_per_platform(hub: Hub, tmp_path: Path) -> None:
    setup = await build_coalition(hub, tmp_path, (PANTIN, KREMLIN))
    await link_bluesky(hub, setup, PANTIN)
    announcement = await propose(hub, setup, "{ville} quitte X. {site}")

    every = await hub.announcements.preview(announcement.id)

    # Pantin posts only where it has an account; Le Kremlin-Bicêtre has none yet, so both networks are shown.
    assert [(line.town_name, line.platform, line.text, line.measure.count) for line in every] == [
        ("Le Kremlin-Bicêtre", Platform.BLUESKY, "Le Kremlin-Bicêtre quitte X. https://ville-94043.fr", 51),
        ("Le Kremlin-Bicêtre", Platform.MASTODON, "Le Kremlin-Bicêtre quitte X. https://ville-94043.fr", 52),
        ("Pantin", Platform.BLUESKY, "Pantin quitte X. https://ville-93055.fr", 39),
    ]
    one = await hub.announcements.preview(announcement.id, setup.town(PANTIN).id)
    assert one == every[2:]


async def test_preview_of_a_town_outside_the_coalition_is_refused(hub: Hub, tmp_path: Path) -> None:
    east = await build_coalition(hub, tmp_path, (PANTIN,))
    west = await build_coalition(hub, tmp_path, (RENNES,), name="Coalition Ouest", coordinator="@ouest:unisson.test")
    announcement = await propose(hub, east)

    with pytest.raises(NotFound) as outside:
        await hub.announcements.preview(announcement.id, west.town(RENNES).id)
    assert "ne fait pas partie de cette coalition" in outside.value.message("fr")
