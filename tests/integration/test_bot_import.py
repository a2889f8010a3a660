"""A coordinator onboards 1,600 towns from Matrix: the file posted with ``!villes importer``, the report, the
officers invited to the coalition's room at a pace, a resend that changes nothing and invites nobody twice, a
rejected file reported line by line, refusals — with the bot on the sandbox Synapse and real users.

The session's Synapse raises every rate limit, so the invitations run as fast as the test sets the pace.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from pathlib import Path

import pytest
import pytest_asyncio
from nio import RoomCreateResponse, RoomGetStateResponse, RoomMessageNotice

from bot.client import Bot
from bot.invitations import Pace
from bot.render import MAX_CONTENT_BYTES
from bot.settings import BotSettings
from hub.core import Hub
from hub.domain.model import Coalition
from sandbox.synapse import RunningSynapse
from tests.conftest import ADMIN
from tests.integration.bot_helpers import Person, content_of, eventually, register
from tests.tools.communes_csv import pick_communes, website

pytestmark = pytest.mark.asyncio(loop_scope="session")

#: As fast as the test Synapse goes; a progress edit at most every quarter second.
FAST = Pace(interval=0.001, progress_every=0.25)
GHOSTS = ("@maire:commune-inconnue.test", "@dgs:mairie-fermee.test", "@com:nulle-part.test")


@pytest_asyncio.fixture(loop_scope="session")
async def bot(hub: Hub, bot_settings: BotSettings) -> AsyncIterator[Bot]:
    async with Bot(hub, bot_settings) as running:
        running.town_imports.inviter.pace = FAST
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def coordinator(synapse: RunningSynapse, tmp_path: Path) -> AsyncIterator[Person]:
    person = await Person.new(synapse, "coordinatrice", tmp_path)
    yield person
    await person.stop()


async def _coalition_room(hub: Hub, coordinator: Person, bot: Bot, *, encrypted: bool = True) -> Coalition:
    """An encrypted room bound to a new coalition that ``coordinator`` coordinates, with the bot in it."""
    room_id = await coordinator.create_room([], encrypted=encrypted)
    coalition = await hub.coalitions.create(ADMIN, f"Petites Villes {uuid.uuid4().hex[:6]}", room_id)
    await hub.coalitions.appoint_coordinator(ADMIN, coalition.id, coordinator.user_id)
    await coordinator.invite(room_id, bot.user_id)
    await coordinator.wait_member(room_id, bot.user_id, "join")
    # The room key must be shared with the bot's device: the coordinator's client has to know it is there.
    await eventually(_sees(coordinator, room_id, bot.user_id), "the coordinator's client sees the bot")
    return coalition


def _sees(person: Person, room_id: str, user_id: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        room = person.client.rooms.get(room_id)
        return room is not None and user_id in room.users

    return check


async def _post_file(
    person: Person,
    room_id: str,
    data: bytes,
    name: str,
    *,
    mimetype: str = "text/csv",
    reply_to: str | None = None,
    stated_size: int | None = None,
) -> str:
    """Uploads ``data`` and posts it as ``m.file`` (encrypted where the room is), optionally in reply."""
    return await person.post_attachment(
        room_id, data, name, "m.file", mimetype, reply_to=reply_to, stated_size=stated_size, extra={"filename": name}
    )


def _towns_csv(count: int, officers: dict[int, list[str]], bad_sites: Collection[int] = ()) -> bytes:
    """``count`` real communes (``type,code,nom,site,officiers``); row ``i`` names ``officers[i]``."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(("type", "code", "nom", "site", "officiers"))
    for index, entry in enumerate(pick_communes(count)):
        site = "pas-une-adresse" if index in bad_sites else website(entry)
        writer.writerow(("commune", entry.code, entry.name, site, " ".join(officers.get(index, []))))
    return out.getvalue().encode("utf-8")


async def _memberships(person: Person, room_id: str) -> dict[str, tuple[str, str]]:
    """Each member's membership in the room and the id of the event that set it."""
    response = await person.client.room_get_state(room_id)
    assert isinstance(response, RoomGetStateResponse), response
    return {
        e["state_key"]: (e["content"]["membership"], e["event_id"])
        for e in response.events
        if e["type"] == "m.room.member"
    }


def _weight(notice: RoomMessageNotice) -> int:
    return len(json.dumps(content_of(notice)))


def _replies(person: Person, event_id: str) -> list[RoomMessageNotice]:
    return person.replies_to(event_id)


async def _wait_replies(person: Person, event_id: str, count: int) -> list[RoomMessageNotice]:
    async def check() -> bool:
        return len(_replies(person, event_id)) >= count

    await eventually(check, f"{count} answers to {event_id}")
    return _replies(person, event_id)


async def _wait_starting(person: Person, event_id: str, starting: str) -> RoomMessageNotice:
    """The bot's answer to ``event_id`` (not an edit) that starts with ``starting``."""

    def found() -> list[RoomMessageNotice]:
        return [n for n in _replies(person, event_id) if str(n.body).startswith(starting)]

    async def check() -> bool:
        return bool(found())

    await eventually(check, f"an answer to {event_id} starting with {starting!r}")
    return found()[0]


