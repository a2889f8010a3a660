"""Who may do what: officers speak for their own town, coordinators run their coalition, the admin everything."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from hub.core import Hub
from hub.domain.model import Announcement, AnnouncementState, Platform, SignOnState
from hub.errors import InvalidInput, PermissionDenied
from tests.conftest import ADMIN
from tests.integration.helpers import (
    KREMLIN,
    PANTIN,
    RENNES,
    Setup,
    build_coalition,
    deliveries,
    link_bluesky,
    propose,
)

OTHER_COORDINATOR = "@coordination.ouest:unisson.test"
PUBLISH = "20/01/2026 9h"


@dataclass(frozen=True)
class World:
    east: Setup
    west: Setup
    announcement: Announcement


@pytest.fixture
async def world(hub: Hub, tmp_path: Path) -> World:
    """Coalition Est (Pantin, Le Kremlin-Bicêtre) with an open announcement; Coalition Ouest (Rennes)."""
    east = await build_coalition(hub, tmp_path, (PANTIN, KREMLIN))
    west = await build_coalition(hub, tmp_path, (RENNES,), name="Coalition Ouest", coordinator=OTHER_COORDINATOR)
    return World(east, west, await propose(hub, east))


async def _pantin_state(hub: Hub, world: World) -> SignOnState:
    board = await hub.announcements.board(world.announcement.id)
    return next(s.state for s in board.signons if s.town.code == PANTIN)


# --- officers -------------------------------------------------------------------------------------------------


async def test_an_officer_signs_declines_and_withdraws_for_their_own_town(hub: Hub, world: World) -> None:
    officer, announcement_id = world.east.officer(PANTIN), world.announcement.id

    signed = await hub.announcements.sign(officer, announcement_id)
    assert (signed.town.code, signed.state, signed.by) == (PANTIN, SignOnState.SIGNED, officer)
    declined = await hub.announcements.decline(officer, announcement_id, reason="pas cette fois")
    assert (declined.state, declined.reason) == (SignOnState.DECLINED, "pas cette fois")
    withdrawn = await hub.announcements.withdraw(officer, announcement_id)
    assert withdrawn.state is SignOnState.PENDING


@pytest.mark.parametrize("decision", ["sign", "decline", "withdraw"])
async def test_an_officer_cannot_decide_for_another_member_town(hub: Hub, world: World, decision: str) -> None:
    act = getattr(hub.announcements, decision)
    with pytest.raises(PermissionDenied) as refused:
        await act(world.east.officer(KREMLIN), world.announcement.id, world.east.town(PANTIN).id)

    assert refused.value.message_key == "error.permission.officer"
    assert refused.value.message("fr").startswith("Seuls les référents de Pantin peuvent signer")
    assert await _pantin_state(hub, world) is SignOnState.PENDING


async def test_a_town_outside_the_coalition_is_refused_as_not_member(hub: Hub, world: World) -> None:
    rennes = world.west.town(RENNES)
    for actor in (world.west.officer(RENNES), ADMIN):
        with pytest.raises(PermissionDenied) as refused:
            await hub.announcements.sign(actor, world.announcement.id, rennes.id)
        assert refused.value.message_key == "error.permission.not_member"
        assert refused.value.message("fr").startswith("Rennes ne fait pas partie de cette coalition")

    # Without naming a town, the officer of Rennes has none in this coalition to sign for.
    with pytest.raises(InvalidInput) as no_town:
        await hub.announcements.sign(world.west.officer(RENNES), world.announcement.id)
    assert "Vous n'êtes référent d'aucune ville de cette coalition" in no_town.value.message("fr")
    board = await hub.announcements.board(world.announcement.id)
    assert [s.town.code for s in board.signons] == [KREMLIN, PANTIN]
    assert all(s.state is SignOnState.PENDING for s in board.signons)


# --- coordinators ---------------------------------------------------------------------------------------------

_Operation = Callable[[Hub, str, World], Awaitable[object]]


async def _propose(hub: Hub, actor: str, world: World) -> object:
    return await hub.announcements.propose(actor, world.east.coalition.id, "Autre annonce", "{ville} signe.")


async def _edit(hub: Hub, actor: str, world: World) -> object:
    return await hub.announcements.edit(actor, world.announcement.id, "{ville} signe autrement.")


async def _schedule(hub: Hub, actor: str, world: World) -> object:
    return await hub.announcements.schedule(actor, world.announcement.id, PUBLISH)


async def _lock(hub: Hub, actor: str, world: World) -> object:
    return await hub.announcements.lock(actor, world.announcement.id)


async def _unlock(hub: Hub, actor: str, world: World) -> object:
    return await hub.announcements.unlock(actor, world.announcement.id)


async def _cancel(hub: Hub, actor: str, world: World) -> object:
    return await hub.announcements.cancel(actor, world.announcement.id)


async def _ready_to_lock(hub: Hub, world: World) -> None:
    await link_bluesky(hub, world.east, PANTIN)
    await hub.announcements.sign(world.east.officer(PANTIN), world.announcement.id)
    await _schedule(hub, world.east.coordinator, world)


async def _locked(hub: Hub, world: World) -> None:
    await _ready_to_lock(hub, world)
    await _lock(hub, world.east.coordinator, world)


async def _nothing(hub: Hub, world: World) -> None:
    return None


# Each operation, the state in which the coalition's own coordinator may perform it, and what it leads to.
COORDINATOR_OPERATIONS = {
    "propose": (_propose, _nothing, AnnouncementState.OPEN),
    "edit": (_edit, _nothing, AnnouncementState.OPEN),
    "schedule": (_schedule, _nothing, AnnouncementState.OPEN),
    "lock": (_lock, _ready_to_lock, AnnouncementState.LOCKED),
    "unlock": (_unlock, _locked, AnnouncementState.OPEN),
    "cancel": (_cancel, _locked, AnnouncementState.CANCELLED),
}


@pytest.mark.parametrize("name", COORDINATOR_OPERATIONS)
async def test_only_the_coalitions_coordinators_run_its_announcements(hub: Hub, world: World, name: str) -> None:
    operation, prepare, expected = COORDINATOR_OPERATIONS[name]
    await prepare(hub, world)
    before = await hub.audit.entries()

    for outsider in (world.east.officer(PANTIN), OTHER_COORDINATOR):
        with pytest.raises(PermissionDenied) as refused:
            await operation(hub, outsider, world)
        assert refused.value.message_key == "error.permission.coordinator"
        assert "Seuls les coordinateurs de « Coalition Est » peuvent faire cela" in refused.value.message("fr")
    assert await hub.audit.entries() == before

    await operation(hub, world.east.coordinator, world)
    latest = (await hub.announcements.list(world.east.coalition.id))[-1]
    assert latest.state is expected


async def test_the_admin_can_do_everything(hub: Hub, tmp_path: Path) -> None:
    coalition = await hub.coalitions.create(ADMIN, "Coalition Sud", "!sud:unisson.test")
    assert await hub.coalitions.appoint_coordinator(ADMIN, coalition.id, "@sud:unisson.test")
    east = await build_coalition(hub, tmp_path, (PANTIN, KREMLIN))
    pantin, kremlin = east.town(PANTIN), east.town(KREMLIN)

    announcement = await hub.announcements.propose(ADMIN, east.coalition.id, "Départ", "{ville} part. {site}")
    await hub.announcements.edit(ADMIN, announcement.id, "{ville} s'en va. {site}")
    await hub.accounts.link(ADMIN, pantin.id, Platform.BLUESKY, "pantin.bsky.social", "mot-de-passe")
    assert (await hub.announcements.sign(ADMIN, announcement.id, pantin.id)).state is SignOnState.SIGNED
    assert (await hub.announcements.decline(ADMIN, announcement.id, kremlin.id)).state is SignOnState.DECLINED
    await hub.announcements.schedule(ADMIN, announcement.id, PUBLISH)
    assert (await hub.announcements.lock(ADMIN, announcement.id)).deliveries == 1
    assert (await hub.announcements.unlock(ADMIN, announcement.id)).state is AnnouncementState.OPEN
    assert (await hub.announcements.cancel(ADMIN, announcement.id)).state is AnnouncementState.CANCELLED
    await hub.towns.erase(ADMIN, kremlin.id)
    assert await hub.towns.officers(kremlin.id) == []


# --- the admin's own powers -----------------------------------------------------------------------------------


async def test_only_the_admin_creates_coalitions_appoints_coordinators_and_erases_towns(hub: Hub, world: World) -> None:
    pantin = world.east.town(PANTIN)
    for actor in (world.east.coordinator, world.east.officer(PANTIN)):
        attempts = [
            hub.coalitions.create(actor, "Coalition Nord", "!nord:unisson.test"),
            hub.coalitions.appoint_coordinator(actor, world.east.coalition.id, "@ami:unisson.test"),
            hub.towns.erase(actor, pantin.id),
        ]
        for attempt in attempts:
            with pytest.raises(PermissionDenied) as refused:
                await attempt
            assert refused.value.message("fr") == "Seul un administrateur d'Unisson peut faire cela."

    assert [s.coalition.name for s in await hub.coalitions.list()] == ["Coalition Est", "Coalition Ouest"]
    assert (await hub.coalitions.list())[0].coordinators == [world.east.coordinator]
    assert await hub.towns.officers(pantin.id) == [world.east.officer(PANTIN)]


async def test_officers_link_accounts_only_for_their_own_town(hub: Hub, world: World) -> None:
    kremlin = world.east.town(KREMLIN)
    for actor in (world.east.officer(PANTIN), world.east.coordinator):
        with pytest.raises(PermissionDenied) as refused:
            await hub.accounts.link(actor, kremlin.id, Platform.BLUESKY, "kb.bsky.social", "mot-de-passe")
        assert refused.value.message("fr").startswith("Seuls les référents de Le Kremlin-Bicêtre")
    assert await hub.accounts.of_town(kremlin.id) == []

    account = await hub.accounts.link(
        world.east.officer(KREMLIN), kremlin.id, Platform.BLUESKY, "kb.bsky.social", "mot-de-passe"
    )
    assert [a.id for a in await hub.accounts.of_town(kremlin.id)] == [account.id]


async def test_locking_by_an_outsider_leaves_no_delivery(hub: Hub, world: World) -> None:
    await _ready_to_lock(hub, world)
    with pytest.raises(PermissionDenied):
        await hub.announcements.lock(OTHER_COORDINATOR, world.announcement.id)
    assert await deliveries(hub, world.announcement.id) == []
    assert (await hub.announcements.get(world.announcement.id)).state is AnnouncementState.OPEN


async def test_an_officer_of_several_member_towns_must_say_which(hub: Hub, world: World) -> None:
    kremlin = world.east.town(KREMLIN)
    both = world.east.officer(PANTIN)
    assert await hub.towns.appoint_officer(world.east.coordinator, kremlin.id, both)

    with pytest.raises(InvalidInput) as which:
        await hub.announcements.sign(both, world.announcement.id)
    assert which.value.message("fr") == (
        "Vous êtes référent de plusieurs villes (Pantin, Le Kremlin-Bicêtre) : précisez laquelle."
    )

    signed = await hub.announcements.sign(both, world.announcement.id, kremlin.id)
    assert (signed.town.id, signed.state) == (kremlin.id, SignOnState.SIGNED)
    assert await _pantin_state(hub, world) is SignOnState.PENDING


async def test_only_a_coordinator_of_the_towns_coalition_appoints_its_officers(hub: Hub, world: World) -> None:
    pantin = world.east.town(PANTIN)
    for outsider in (OTHER_COORDINATOR, world.east.officer(PANTIN)):
        with pytest.raises(PermissionDenied) as refused:
            await hub.towns.appoint_officer(outsider, pantin.id, "@nouveau:unisson.test")
        assert (
            refused.value.message("fr")
            == "Seul un coordinateur d'une coalition dont Pantin est membre peut faire cela."
        )

    assert await hub.towns.appoint_officer(world.east.coordinator, pantin.id, "@nouveau:unisson.test")
    assert await hub.towns.appoint_officer(ADMIN, pantin.id, "@autre:unisson.test")
    assert await hub.towns.officers(pantin.id) == [
        "@autre:unisson.test",
        "@nouveau:unisson.test",
        world.east.officer(PANTIN),
    ]
