"""The bot against a real Synapse, with real users: invites, help, usage, what it ignores, restarts, encryption.

To know that the bot has *not* answered something, a test sends ``!ping`` afterwards and waits for its
answer: the bot handles a room's commands one at a time in arrival order, so by then any answer to the
earlier message would have come.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from nio import (
    RoomSendResponse,
)
from pydantic import SecretStr

from bot.client import SESSION_FILE, Bot
from bot.commands.families import default_registry
from bot.context import Request
from bot.registry import Arguments, Registry, command
from bot.render import Reply
from bot.settings import BotSettings
from hub.core import Hub
from sandbox.synapse import RunningSynapse
from tests.conftest import ADMIN
from tests.integration.bot_helpers import PASSWORD, Person, content_of, eventually, register

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def admin_account(synapse: RunningSynapse) -> str:
    """The deployment admin of the hub fixture (``@admin:unisson.test``), registered once."""
    localpart = ADMIN.removeprefix("@").split(":")[0]
    user_id, _ = await synapse.register(localpart, PASSWORD, admin=True)
    assert user_id == ADMIN
    return user_id


@pytest_asyncio.fixture(loop_scope="session")
async def admin(synapse: RunningSynapse, admin_account: str, tmp_path: Path) -> AsyncIterator[Person]:
    person = Person(synapse, admin_account, tmp_path / "admin")
    await person.start()
    yield person
    await person.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def coordinator(synapse: RunningSynapse, tmp_path: Path) -> AsyncIterator[Person]:
    user_id, _ = await register(synapse, "coordination")
    person = Person(synapse, user_id, tmp_path / "coordinator")
    await person.start()
    yield person
    await person.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def bot(hub: Hub, bot_settings: BotSettings) -> AsyncIterator[Bot]:
    async with Bot(hub, bot_settings) as running:
        yield running


async def _coalition_room(hub: Hub, admin: Person, bot_id: str, *, encrypted: bool = False) -> str:
    """A room the admin creates, binds to a new coalition, and invites the bot to; returns once it joined."""
    room_id = await admin.create_room([], encrypted=encrypted)
    await hub.coalitions.create(ADMIN, f"Coalition {uuid.uuid4().hex[:6]}", room_id)
    await admin.invite(room_id, bot_id)
    await admin.wait_member(room_id, bot_id, "join")
    return room_id


async def test_the_bot_joins_a_coalition_room_or_an_admin_invite(
    hub: Hub, bot: Bot, admin: Person, coordinator: Person
) -> None:
    room_id = await coordinator.create_room([])
    await hub.coalitions.create(ADMIN, "Coalition Est", room_id)
    await coordinator.invite(room_id, bot.user_id)
    await coordinator.wait_member(room_id, bot.user_id, "join")

    unbound = await admin.create_room([bot.user_id])
    await admin.wait_member(unbound, bot.user_id, "join")


async def test_the_bot_declines_an_unknown_room_from_a_non_admin(bot: Bot, coordinator: Person) -> None:
    room_id = await coordinator.create_room([bot.user_id])
    await coordinator.wait_member(room_id, bot.user_id, "leave")


async def test_help_lists_the_commands_in_french_or_english(hub: Hub, bot: Bot, admin: Person) -> None:
    room_id = await _coalition_room(hub, admin, bot.user_id)

    french = await admin.answer(room_id, "!aide")
    content = content_of(french)
    assert content["msgtype"] == "m.notice"
    assert content["format"] == "org.matrix.custom.html"
    assert content["m.mentions"]["user_ids"] == [admin.user_id]
    assert content["body"].startswith("Commandes disponibles :")
    for usage in ("!aide [commande]", "!ping", "!langue [fr|en]"):
        assert usage in content["body"]
        assert f"<code>{usage}</code>" in content["formatted_body"]

    english = content_of(await admin.answer(room_id, "!help"))
    assert english["body"].startswith("Available commands:")
    assert "!help [command]" in english["body"] and "!language [fr|en]" in english["body"]

    assert content_of(await admin.answer(room_id, "!aide langue"))["body"].startswith("!langue [fr|en]\n")


async def test_a_wrong_usage_or_an_unknown_command_is_explained(hub: Hub, bot: Bot, admin: Person) -> None:
    room_id = await _coalition_room(hub, admin, bot.user_id)

    wrong = content_of(await admin.answer(room_id, "!langue allemand"))
    assert wrong["body"].startswith("Utilisation : !langue [fr|en]\n")

    unknown = content_of(await admin.answer(room_id, "!pnig"))
    assert "!pnig" in unknown["body"] and "!ping" in unknown["body"]

    chosen = content_of(await admin.answer(room_id, "!langue en"))
    assert chosen["body"].startswith("Noted: from now on I will answer you in English.")
    assert content_of(await admin.answer(room_id, "!aide"))["body"].startswith("Available commands:")


async def test_a_chosen_language_survives_a_restart(hub: Hub, bot_settings: BotSettings, admin: Person) -> None:
    async with Bot(hub, bot_settings) as first:
        room_id = await _coalition_room(hub, admin, first.user_id)
        assert content_of(await admin.answer(room_id, "!aide"))["body"].startswith("Commandes disponibles :")
        chosen = content_of(await admin.answer(room_id, "!langue en"))
        assert chosen["body"].startswith("Noted: from now on I will answer you in English.")
    assert await hub.preferences.language(admin.user_id) == "en"

    # A new bot over the same hub: the choice is read back from the store, not from the old bot's memory.
    async with Bot(hub, bot_settings):
        assert content_of(await admin.answer(room_id, "!aide"))["body"].startswith("Available commands:")
        shown = content_of(await admin.answer(room_id, "!langue"))
        assert shown["body"].startswith("I am answering you in English.")


async def test_notices_and_the_bots_own_messages_are_ignored(hub: Hub, bot: Bot, admin: Person) -> None:
    room_id = await _coalition_room(hub, admin, bot.user_id)
    await eventually(_bot_knows(bot, room_id), "the room reached the bot's client")

    as_notice = await admin.say(room_id, "!aide", msgtype="m.notice")
    own = await bot.client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "!aide"})
    assert isinstance(own, RoomSendResponse), own
    await admin.answer(room_id, "!ping")

    assert admin.replies_to(as_notice) == []
    assert admin.replies_to(str(own.event_id)) == []


def _bot_knows(bot: Bot, room_id: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return room_id in bot.client.rooms

    return check


async def test_a_restart_never_answers_a_command_twice(
    hub: Hub, bot_settings: BotSettings, admin: Person, tmp_path: Path
) -> None:
    async with Bot(hub, bot_settings) as first:
        room_id = await _coalition_room(hub, admin, first.user_id)
        before = [await admin.say(room_id, "!ping")]
        await admin.answer(room_id, "!ping")
    # A copy of the store as it was: a bot restored from it receives the next commands again.
    snapshot = tmp_path / "store-snapshot"
    # Not the bot's half-written files (``*.tmp``): it may be replacing one by a rename while the copy is made.
    shutil.copytree(bot_settings.store_path, snapshot, ignore=shutil.ignore_patterns("*.tmp"))

    async with Bot(hub, bot_settings):
        during = [await admin.say(room_id, "!ping"), await admin.say(room_id, "!aide")]
        for event_id in during:
            await admin.reply(event_id)
    async with Bot(hub, bot_settings.model_copy(update={"store_path": snapshot})):
        await admin.answer(room_id, "!ping")

    for event_id in before + during:
        assert len(admin.replies_to(event_id)) == 1


async def test_an_encrypted_room_works_across_a_restart(
    hub: Hub, bot_settings: BotSettings, admin: Person, synapse: RunningSynapse
) -> None:
    async with Bot(hub, bot_settings) as bot:
        room_id = await _coalition_room(hub, admin, bot.user_id, encrypted=True)
        first = await admin.say(room_id, "!aide")
        first_reply = await admin.reply(first)
    async with Bot(hub, bot_settings) as restarted:
        # Nothing new happened in the room: the bot must still know it, and know it is encrypted.
        await eventually(_bot_knows(restarted, room_id), "the restarted bot knows the quiet room")
        unprompted = await restarted.send(room_id, Reply.text("Annonce publiée."))
        second = await admin.say(room_id, "!ping")
        second_reply = await admin.reply(second)

    assert [n.body for n in admin.notices if n.event_id == unprompted] == ["Annonce publiée."]
    assert first_reply.decrypted and second_reply.decrypted
    assert admin.undecryptable == []
    assert content_of(first_reply)["body"].startswith("Commandes disponibles :")
    assert content_of(second_reply)["body"].startswith("Pong")
    # What the homeserver holds is ciphertext, both ways, before and after the restart.
    for event_id in (first, first_reply.event_id, unprompted, second, second_reply.event_id):
        stored = await admin.raw_event(synapse, room_id, event_id)
        assert stored["type"] == "m.room.encrypted"
        assert not {"!aide", "!ping", "Commandes", "Pong"} & set(str(stored["content"]).split())


async def _out_of_order(request: Request, args: Arguments) -> Reply:
    raise RuntimeError("the database is on fire")


async def test_an_unexpected_error_gets_an_apology_and_the_bot_goes_on(
    hub: Hub, bot_settings: BotSettings, admin: Person, caplog: pytest.LogCaptureFixture
) -> None:
    registry = Registry([*default_registry(), command("panne")(_out_of_order)])
    async with Bot(hub, bot_settings, registry=registry) as bot:
        room_id = await _coalition_room(hub, admin, bot.user_id)
        apology = content_of(await admin.answer(room_id, "!panne"))
        assert apology["body"].startswith("Désolé, une erreur inattendue")
        assert "fire" not in apology["body"] and "Traceback" not in apology["body"]
        assert content_of(await admin.answer(room_id, "!ping"))["body"].startswith("Pong")
    logged = [r for r in caplog.records if r.name == "bot.client" and r.exc_info]
    assert any("!panne" in r.getMessage() and room_id in r.getMessage() for r in logged)


async def test_a_password_is_used_once_then_the_device_is_kept(
    hub: Hub, synapse: RunningSynapse, tmp_path: Path
) -> None:
    localpart = f"unisson-password-{uuid.uuid4().hex[:6]}"
    user_id, _ = await synapse.register(localpart, PASSWORD)
    settings = BotSettings(
        homeserver=synapse.url,
        user_id=user_id,
        password=SecretStr(PASSWORD),
        store_path=tmp_path / "bot-store",
        _env_file=None,
    )
    async with Bot(hub, settings) as first:
        device = first.client.device_id
    session = settings.store_path / SESSION_FILE
    assert session.stat().st_mode & 0o077 == 0
    async with Bot(hub, settings) as second:
        assert second.client.device_id == device