async def test_1600_towns_imported_from_the_room_and_their_officers_invited(
    hub: Hub, bot: Bot, coordinator: Person, synapse: RunningSynapse
) -> None:
    started = time.perf_counter()
    coalition = await _coalition_room(hub, coordinator, bot)
    room_id = coalition.room_id
    real = [(await register(synapse, "referent"))[0] for _ in range(60)]
    # Officers spread over the towns: some lead several towns, one town has two, the coordinator is one of
    # them (already in the room), and three ids are on servers that do not exist.
    officers: dict[int, list[str]] = {i * 25: [real[i % 60]] for i in range(64)}
    officers[3] = [real[0], real[1]]
    officers[801] = [coordinator.user_id]
    for position, ghost in zip((7, 907, 1507), GHOSTS, strict=True):
        officers[position] = [ghost]
    data = _towns_csv(1600, officers)

    command = await coordinator.say(room_id, "!villes importer")
    prompt = await coordinator.reply(command)
    assert "en réponse à ce message" in str(prompt.body)
    posted = await _post_file(coordinator, room_id, data, "pvd.csv", reply_to=command)

    report = await _wait_starting(coordinator, posted, "pvd.csv importé")
    assert "1\u202f600 ville(s) créée(s), 0 mise(s) à jour, 0 inchangée(s)" in str(report.body)
    assert "70 référent(s) ajouté(s), 1\u202f600 nouveau(x) membre(s)" in str(report.body)
    plan = await _wait_starting(coordinator, posted, "J'invite 63 référent(s)")
    assert "(1 y sont déjà ou sont invités)" in str(plan.body)
    progress = await _progress_message(coordinator, posted)
    final = await coordinator.wait_text(str(progress.event_id), "Terminé : 60/63 invitations envoyées", "3 ont échoué")
    assert "60/63" in final
    failures = await _wait_starting(coordinator, posted, "Invitations qui ont échoué (3)")
    for ghost in GHOSTS:
        assert ghost in str(failures.body)
    assert "refusée par le serveur" in str(failures.body)

    members = await _memberships(coordinator, room_id)
    assert {user: members[user][0] for user in real} == dict.fromkeys(real, "invite")
    assert not set(GHOSTS) & set(members)
    assert len(await hub.coalitions.members(coalition.id)) == 1600
    assert all(_weight(n) <= MAX_CONTENT_BYTES for n in coordinator.notices)
    first_run = time.perf_counter() - started

    # The same file again, this time with the command in answer to it: nothing changes, nobody is invited twice.
    again = await coordinator.say(room_id, "!villes importer", reply_to=posted)
    report = await _wait_starting(coordinator, again, "pvd.csv importé")
    assert "0 ville(s) créée(s), 0 mise(s) à jour, 1\u202f600 inchangée(s)" in str(report.body)
    assert "0 référent(s) ajouté(s), 0 nouveau(x) membre(s)" in str(report.body)
    plan = await _wait_starting(coordinator, again, "J'invite 3 référent(s)")
    assert "(61 y sont déjà ou sont invités)" in str(plan.body)
    progress = await _progress_message(coordinator, again)
    await coordinator.wait_text(str(progress.event_id), "Terminé : 0/3 invitations envoyées")
    await _wait_starting(coordinator, again, "Invitations qui ont échoué (3)")
    after = await _memberships(coordinator, room_id)
    assert {user: after[user] for user in real} == {user: members[user] for user in real}

    # The invitations on their own, as after a restart: nobody is missing but the three that cannot be invited.
    invite = await coordinator.say(room_id, "!villes inviter")
    # Looked for by its words, as above: the run starts before this answer is sent, and with nobody it can
    # invite it may finish, and say so, first.
    await _wait_starting(coordinator, invite, "J'invite 3 référent(s)")
    print(f"\n1,600 towns: first import and invitations {first_run:.1f} s, all {time.perf_counter() - started:.1f} s")


async def _progress_message(person: Person, event_id: str) -> RoomMessageNotice:
    """The message, answering ``event_id``, that shows the invitations' progress (in French or English)."""

    def found() -> list[RoomMessageNotice]:
        pattern = r"\d+/\d+ invitations (envoyées|sent)"
        return [n for n in _replies(person, event_id) if re.search(pattern, str(n.body))]

    async def check() -> bool:
        return bool(found())

    await eventually(check, f"the progress message answering {event_id}")
    return found()[0]


