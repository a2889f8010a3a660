"""``!lien N`` / ``!link N`` on the real Synapse: the status table's link in a direct message, the old one
disabled, the public page opened early; only coordinators may ask, and only where the pages are set up."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from bot.client import Bot
from bot.settings import BotSettings
from hub.core import Hub
from sandbox.synapse import RunningSynapse
from tests.conftest import ADMIN
from tests.integration.bot_helpers import Person, content_of, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

PUBLIC_URL = "https://unisson.example.org"
LINK = re.compile(re.escape(PUBLIC_URL) + r"/s/([A-Za-z0-9_-]+)")


@dataclass
class Room:
    room_id: str
    coalition_id: int
    number: int


@pytest_asyncio.fixture(loop_scope="session")
async def people(synapse: RunningSynapse, tmp_path: Path) -> AsyncIterator[tuple[Person, Person]]:
    coordinator = await Person.new(synapse, "coordination", tmp_path)
    outsider = await Person.new(synapse, "curieux", tmp_path)
    yield coordinator, outsider
    for person in (coordinator, outsider):
        await person.stop()


async def open_room(hub: Hub, coordinator: Person, outsider: Person, bot_id: str) -> Room:
    room_id = await coordinator.create_room([])
    coalition = await hub.coalitions.create(ADMIN, f"Coalition {uuid.uuid4().hex[:6]}", room_id)
    await hub.coalitions.appoint_coordinator(ADMIN, coalition.id, coordinator.user_id)
    announcement = await hub.announcements.propose(coordinator.user_id, coalition.id, "Départ de X", "{ville} quitte X")
    for user_id in (bot_id, outsider.user_id):
        await coordinator.invite(room_id, user_id)
    await outsider.join(room_id)
    await coordinator.wait_member(room_id, bot_id, "join")
    return Room(room_id, coalition.id, announcement.id)


async def direct_message(person: Person, bot_id: str, starting: str, count: int) -> str:
    """The ``count``-th notice starting with ``starting`` in a direct conversation the bot invited us to."""

    async def arrived() -> bool:
        for room_id, room in list(person.client.invited_rooms.items()):
            if room.inviter == bot_id:
                await person.join(room_id)
        return len([n for n in person.notices if str(n.body).startswith(starting)]) >= count

    await eventually(arrived, f"{count} direct message(s) starting with {starting!r}")
    return str([n for n in person.notices if str(n.body).startswith(starting)][count - 1].body)


async def test_a_coordinator_gets_the_status_link_in_private_and_a_new_one_disables_the_old(
    hub: Hub, bot_settings: BotSettings, people: tuple[Person, Person]
) -> None:
    coordinator, outsider = people
    hub.settings.public_url = PUBLIC_URL
    async with Bot(hub, bot_settings) as bot:
        room = await open_room(hub, coordinator, outsider, bot.user_id)
        said = content_of(await coordinator.answer(room.room_id, f"!lien {room.number}"))
        assert coordinator.user_id in said["m.mentions"]["user_ids"]
        assert f"lien du tableau de suivi de l'annonce n°{room.number} « Départ de X »" in said["body"]
        assert not LINK.search(said["body"]), "the link is never shown in the room"
        title = f"Tableau de suivi de l'annonce n°{room.number} « Départ de X » :"
        first = await direct_message(coordinator, bot.user_id, title, 1)
        [token] = LINK.findall(first)
        assert "fonctionne jusqu'au" in first
        target = await hub.links.resolve(token)
        assert target is not None and target.announcement_id == room.number

        # In English, by its English name: a new link, in the same direct conversation; the old one is dead.
        said = content_of(await coordinator.answer(room.room_id, f"!link {room.number}"))
        assert "I sent you the link" in said["body"] and "The previous link no longer works" in said["body"]
        english = await direct_message(coordinator, bot.user_id, f"Status table of announcement #{room.number}", 1)
        [newer] = LINK.findall(english)
        assert await hub.links.resolve(token) is None
        assert await hub.links.resolve(newer) is not None
        direct_rooms = {r for r in coordinator.client.rooms if r != room.room_id}
        assert len(direct_rooms) == 1

        # Someone who does not coordinate gets what any coordinator-only command answers, and no link.
        refused = content_of(await outsider.answer(room.room_id, f"!lien {room.number}"))["body"]
        assert refused.startswith("Seuls les coordinateurs de")
        assert await hub.links.resolve(newer) is not None

        # The public page, opened before the publication: its address is given in the room.
        opened = content_of(await coordinator.answer(room.room_id, f"!lien {room.number} public"))["body"]
        page = f"{PUBLIC_URL}/c/{room.coalition_id}/{room.number}"
        assert opened.startswith(f"La page publique de l'annonce n°{room.number} « Départ de X » est ouverte :")
        assert opened.endswith(page)
        assert await hub.pages.public(room.coalition_id, room.number) is not None
        # !etat tells a coordinator where the full table is, and no one else.
        status = content_of(await coordinator.answer(room.room_id, f"!etat {room.number}"))["body"]
        assert status.endswith(
            f"Tableau complet (filtres, export CSV) : !lien {room.number} vous en envoie le lien en privé."
        )
        assert "!lien" not in content_of(await outsider.answer(room.room_id, f"!etat {room.number}"))["body"]

        # Without UNISSON_PUBLIC_URL the bot cannot tell where the pages are: it says so and issues nothing.
        hub.settings.public_url = None
        unset = content_of(await coordinator.answer(room.room_id, f"!lien {room.number}"))["body"]
        assert "UNISSON_PUBLIC_URL" in unset
        assert await hub.links.resolve(newer) is not None
