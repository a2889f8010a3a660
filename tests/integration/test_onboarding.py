"""Adding towns one by one by official code, and a coalition's roster, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.core import Hub
from hub.domain.model import Platform, TownKind
from hub.errors import InvalidInput, PermissionDenied
from hub.services.onboarding import OnboardingService
from tests.conftest import ADMIN
from tests.integration.helpers import KREMLIN, PANTIN, build_coalition, link_bluesky

RENNES_METROPOLE = "243500139"  # an EPCI: its official code is a SIREN


async def test_a_town_is_created_from_the_official_list_then_reused(hub: Hub, tmp_path: Path) -> None:
    setup = await build_coalition(hub, tmp_path, (KREMLIN,))
    other = await hub.coalitions.create(ADMIN, "Coalition Ouest", "!ouest:unisson.test")
    onboarding = OnboardingService(hub)

    first = await onboarding.add_town(setup.coordinator, setup.coalition.id, " 93055 ")
    assert (first.town.name, first.town.code, first.created, first.joined) == ("Pantin", PANTIN, True, True)
    again = await onboarding.add_town(setup.coordinator, setup.coalition.id, PANTIN)
    assert (again.town.id, again.created, again.joined) == (first.town.id, False, False)
    elsewhere = await onboarding.add_town(ADMIN, other.id, PANTIN)
    assert (elsewhere.town.id, elsewhere.created, elsewhere.joined) == (first.town.id, False, True)

    epci = await onboarding.add_town(ADMIN, other.id, RENNES_METROPOLE, TownKind.EPCI)
    assert (epci.town.kind, epci.town.name) == (TownKind.EPCI, "Rennes Métropole")
    actions = [e.action for e in await hub.audit.entries(coalition_id=setup.coalition.id)]
    assert actions.count("town.add") == 1


async def test_a_mistyped_code_is_refused_with_the_nearest_codes(hub: Hub, tmp_path: Path) -> None:
    setup = await build_coalition(hub, tmp_path, (KREMLIN,))
    with pytest.raises(InvalidInput) as refused:
        await OnboardingService(hub).add_town(setup.coordinator, setup.coalition.id, "93955")
    assert "93055 Pantin" in refused.value.message("fr")
    assert [t.code for t in await hub.towns.list(setup.coalition.id)] == [KREMLIN]


async def test_only_a_coordinator_of_the_coalition_adds_towns(hub: Hub, tmp_path: Path) -> None:
    setup = await build_coalition(hub, tmp_path, (KREMLIN,))
    with pytest.raises(PermissionDenied):
        await OnboardingService(hub).add_town(setup.officer(KREMLIN), setup.coalition.id, PANTIN)
    assert await hub.towns.list() == [setup.town(KREMLIN)]


async def test_the_roster_shows_officers_and_linked_networks(hub: Hub, tmp_path: Path) -> None:
    setup = await build_coalition(hub, tmp_path, (PANTIN, KREMLIN))
    await link_bluesky(hub, setup, PANTIN)
    roster = {entry.town.code: entry for entry in await OnboardingService(hub).roster(setup.coalition.id)}
    assert roster[PANTIN].officers == [setup.officer(PANTIN)] and roster[PANTIN].platforms == [Platform.BLUESKY]
    assert roster[KREMLIN].platforms == []
