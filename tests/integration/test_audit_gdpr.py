"""The audit log records every decision and exports it; erasure forgets people but keeps decisions."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import text

from hub.core import Hub
from hub.domain.model import AnnouncementMessage, AuditEntry, SignOnState
from hub.errors import InvalidInput, NotFound
from hub.services.towns import ERASED
from tests.conftest import ADMIN
from tests.integration.helpers import KREMLIN, PANTIN, Setup, build_coalition, link_bluesky, propose


@pytest.fixture
async def setup(hub: Hub, tmp_path: Path) -> Setup:
    return await build_coalition(hub, tmp_path, (PANTIN, KREMLIN))


async def _decisions(hub: Hub, setup: Setup) -> int:
    """One announcement through every decision a coordinator and the officers can take."""
    coordinator, pantin, kremlin = setup.coordinator, setup.officer(PANTIN), setup.officer(KREMLIN)
    announcement = await propose(hub, setup, "{ville} quitte X.")
    await hub.announcements.sign(pantin, announcement.id)
    await hub.announcements.decline(kremlin, announcement.id, reason="pas cette fois")
    await hub.announcements.withdraw(kremlin, announcement.id)
    await hub.announcements.edit(coordinator, announcement.id, "{ville} quitte X. {site}")
    await hub.announcements.sign(pantin, announcement.id)
    await hub.announcements.schedule(coordinator, announcement.id, "20/01/2026 9h")
    await link_bluesky(hub, setup, PANTIN)
    await hub.announcements.lock(coordinator, announcement.id)
    await hub.announcements.unlock(coordinator, announcement.id)
    await hub.announcements.cancel(coordinator, announcement.id)
    return announcement.id


async def test_every_decision_appends_who_what_and_which_version(hub: Hub, setup: Setup) -> None:
    announcement_id = await _decisions(hub, setup)
    pantin, kremlin = setup.town(PANTIN).id, setup.town(KREMLIN).id
    coordinator = setup.coordinator

    entries = await hub.audit.entries(announcement_id=announcement_id)

    assert [(e.actor, e.action, e.town_id, e.version_number) for e in entries] == [
        (coordinator, "announcement.propose", None, 1),
        (coordinator, "announcement.open", None, 1),
        (setup.officer(PANTIN), "signon.sign", pantin, 1),
        (setup.officer(KREMLIN), "signon.decline", kremlin, 1),
        (setup.officer(KREMLIN), "signon.withdraw", kremlin, 1),
        (coordinator, "announcement.edit", None, 2),
        (setup.officer(PANTIN), "signon.sign", pantin, 2),
        (coordinator, "announcement.schedule", None, 2),
        (coordinator, "announcement.lock", None, 2),
        (coordinator, "announcement.unlock", None, 2),
        (coordinator, "announcement.cancel", None, 2),
    ]
    assert all(e.coalition_id == setup.coalition.id for e in entries)
    assert entries[3].details == {"reason": "pas cette fois"}
    assert entries[5].details["signons_reset"] == 1
    assert entries[8].details == {"from": "open", "to": "locked", "deliveries": 1, "towns": 1}
    assert entries[9].details["deliveries_removed"] == 1
    [link] = [e for e in await hub.audit.entries() if e.action == "account.link"]
    assert (link.actor, link.town_id) == (setup.officer(PANTIN), pantin)


def _as_rows(entries: list[AuditEntry]) -> list[dict[str, object]]:
    return [
        {
            "id": e.id,
            "at": e.at.isoformat(),
            "actor": e.actor,
            "action": e.action,
            "coalition_id": e.coalition_id,
            "announcement_id": e.announcement_id,
            "town_id": e.town_id,
            "version_number": e.version_number,
            "details": e.details,
        }
        for e in entries
    ]


async def test_csv_and_json_exports_parse_back_to_the_entries(hub: Hub, setup: Setup) -> None:
    announcement_id = await _decisions(hub, setup)
    entries = await hub.audit.entries()
    assert len(entries) > 11

    from_json = json.loads(await hub.audit.export("json"))
    assert from_json == _as_rows(entries)

    from_csv = list(csv.DictReader(io.StringIO(await hub.audit.export("csv"))))
    assert [{**row, "details": json.loads(row["details"])} for row in from_csv] == [
        {k: ("" if v is None else v if k == "details" else str(v)) for k, v in row.items()} for row in _as_rows(entries)
    ]

    only_one = json.loads(await hub.audit.export("json", announcement_id=announcement_id))
    assert [row["action"] for row in only_one] == [e.action for e in entries if e.announcement_id == announcement_id]


async def test_an_unknown_export_format_is_refused(hub: Hub) -> None:
    with pytest.raises(InvalidInput) as refused:
        await hub.audit.export("xml")
    assert refused.value.message("fr") == "Format d'export inconnu « xml » : choisissez csv ou json."


async def test_erasure_forgets_people_but_keeps_decisions(hub: Hub, setup: Setup) -> None:
    pantin = setup.town(PANTIN)
    announcement_id = await _decisions(hub, setup)
    await hub.towns.set_profile(setup.officer(PANTIN), pantin.id, "newsletter", "https://lettre.pantin.fr")

    await hub.towns.erase(ADMIN, pantin.id)

    assert await hub.accounts.of_town(pantin.id) == []
    assert await hub.towns.officers(pantin.id) == []
    assert (await hub.towns.find(PANTIN)).profile == {}
    board = await hub.announcements.board(announcement_id)
    erased = next(s for s in board.signons if s.town.id == pantin.id)
    assert (erased.state, erased.version_number, erased.by) == (SignOnState.SIGNED, 2, None)
    kept = next(s for s in board.signons if s.town.code == KREMLIN)
    assert kept.by == setup.officer(KREMLIN)

    entries = await hub.audit.entries()
    *about_pantin, erase = [e for e in entries if e.town_id == pantin.id]
    assert [(e.action, e.version_number) for e in about_pantin] == [
        ("signon.sign", 1),
        ("signon.sign", 2),
        ("account.link", None),
        ("town.profile", None),
    ]
    assert all((e.actor, e.details) == (ERASED, {}) for e in about_pantin)
    assert (erase.actor, erase.action) == (ADMIN, "town.erase")
    assert erase.details == {"accounts": 1, "officers": 1, "removed": False, "revoked": 0, "not_revoked": 0}
    assert all(e.actor == setup.officer(KREMLIN) for e in entries if e.town_id == setup.town(KREMLIN).id)
    exported = await hub.audit.export("json")
    assert setup.officer(PANTIN) not in exported
    assert "ville-93055.bsky.social" not in exported


async def test_erasure_forgets_the_preferences_of_officers_left_without_a_role(hub: Hub, setup: Setup) -> None:
    pantin, kremlin = setup.town(PANTIN), setup.town(KREMLIN)
    # Kremlin's officer also speaks for Pantin: after the erasure they still hold a role, and keep their choice.
    await hub.towns.appoint_officer(setup.coordinator, pantin.id, setup.officer(KREMLIN))
    for person in (setup.officer(PANTIN), setup.officer(KREMLIN), setup.coordinator):
        await hub.preferences.set_language(person, "en")

    await hub.towns.erase(ADMIN, pantin.id)

    assert await hub.preferences.language(setup.officer(PANTIN)) is None
    assert await hub.preferences.language(setup.officer(KREMLIN)) == "en"
    assert await hub.preferences.language(setup.coordinator) == "en"
    assert await hub.towns.officers(kremlin.id) == [setup.officer(KREMLIN)]
    choices = [e for e in await hub.audit.entries() if e.action == "user.language"]
    assert [(e.actor, e.details) for e in choices] == [
        (ERASED, {}),
        (setup.officer(KREMLIN), {"language": "en"}),
        (setup.coordinator, {"language": "en"}),
    ]
    assert setup.officer(PANTIN) not in await hub.audit.export("json")


async def test_erasure_with_remove_deletes_the_town(hub: Hub, setup: Setup) -> None:
    pantin = setup.town(PANTIN)
    announcement_id = await _decisions(hub, setup)

    await hub.towns.erase(ADMIN, pantin.id, remove=True)

    assert [t.code for t in await hub.towns.list(setup.coalition.id)] == [KREMLIN]
    with pytest.raises(NotFound):
        await hub.towns.find(PANTIN)
    board = await hub.announcements.board(announcement_id)
    assert [s.town.code for s in board.signons] == [KREMLIN]
    [erase] = [e for e in await hub.audit.entries() if e.action == "town.erase"]
    assert erase.details == {"accounts": 1, "officers": 1, "removed": True, "revoked": 0, "not_revoked": 0}


@pytest.mark.parametrize("remove", [False, True], ids=["erase", "remove"])
async def test_erasure_forgets_who_reacted_for_the_town(hub: Hub, setup: Setup, remove: bool) -> None:
    pantin, kremlin = setup.town(PANTIN), setup.town(KREMLIN)
    announcement = await propose(hub, setup, "{ville} quitte X.")
    await hub.announcements.sign(setup.officer(PANTIN), announcement.id)
    await hub.announcements.decline(setup.officer(KREMLIN), announcement.id)
    card = AnnouncementMessage(announcement.id, "!salle", "$carte", "card")
    theirs = [
        AnnouncementMessage(announcement.id, "!salle", "$pantin-oui", "signed", setup.officer(PANTIN), pantin.id),
        AnnouncementMessage(announcement.id, "!salle", "$pantin-non", "declined", setup.officer(PANTIN), pantin.id),
    ]
    other = AnnouncementMessage(
        announcement.id, "!salle", "$kremlin-non", "declined", setup.officer(KREMLIN), kremlin.id
    )
    for message in (card, *theirs, other):
        assert await hub.announcements.remember_message(message)

    await hub.towns.erase(ADMIN, pantin.id, remove=remove)

    # The card and the other town's reaction are still found; nothing is left that names who reacted for Pantin.
    assert await hub.announcements.messages(announcement.id) == [card, other]
    assert await hub.announcements.find_message("$pantin-oui") == []
    async with hub.store.engine.connect() as connection:
        rows = (await connection.execute(text("SELECT * FROM announcement_messages"))).all()
    stored = " ".join(str(value) for row in rows for value in row)
    assert setup.officer(PANTIN) not in stored and "$pantin" not in stored
    assert setup.officer(KREMLIN) in stored
    board = await hub.announcements.board(announcement.id)
    states = {s.town.code: (s.state, s.by) for s in board.signons}
    expected = {KREMLIN: (SignOnState.DECLINED, setup.officer(KREMLIN))}
    assert states == (expected if remove else {**expected, PANTIN: (SignOnState.SIGNED, None)})


async def test_an_inbound_event_is_processed_once(hub: Hub) -> None:
    assert await hub.first_time("$evenement-1") is True
    assert await hub.first_time("$evenement-1") is False
    assert await hub.first_time("$evenement-2") is True
    assert await hub.first_time("$evenement-1") is False


async def test_concurrent_deliveries_of_one_event_are_processed_once(hub: Hub) -> None:
    firsts = await asyncio.gather(*(hub.first_time("$evenement-rejoue") for _ in range(5)))
    assert sorted(firsts) == [False, False, False, False, True]