async def test_a_rejected_file_names_every_bad_line_over_several_messages_and_imports_nothing(
    hub: Hub, bot: Bot, coordinator: Person
) -> None:
    coalition = await _coalition_room(hub, coordinator, bot)
    bad = set(range(1, 1600, 3))  # 533 lines without a valid web address
    data = _towns_csv(1600, {5: ["@referent:unisson.test"]}, bad_sites=bad)
    posted = await _post_file(coordinator, coalition.room_id, data, "pvd-faux.csv")

    command = await coordinator.say(coalition.room_id, "!villes importer", reply_to=posted)
    expected = {index + 2 for index in bad}  # file lines: the header is line 1

    def lines_reported() -> set[int]:
        text = "\n".join(str(n.body) for n in _replies(coordinator, command))
        # Line numbers are written the French way: 1 234, with a narrow no-break space.
        return {int(n.replace("\u202f", "")) for n in re.findall(r"Ligne ([\d\u202f]+) :", text)}

    async def check() -> bool:
        return lines_reported() >= expected

    await eventually(check, "every bad line reported")
    pages = _replies(coordinator, command)
    assert len(pages) >= 2
    assert str(pages[0].body).startswith("Rien n'a été importé : 533 ligne(s) de pvd-faux.csv à corriger.")
    assert all(str(p.body).startswith("pvd-faux.csv (suite)") for p in pages[1:])
    assert lines_reported() == expected
    assert all(_weight(page) <= MAX_CONTENT_BYTES for page in pages)
    assert await hub.coalitions.members(coalition.id) == []
    assert await hub.towns.list() == []


async def test_an_officer_may_not_import(
    hub: Hub, bot: Bot, coordinator: Person, synapse: RunningSynapse, tmp_path: Path
) -> None:
    coalition = await _coalition_room(hub, coordinator, bot, encrypted=False)
    officer = await Person.new(synapse, "referent", tmp_path)
    try:
        await coordinator.invite(coalition.room_id, officer.user_id)
        await officer.join(coalition.room_id)
        posted = await _post_file(coordinator, coalition.room_id, _towns_csv(3, {}), "trois.csv")
        await hub.towns.import_data(coordinator.user_id, "trois.csv", _towns_csv(3, {}), coalition.id)
        [town, *_] = await hub.coalitions.members(coalition.id)
        await hub.towns.appoint_officer(coordinator.user_id, town.id, officer.user_id)

        refused = await officer.answer(coalition.room_id, "!villes importer", reply_to=posted)
        assert f"Seuls les coordinateurs de « {coalition.name} »" in str(refused.body)
        command = await officer.say(coalition.room_id, "!villes importer")
        await officer.reply(command)
        more = await _post_file(officer, coalition.room_id, _towns_csv(5, {}), "cinq.csv", reply_to=command)
        refused = await officer.reply(more)
        assert "Seuls les coordinateurs" in str(refused.body)
        assert len(await hub.coalitions.members(coalition.id)) == 3
        refused = await officer.answer(coalition.room_id, "!towns invite")
        assert "Only the coordinators" in str(refused.body)
    finally:
        await officer.stop()


async def test_in_a_direct_conversation_the_coalition_is_named(
    hub: Hub, bot: Bot, coordinator: Person, synapse: RunningSynapse
) -> None:
    coalition = await _coalition_room(hub, coordinator, bot)
    referent, _ = await register(synapse, "referent")
    created = await coordinator.client.room_create(invite=[bot.user_id], is_direct=True)
    assert isinstance(created, RoomCreateResponse), created
    direct = str(created.room_id)
    await coordinator.wait_member(direct, bot.user_id, "join")
    await coordinator.wait_room(direct)

    unnamed = await coordinator.answer(direct, "!villes importer")
    assert "nommez-la après la commande" in str(unnamed.body)
    unknown = await coordinator.answer(direct, "!villes importer Coalition inconnue")
    assert "Je ne connais aucune coalition « Coalition inconnue »" in str(unknown.body)

    command = await coordinator.say(direct, f"!towns import {coalition.name}")
    prompt = await coordinator.reply(command)
    assert str(prompt.body).startswith("Send the CSV or YAML file")
    image = await _post_file(
        coordinator, direct, b"\x89PNG...", "affiche.png", mimetype="image/png", reply_to=prompt.event_id
    )
    assert "is neither a CSV nor a YAML file" in str((await coordinator.reply(image)).body)
    heavy = await _post_file(
        coordinator, direct, b"code\n93055\n", "lourd.csv", reply_to=command, stated_size=6_000_000
    )
    assert "lourd.csv is too large (6 MB): 5 MB at most." in str((await coordinator.reply(heavy)).body)

    yaml_file = f"- code: '93055'\n  officiers: '{referent}'\n- code: '94043'\n".encode()
    posted = await _post_file(
        coordinator, direct, yaml_file, "villes", mimetype="application/yaml", reply_to=prompt.event_id
    )
    report = await _wait_starting(coordinator, posted, "villes.yaml imported into")
    assert "2 town(s) created" in str(report.body)
    progress = await _progress_message(coordinator, posted)
    final = await coordinator.wait_text(str(progress.event_id), "Done: 1/1 invitations sent")
    assert coalition.name in final
    assert (await _memberships(coordinator, coalition.room_id))[referent][0] == "invite"

    nobody = await coordinator.answer(direct, f"!towns invite {coalition.name}")
    assert "are all in the room or invited already" in str(nobody.body)
