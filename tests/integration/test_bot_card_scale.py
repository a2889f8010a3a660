"""A coalition of 1,600 towns in one room, through a real Synapse: every message the bot sends stays under the
limit, in a plain room and in an encrypted one.

The coalition is set up through the hub (an import of 1,600 real communes, each with an officer; most sign-ons
recorded through the service) so that the room only sees what the test is about: the card posted by
``!annonce`` and edited after a reaction, ``!etat`` read page by page, ``!relancer`` and the call to sign again
split over several messages — each of the latter remembered, so that a reaction to any of them signs. Sizes are
measured on the events as the homeserver serves them (ciphertext in the encrypted room).
"""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from nio import RoomMessageNotice

from bot.card import CARD, RESIGN
from bot.client import Bot
from bot.render import MAX_CONTENT_BYTES, content_weight
from bot.settings import BotSettings
from hub.core import OPERATOR, Hub
from hub.domain.model import Coalition, SignOnState, Town
from hub.i18n import format_number
from hub.reference import RefEntry
from sandbox.synapse import RunningSynapse
from tests.conftest import ADMIN, Clock
from tests.integration.bot_helpers import Person, content_of, eventually, replaces
from tests.tools.communes_csv import pick_communes, website

pytestmark = pytest.mark.asyncio(loop_scope="session")

TOWNS = 1_600
SIGNED = 1_000
DECLINED = 300
#: Matrix refuses events over this many bytes.
EVENT_LIMIT = 65_536
REASON = (
    "Le conseil municipal ne s'est pas encore réuni : la délibération est prévue après les élections, "
    "et le maire préfère attendre l'avis de la commission « communication & numérique » avant de s'engager. "
)
TEXT = "{ville} quitte X ! Suivez-nous sur {site} #AuRevoirX"


@dataclass
class Scene:
    room_id: str
    towns: list[Town]
    coordinator: Person
    officer: Person


@pytest_asyncio.fixture(loop_scope="session")
async def people(synapse: RunningSynapse, tmp_path: Path) -> AsyncIterator[tuple[Person, Person]]:
    coordinator = await Person.new(synapse, "coordination", tmp_path)
    officer = await Person.new(synapse, "referent", tmp_path)
    yield coordinator, officer
    for person in (coordinator, officer):
        await person.stop()


def _officer_of(town: Town | RefEntry) -> str:
    return f"@referent-{(town.code or '').lower()}:unisson.test"


async def _coalition_of_1600(hub: Hub, room_id: str, officer: str, folder: Path) -> tuple[Coalition, list[Town]]:
    """A coalition bound to ``room_id`` with 1,600 real communes, each with an officer of its own; ``officer``
    is also the officer of the first town returned (the others follow in the members' order)."""
    coalition = await hub.coalitions.create(ADMIN, f"Coalition {uuid.uuid4().hex[:6]}", room_id)
    entries = pick_communes(TOWNS)
    path = folder / "communes.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["type", "code", "nom", "site", "officiers"])
        for entry in entries:
            officers = f"{_officer_of(entry)} {officer}" if entry is entries[0] else _officer_of(entry)
            writer.writerow(["commune", entry.code, entry.name, website(entry), officers])
    await hub.towns.import_file(OPERATOR, path, coalition.id)
    towns = await hub.towns.list(coalition.id)
    first = next(t for t in towns if t.code == entries[0].code)
    return coalition, [first, *(t for t in towns if t is not first)]


async def _scene(hub: Hub, people: tuple[Person, Person], bot_id: str, folder: Path, encrypted: bool) -> Scene:
    coordinator, officer = people
    room_id = await coordinator.create_room([], encrypted=encrypted)
    coalition, towns = await _coalition_of_1600(hub, room_id, officer.user_id, folder)
    await hub.coalitions.appoint_coordinator(ADMIN, coalition.id, coordinator.user_id)
    for user_id in (bot_id, officer.user_id):
        await coordinator.invite(room_id, user_id)
    await officer.join(room_id)
    await coordinator.wait_member(room_id, bot_id, "join")
    return Scene(room_id, towns, coordinator, officer)


async def _decide(hub: Hub, number: int, towns: list[Town]) -> None:
    """Towns 2 to 1,000 sign, the next 300 decline with a long reason (the first is left to the real officer).

    Recorded in one go by the store, as the service would one by one (which takes half a minute); each a
    millisecond after the one before on the hub's clock, which dates them, as they would arrive.
    """
    clock = hub.clock
    assert isinstance(clock, Clock)
    async with hub.store.unit() as uow:
        for town in towns[1:SIGNED]:
            clock.now += timedelta(milliseconds=1)
            await uow.signons.record(number, town.id, SignOnState.SIGNED, by=_officer_of(town), version_number=1)
        for town in towns[SIGNED : SIGNED + DECLINED]:
            clock.now += timedelta(milliseconds=1)
            by = _officer_of(town)
            await uow.signons.record(number, town.id, SignOnState.DECLINED, by=by, version_number=1, reason=REASON)


