"""Setting up a coalition from its room, linking accounts in private, keeping secrets out of shared rooms, and
reminders before a deadline — with the bot on a real Synapse and real users.

As in ``test_bot_basics``, to know that the bot has *not* answered something a test sends ``!ping`` afterwards
and waits for its answer: the bot handles a room's commands in arrival order.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from nio import RoomCreateResponse, RoomGetStateEventResponse, RoomMessageNotice, RoomPutStateResponse
from pydantic import SecretStr

from bot.client import Bot
from bot.settings import BotSettings
from hub.core import Hub
from hub.dispatch.gateway import StoreGateway
from hub.domain.model import Platform, TownKind
from hub.publishers.mastodon import MastodonPublisher
from hub.services.onboarding import OnboardingService
from sandbox.mastodon import MastodonDouble
from sandbox.synapse import RunningSynapse
from tests.conftest import ADMIN, Clock
from tests.integration.helpers import KREMLIN, PANTIN
from tests.integration.test_bot_basics import PASSWORD, Person, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

APP_PASSWORD = "k2ps-7qwm-xx3a-9fjd"


def _content(event: RoomMessageNotice) -> dict[str, Any]:
    content: dict[str, Any] = event.source["content"]
    return content


async def _person(synapse: RunningSynapse, role: str, folder: Path) -> Person:
    user_id, _ = await synapse.register(f"{role}-{uuid.uuid4().hex[:8]}", PASSWORD)
    person = Person(synapse, user_id, folder / role)
    await person.start()
    return person


@pytest_asyncio.fixture(loop_scope="session")
async def admin(hub: Hub, synapse: RunningSynapse, tmp_path: Path) -> AsyncIterator[Person]:
    """An admin of the hub, registered for this test (``@admin:unisson.test`` belongs to ``test_bot_basics``)."""
    person = await _person(synapse, "admin", tmp_path)
    hub.settings.admins = [*hub.settings.admins, person.user_id]
    yield person
    await person.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def member(synapse: RunningSynapse, tmp_path: Path) -> AsyncIterator[Person]:
    person = await _person(synapse, "membre", tmp_path)
    yield person
    await person.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def bot_settings(synapse: RunningSynapse, tmp_path: Path) -> BotSettings:
    user_id, token = await synapse.register(f"unisson-{uuid.uuid4().hex[:8]}", PASSWORD)
    return BotSettings(
        homeserver=synapse.url,
        user_id=user_id,
        access_token=SecretStr(token),
        store_path=tmp_path / "bot-store",
        # Reminders run when a test asks (poke or check), never on their own during a test.
        reminder_check_seconds=3600,
        _env_file=None,
    )


@pytest_asyncio.fixture(loop_scope="session")
async def bot(hub: Hub, bot_settings: BotSettings) -> AsyncIterator[Bot]:
    async with Bot(hub, bot_settings) as running:
        yield running


@pytest.fixture
async def mastodon(hub: Hub) -> AsyncIterator[tuple[MastodonDouble, str]]:
    hub.publishers = {Platform.MASTODON: MastodonPublisher(StoreGateway(hub))}
    double = MastodonDouble(max_characters=1000)
    async with double.serve() as base_url:
        yield double, base_url


async def _room_with_bot(person: Person, bot_id: str, **options: Any) -> str:
    response = await person.client.room_create(invite=[bot_id], **options)
    assert isinstance(response, RoomCreateResponse), response
    room_id = str(response.room_id)
    await person.wait_member(room_id, bot_id, "join")
    await eventually(_knows(person, room_id), "the room reached the creator's client")
    return room_id


def _knows(person: Person, room_id: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return room_id in person.client.rooms

    return check


async def _coalition_room(hub: Hub, admin: Person, bot: Bot, *, moderator: bool = True) -> tuple[str, int]:
    """A room bound to a new coalition, the bot in it (as a moderator unless told otherwise)."""
    room_id = await _room_with_bot(admin, bot.user_id)
    coalition = await hub.coalitions.create(ADMIN, f"Coalition {uuid.uuid4().hex[:6]}", room_id)
    if moderator:
        await _make_moderator(admin, room_id, bot.user_id)
    return room_id, coalition.id


async def _make_moderator(admin: Person, room_id: str, user_id: str) -> None:
    current = await admin.client.room_get_state_event(room_id, "m.room.power_levels")
    assert isinstance(current, RoomGetStateEventResponse), current
    levels = dict(current.content)
    levels["users"] = {**levels.get("users", {}), user_id: 50}
    response = await admin.client.room_put_state(room_id, "m.room.power_levels", levels)
    assert isinstance(response, RoomPutStateResponse), response


async def _join(person: Person, inviter: Person, room_id: str) -> None:
    await inviter.invite(room_id, person.user_id)
    await person.client.join(room_id)
    await inviter.wait_member(room_id, person.user_id, "join")
    await eventually(_knows(person, room_id), f"{person.user_id} is in the room")


async def _is_redacted(person: Person, synapse: RunningSynapse, room_id: str, event_id: str) -> bool:
    stored = await person.raw_event(synapse, room_id, event_id)
    return stored["content"] == {} and "redacted_because" in stored.get("unsigned", {})


async def test_an_admin_binds_the_room_and_a_coordinator_sets_up_the_towns(
    hub: Hub, bot: Bot, admin: Person, member: Person
) -> None:
    room_id = await _room_with_bot(admin, bot.user_id)

    created = _content(await admin.answer(room_id, "!coalition Villes sans X"))
    assert "« Villes sans X »" in created["body"] and "!coordinateur" in created["body"]
    coalition = await hub.coalitions.by_room(room_id)
    assert coalition is not None and coalition.name == "Villes sans X"

    await _join(member, admin, room_id)
    refused = _content(await member.answer(room_id, "!coalition Autre"))
    assert refused["body"].startswith("Seul un administrateur")

    appointed = _content(await admin.answer(room_id, f"!coordinateur {member.user_id}"))
    assert member.user_id in appointed["m.mentions"]["user_ids"] and "coordonne" in appointed["body"]

    added = _content(await member.answer(room_id, "!ville ajouter 93055"))
    assert added["body"].startswith("Pantin (93055) fait désormais partie")
    [town] = await hub.towns.list(coalition.id)
    assert (town.name, town.code, town.kind) == ("Pantin", PANTIN, TownKind.COMMUNE)

    mistyped = _content(await member.answer(room_id, "!ville ajouter 93955"))
    assert "93955" in mistyped["body"] and "93055 Pantin" in mistyped["body"]
    assert len(await hub.towns.list(coalition.id)) == 1

    officer = "@marie.referente:unisson.test"
    named = _content(await member.answer(room_id, f"!referent Pantin {officer}"))
    assert officer in named["m.mentions"]["user_ids"] and "référent·e de Pantin" in named["body"]
    assert await hub.towns.officers(town.id) == [officer]

    profile = _content(await member.answer(room_id, "!fiche Pantin site https://www.ville-pantin.fr"))
    assert profile["body"] == "Fiche de Pantin : site = https://www.ville-pantin.fr."
    assert (await hub.towns.find(PANTIN)).profile["website"] == "https://www.ville-pantin.fr"

    listed = _content(await member.answer(room_id, "!villes"))
    assert "Pantin (93055)" in listed["body"] and officer in listed["body"] and "aucun compte relié" in listed["body"]
    assert listed["m.mentions"]["user_ids"] == [member.user_id]  # listing notifies nobody else


def _with_pill(command: str, user_id: str, name: str) -> dict[str, Any]:
    """A command ending with a mention as Element sends it: the display name in the plain body, a pill in HTML."""
    return {
        "msgtype": "m.text",
        "body": f"{command} {name}",
        "format": "org.matrix.custom.html",
        "formatted_body": f'{command} <a href="https://matrix.to/#/{user_id}">{name}</a>',
        "m.mentions": {"user_ids": [user_id]},
    }


async def test_people_mentioned_with_pills_are_appointed_by_their_matrix_id(
    hub: Hub, bot: Bot, admin: Person, member: Person
) -> None:
    room_id, coalition_id = await _coalition_room(hub, admin, bot)
    await _join(member, admin, room_id)

    pill = _with_pill("!coordinateur", member.user_id, "Camille Martin")
    appointed = _content(await admin.reply(await admin.send(room_id, "m.room.message", pill)))
    assert member.user_id in appointed["m.mentions"]["user_ids"] and "coordonne" in appointed["body"]
    assert (await hub.whois(member.user_id)).coordinator_of == {coalition_id}

    await member.answer(room_id, "!ville ajouter 93061")
    officer = "@marie.dupont:unisson.test"
    pill = _with_pill("!referent Le Pré-Saint-Gervais", officer, "Marie Dupont")
    named = _content(await member.reply(await member.send(room_id, "m.room.message", pill)))
    assert officer in named["m.mentions"]["user_ids"] and "Le Pré-Saint-Gervais" in named["body"]
    [town] = await hub.towns.list(coalition_id)
    assert (town.name, await hub.towns.officers(town.id)) == ("Le Pré-Saint-Gervais", [officer])


async def test_an_account_is_linked_and_checked_in_a_direct_message(
    hub: Hub,
    bot: Bot,
    admin: Person,
    member: Person,
    mastodon: tuple[MastodonDouble, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    double, base_url = mastodon
    _, coalition_id = await _coalition_room(hub, admin, bot)
    added = await OnboardingService(hub).add_town(ADMIN, coalition_id, PANTIN)
    await hub.towns.appoint_officer(ADMIN, added.town.id, member.user_id)
    double.add_account("pantin")
    token = double.issue_token("pantin", ("read", "write"))

    direct = await _room_with_bot(member, bot.user_id, is_direct=True)
    command = f"!compte mastodon @pantin@social.pantin.test {token} Pantin {base_url}"
    linked = _content(await member.answer(direct, command))
    assert linked["body"].startswith("Le compte Mastodon @pantin@social.pantin.test est relié pour Pantin")
    assert "1\u202f000 caractères" in linked["body"]  # French thousands: a narrow no-break space
    [account] = await hub.accounts.of_town(added.town.id)
    assert account.server == base_url and account.last_error is None

    double.revoke_token(token)
    again = _content(await member.answer(direct, f"!compte mastodon @pantin@social.pantin.test {token} {base_url}"))
    assert "la vérification a échoué" in again["body"] and "!compte mastodon" in again["body"]

    for answer in (linked, again):
        assert token not in str(answer)
    assert not [r for r in caplog.records if token in r.getMessage()]


async def test_the_account_command_in_a_shared_room_is_redacted_and_refused(
    hub: Hub, bot: Bot, admin: Person, member: Person, synapse: RunningSynapse
) -> None:
    room_id, coalition_id = await _coalition_room(hub, admin, bot)
    added = await OnboardingService(hub).add_town(ADMIN, coalition_id, PANTIN)
    await hub.towns.appoint_officer(ADMIN, added.town.id, member.user_id)
    await _join(member, admin, room_id)

    leaked = await member.say(room_id, f"!compte bluesky pantin.bsky.social {APP_PASSWORD}")
    warning = _content(await member.reply(leaked))
    assert await _is_redacted(member, synapse, room_id, leaked)
    assert warning["m.mentions"]["user_ids"] == [member.user_id]
    assert "https://matrix.to/#/" + member.user_id in warning["formatted_body"]
    assert "je l'ai supprimé" in warning["body"] and "révoquez-le" in warning["body"]
    assert "message privé" in warning["body"] and APP_PASSWORD not in str(warning)
    assert await hub.accounts.of_town(added.town.id) == []


async def test_a_pasted_secret_is_redacted_and_ordinary_messages_are_not(
    hub: Hub, bot: Bot, admin: Person, synapse: RunningSynapse
) -> None:
    room_id, _ = await _coalition_room(hub, admin, bot)
    ordinary = [
        await admin.say(room_id, text)
        for text in (
            "Bonjour à toutes et à tous : réunion décalée au 20/01/2026 à 9h30, salle 12-B.",
            "J'ai oublié mon mot de passe Bluesky, quelqu'un peut m'aider ?",
            "Le texte est ici : https://www.ville-pantin.fr/actualites/2026/01/depart-de-x-9876",
        )
    ]
    pasted = await admin.say(room_id, f"voilà le mot de passe d'application : {APP_PASSWORD}")
    warning = _content(await admin.reply(pasted))
    await admin.answer(room_id, "!ping")

    assert await _is_redacted(admin, synapse, room_id, pasted)
    assert warning["m.mentions"]["user_ids"] == [admin.user_id]
    for event_id in ordinary:
        assert admin.replies_to(event_id) == []
        assert not await _is_redacted(admin, synapse, room_id, event_id)


async def test_without_the_power_to_redact_the_bot_says_so(
    hub: Hub, bot: Bot, admin: Person, synapse: RunningSynapse
) -> None:
    room_id, _ = await _coalition_room(hub, admin, bot, moderator=False)
    pasted = await admin.say(room_id, APP_PASSWORD)
    warning = _content(await admin.reply(pasted))
    assert "je n'ai pas le droit de le supprimer" in warning["body"]
    assert not await _is_redacted(admin, synapse, room_id, pasted)


async def test_a_reminder_goes_once_to_the_officers_of_the_towns_that_have_not_answered(
    hub: Hub, clock: Clock, bot_settings: BotSettings, admin: Person
) -> None:
    coordinator = "@coordination.rappels:unisson.test"
    officers = {PANTIN: "@referent.pantin:unisson.test", KREMLIN: "@referent.kremlin:unisson.test"}
    async with Bot(hub, bot_settings) as bot:
        room_id, coalition_id = await _coalition_room(hub, admin, bot)
        await hub.coalitions.appoint_coordinator(ADMIN, coalition_id, coordinator)
        for code, officer in officers.items():
            added = await OnboardingService(hub).add_town(ADMIN, coalition_id, code)
            await hub.towns.appoint_officer(ADMIN, added.town.id, officer)
        announcement = await hub.announcements.propose(coordinator, coalition_id, "Départ de X", "{ville} quitte X")
        announcement = await hub.announcements.schedule(
            coordinator, announcement.id, "20/01/2026 9h", deadline="18/01/2026 12h"
        )
        await hub.announcements.sign(officers[PANTIN], announcement.id)
        assert announcement.deadline is not None
        assert await bot.reminders.check() == 0  # a week before: nothing yet

        clock.now = announcement.deadline - timedelta(hours=23)
        bot.reminders.poke()
        reminder = await _reminder(admin, room_id, 1)
        assert reminder["m.mentions"]["user_ids"] == [officers[KREMLIN]]
        assert "https://matrix.to/#/" + officers[KREMLIN] in reminder["formatted_body"]
        assert "Le Kremlin-Bicêtre" in reminder["body"] and "Pantin" not in reminder["body"]
        assert "« Départ de X »" in reminder["body"] and "dimanche 18 janvier 2026 à 12:00" in reminder["body"]
        assert await bot.reminders.check() == 0

    async with Bot(hub, bot_settings) as restarted:
        assert await restarted.reminders.check() == 0
        clock.now = announcement.deadline - timedelta(hours=1)
        assert await restarted.reminders.check() == 1
        await _reminder(admin, room_id, 2)
        await admin.answer(room_id, "!ping")
    assert len(_reminders(admin, room_id)) == 2
    assert [m.purpose for m in await hub.announcements.messages(announcement.id)] == ["reminder:24h", "reminder:2h"]


def _reminders(person: Person, room_id: str) -> list[RoomMessageNotice]:
    return [n for n in person.notices if n.body.startswith("Rappel") and n.source.get("room_id", room_id) == room_id]


async def _reminder(person: Person, room_id: str, count: int) -> dict[str, Any]:
    async def arrived() -> bool:
        return len(_reminders(person, room_id)) >= count

    await eventually(arrived, f"reminder number {count}")
    return _content(_reminders(person, room_id)[count - 1])