def _size(event: dict[str, Any]) -> int:
    """The event's size in UTF-8 JSON, without ``unsigned`` (where the server bundles the latest edit)."""
    stored = {key: value for key, value in event.items() if key != "unsigned"}
    return len(json.dumps(stored, ensure_ascii=False).encode())


async def _stored_sizes(scene: Scene, synapse: RunningSynapse, event_ids: list[str]) -> list[int]:
    """The size of each event as the homeserver serves it (without its signatures and hashes)."""
    return [_size(await scene.coordinator.raw_event(synapse, scene.room_id, e)) for e in event_ids]


def _notices(person: Person, starting: str) -> list[RoomMessageNotice]:
    return [n for n in person.notices if replaces(n) is None and str(n.body).startswith(starting)]


async def _replies(person: Person, event_id: str, count: int) -> list[RoomMessageNotice]:
    async def arrived() -> bool:
        return len(person.replies_to(event_id)) >= count

    await eventually(arrived, f"{count} replies to {event_id}")
    return person.replies_to(event_id)


#: The bot's side of the scale is the same on both databases: SQLite only (the summary's query is compared with
#: the full board on both in ``test_the_hubs_summary_agrees_with_the_board``).
@pytest.mark.parametrize("migrated_database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_a_coalition_of_1600_towns_in_one_room(
    hub: Hub,
    bot_settings: BotSettings,
    synapse: RunningSynapse,
    people: tuple[Person, Person],
    clock: Clock,
    tmp_path: Path,
    encrypted: bool,
) -> None:
    async with Bot(hub, bot_settings) as bot:
        scene = await _scene(hub, people, bot.user_id, tmp_path, encrypted)
        coordinator, officer, room = scene.coordinator, scene.officer, scene.room_id

        # The card of a new announcement, posted for 1,600 towns: a summary.
        created = content_of(await coordinator.answer(room, f"!annonce Départ de X\n{TEXT}"))["body"]
        number = int(created.removeprefix("Annonce n°").split()[0])
        card = str((await coordinator.wait_notice(f"📣 Annonce n°{number} ")).event_id)
        await coordinator.wait_text(card, f"(sur {format_number(TOWNS, 'fr')} villes)", f"!etat {number}")

        # 999 signatures and 300 refusals recorded behind the bot's back; a reaction makes it edit the card.
        await _decide(hub, number, scene.towns)
        await officer.react(room, card, "✅")
        counts = (
            f"Signé : {format_number(SIGNED, 'fr')} · Refusé : {DECLINED} · En attente : {TOWNS - SIGNED - DECLINED}"
        )
        text = await coordinator.wait_text(card, counts, "Dernières signatures :", "Refus :")
        assert f"• ✅ {scene.towns[0].name}\n" in text.split("Dernières signatures :")[1]  # the latest first
        assert "… et " in text and f"Liste complète : !etat {number}" in text
        edit = str(coordinator.edits_of(card)[-1].event_id)
        card_size, edit_size = await _stored_sizes(scene, synapse, [card, edit])
        assert card_size < edit_size < EVENT_LIMIT
        assert content_weight(content_of(coordinator.edits_of(card)[-1])) <= MAX_CONTENT_BYTES
        if encrypted:
            stored = await coordinator.raw_event(synapse, room, edit)
            assert stored["type"] == "m.room.encrypted" and "Refus" not in str(stored["content"])
        _measured(encrypted, card=card_size, edit=edit_size)

        # !etat reads the full list a page at a time.
        page = content_of(await coordinator.answer(room, f"!etat {number} signés 2"))["body"]
        pages = -(-SIGNED // 100)
        assert page.startswith(
            f"Annonce n°{number} « Départ de X » : villes qui ont signé ({format_number(SIGNED, 'fr')})"
        )
        assert f" — page 2/{pages}" in page.splitlines()[0]
        assert page.count("\n• ✅ ") == 100 and page.endswith(f"Page suivante : !etat {number} signé 3")
        waiting = content_of(await coordinator.answer(room, f"!etat {number} en attente"))["body"]
        assert "villes qui n'ont pas encore répondu (300) — page 1/3" in waiting
        assert waiting.count("— en attente") == 100 and waiting.endswith(f"!etat {number} en-attente 2")
        # Long reasons make fuller pages, so fewer towns on each: the page stays under the limit.
        second = content_of(await coordinator.answer(room, f"!status {number} Refusées 2"))["body"]
        heading = f'Announcement #{number} "Départ de X": towns that declined (300) — page 2/'
        assert second.startswith(heading) and second.endswith(f"Next page: !status {number} declined 3")
        pages = int(second.removeprefix(heading).split()[0])
        assert 0 < second.count("— declined: Le conseil municipal") < 100 and pages > 3
        beyond = content_of(await coordinator.answer(room, f"!etat {number} refusé {pages + 1}"))["body"]
        last = f"!etat {number} refusé {pages}"
        assert beyond == f"Il n'y a pas de page {pages + 1} : la liste en compte {pages}. La dernière : {last}"

        # !relancer mentions the officers of the 300 pending towns, over as many messages as needed.
        command = await coordinator.say(room, f"!relancer {number}")
        await _replies(coordinator, command, 2)
        await coordinator.answer(room, "!ping")  # the bot answers in order: every part has arrived
        reminders = coordinator.replies_to(command)
        mentioned = {u for r in reminders for u in content_of(r)["m.mentions"]["user_ids"]} - {coordinator.user_id}
        assert mentioned == {_officer_of(t) for t in scene.towns[SIGNED + DECLINED :]}
        sizes = await _stored_sizes(scene, synapse, [str(r.event_id) for r in reminders])
        assert max(sizes) < EVENT_LIMIT
        _measured(encrypted, remind=sizes)

        # So do the reminders before the deadline.
        scheduled = await hub.announcements.schedule(
            coordinator.user_id, number, "20/01/2026 9h", deadline="18/01/2026 12h"
        )
        assert scheduled.deadline is not None
        clock.now = scheduled.deadline - timedelta(hours=23)
        assert await bot.reminders.check() == 1
        await eventually(_arrived(coordinator, "Rappel (suite)"), "the reminder's second part")
        reminders = [n for n in coordinator.notices if str(n.body).startswith("Rappel")]
        mentioned = {u for r in reminders for u in content_of(r)["m.mentions"]["user_ids"]}
        assert mentioned == {_officer_of(t) for t in scene.towns[SIGNED + DECLINED :]}
        sizes = await _stored_sizes(scene, synapse, [str(r.event_id) for r in reminders])
        assert max(sizes) < EVENT_LIMIT
        _measured(encrypted, reminder=sizes)

        # A new wording: the 1,000 towns that had signed are called to sign again, over several messages; a
        # reaction to the last one signs, as a reaction to the card would.
        edited = content_of(await coordinator.answer(room, f"!modifier {number}\n{TEXT} !"))["body"]
        assert "1\u202f000 ville(s) avaient signé" in edited
        calls = await hub.announcements.messages(number, RESIGN)
        assert len(calls) > 1
        call_ids = [c.message_id for c in calls]
        await eventually(_all_seen(coordinator, call_ids), "every call to sign again")
        mentioned = {u for c in call_ids for u in content_of(_notice(coordinator, c))["m.mentions"]["user_ids"]}
        assert {_officer_of(t) for t in scene.towns[:SIGNED]} <= mentioned
        sizes = await _stored_sizes(scene, synapse, call_ids)
        assert max(sizes) < EVENT_LIMIT
        _measured(encrypted, sign_again=sizes)
        await officer.react(room, call_ids[-1], "✅")
        await coordinator.wait_text(card, "Version 2", "Signé : 1 ·")

    assert len(await hub.announcements.messages(number, CARD)) == 1
    states = {s.town.id: s.state for s in (await hub.announcements.board(number)).signons}
    assert states[scene.towns[0].id] is SignOnState.SIGNED
    assert list(states.values()).count(SignOnState.SIGNED) == 1


def _measured(encrypted: bool, **sizes: object) -> None:
    """Shown with ``pytest -s``: the sizes measured on the homeserver, in bytes."""
    print(f"{'encrypted' if encrypted else 'plain'} room:", sizes)


def _arrived(person: Person, starting: str) -> Any:
    async def check() -> bool:
        return any(str(n.body).startswith(starting) for n in person.notices)

    return check


def _notice(person: Person, event_id: str) -> RoomMessageNotice:
    return next(n for n in person.notices if n.event_id == event_id)


def _all_seen(person: Person, event_ids: list[str]) -> Any:
    async def check() -> bool:
        seen = {n.event_id for n in person.notices}
        return all(e in seen for e in event_ids)

    return check


async def test_the_hubs_summary_agrees_with_the_board(hub: Hub, tmp_path: Path) -> None:
    """The summary's four queries give what the full board gives, summarised, on SQLite and PostgreSQL."""
    room_id = f"!salle-{uuid.uuid4().hex[:8]}:unisson.test"
    coalition, towns = await _coalition_of_1600(hub, room_id, "@x:unisson.test", tmp_path)
    await hub.coalitions.appoint_coordinator(ADMIN, coalition.id, ADMIN)
    announcement = await hub.announcements.propose(ADMIN, coalition.id, "Départ de X", TEXT)
    await _decide(hub, announcement.id, towns)
    # A town that signed and then took it back is pending again, and not among the latest signatures.
    await hub.announcements.withdraw(_officer_of(towns[1]), announcement.id, towns[1].id)
    board = await hub.announcements.board(announcement.id)
    summary = await hub.announcements.summary(announcement.id, latest=50)
    assert summary == board.summary(50) and not summary.signons.complete
    everyone = await hub.announcements.summary(announcement.id, latest=10, everyone_up_to=TOWNS)
    assert everyone == board.summary(10, TOWNS) and everyone.signons.complete
    assert summary.signons.counts == {SignOnState.SIGNED: 998, SignOnState.DECLINED: 300, SignOnState.PENDING: 302}
    assert [s.town.id for s in summary.signons.signed[:2]] == [towns[SIGNED - 1].id, towns[SIGNED - 2].id]
    assert towns[1].id in {s.town.id for s in summary.signons.pending}
