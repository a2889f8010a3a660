"""The bot against a real Synapse, with real users: invites, help, usage, what it ignores, restarts, encryption.

To know that the bot has *not* answered something, a test sends ``!ping`` afterwards and waits for its
answer: the bot handles a room's commands one at a time in arrival order, so by then any answer to the
earlier message would have come.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import pytest_asyncio
from nio import (
    AsyncClient,
    AsyncClientConfig,
    LoginResponse,
    MegolmEvent,
    RoomCreateResponse,
    RoomGetStateEventResponse,
    RoomMessageNotice,
    RoomSendResponse,
)
from pydantic import SecretStr

from bot.client import SESSION_FILE, SKIP_HISTORY_FILTER, Bot
from bot.commands import default_registry
from bot.context import Request
from bot.registry import Arguments, Registry, command
from bot.render import Reply
from bot.settings import BotSettings
from hub.services.context import Hub
from sandbox.synapse import RunningSynapse
from tests.conftest import ADMIN

pytestmark = pytest.mark.asyncio(loop_scope="session")

PASSWORD = "mot-de-passe-de-test"
WAIT_SECONDS = 30.0
ENCRYPTION = {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}
_people = itertools.count(1)


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Waits until ``check`` holds (the homeserver and the bot work asynchronously)."""
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            while True:
                if await check():
                    return
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"still waiting after {WAIT_SECONDS} s: {what}") from None


class Person:
    """A Matrix user at a real client: a fresh device with encryption, syncing in the background."""

    def __init__(self, hs: RunningSynapse, user_id: str, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        config = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False)
        self.user_id = user_id
        self.client = AsyncClient(hs.url, user_id, store_path=str(folder), config=config)
        self.notices: list[RoomMessageNotice] = []
        self.undecryptable: list[MegolmEvent] = []
        self._sync: asyncio.Task[None] | None = None

    async def start(self) -> None:
        response = await self.client.login(PASSWORD, device_name="test")
        assert isinstance(response, LoginResponse), response
        self.client.add_event_callback(self._on_notice, RoomMessageNotice)
        self.client.add_event_callback(self._on_undecryptable, MegolmEvent)
        # A new device cannot read the history of the encrypted rooms of earlier tests: skip it.
        sync = self.client.sync_forever(timeout=5_000, first_sync_filter=SKIP_HISTORY_FILTER)
        self._sync = asyncio.create_task(sync)

    async def stop(self) -> None:
        if self._sync is not None:
            self._sync.cancel()
            await asyncio.gather(self._sync, return_exceptions=True)
        # Logging out deletes the device, so later tests do not share room keys with it.
        await self.client.logout()
        await self.client.close()

    async def _on_notice(self, room: Any, event: RoomMessageNotice) -> None:
        self.notices.append(event)

    async def _on_undecryptable(self, room: Any, event: MegolmEvent) -> None:
        self.undecryptable.append(event)

    async def create_room(self, invite: list[str], *, encrypted: bool = False, version: str | None = None) -> str:
        initial_state = [ENCRYPTION] if encrypted else []
        response = await self.client.room_create(invite=invite, initial_state=initial_state, room_version=version)
        assert isinstance(response, RoomCreateResponse), response
        room_id = str(response.room_id)
        await eventually(self._knows(room_id), "the room reached the creator's client")
        return room_id

    def _knows(self, room_id: str) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return room_id in self.client.rooms

        return check

    async def invite(self, room_id: str, user_id: str) -> None:
        await self.client.room_invite(room_id, user_id)

    async def membership(self, room_id: str, user_id: str) -> str | None:
        response = await self.client.room_get_state_event(room_id, "m.room.member", user_id)
        if not isinstance(response, RoomGetStateEventResponse):
            return None
        return str(response.content.get("membership"))

    async def wait_member(self, room_id: str, user_id: str, membership: str) -> None:
        async def check() -> bool:
            return await self.membership(room_id, user_id) == membership

        await eventually(check, f"{user_id} is {membership} in {room_id}")

    async def say(self, room_id: str, body: str, msgtype: str = "m.text") -> str:
        room = self.client.rooms[room_id]
        if room.encrypted and self.client.should_query_keys:
            await self.client.keys_query()
        content = {"msgtype": msgtype, "body": body}
        response = await self.client.room_send(room_id, "m.room.message", content, ignore_unverified_devices=True)
        assert isinstance(response, RoomSendResponse), response
        return str(response.event_id)

    async def raw_event(self, hs: RunningSynapse, room_id: str, event_id: str) -> dict[str, Any]:
        """The event as the homeserver stores it (not decrypted)."""
        url = f"{hs.url}/_matrix/client/v3/rooms/{quote(room_id)}/event/{quote(event_id)}"
        headers = {"Authorization": f"Bearer {self.client.access_token}"}
        async with hs.http.get(url, headers=headers) as response:
            assert response.status == 200, await response.text()
            event: dict[str, Any] = await response.json()
            return event

    def replies_to(self, event_id: str) -> list[RoomMessageNotice]:
        return [n for n in self.notices if _in_reply_to(n) == event_id]

    async def reply(self, event_id: str) -> RoomMessageNotice:
        """Waits for the bot's reply to ``event_id``."""

        async def check() -> bool:
            return bool(self.replies_to(event_id))

        await eventually(check, f"an answer to {event_id}")
        return self.replies_to(event_id)[0]

    async def answer(self, room_id: str, body: str) -> RoomMessageNotice:
        """Says ``body`` and waits for the bot's reply to it."""
        return await self.reply(await self.say(room_id, body))


def _in_reply_to(event: RoomMessageNotice) -> str | None:
    relation = event.source.get("content", {}).get("m.relates_to", {})
    target = relation.get("m.in_reply_to", {}).get("event_id")
    return None if target is None else str(target)


def _content(event: RoomMessageNotice) -> dict[str, Any]:
    content: dict[str, Any] = event.source["content"]
    return content


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def admin_account(synapse: RunningSynapse) -> str:
    """The deployment admin of the hub fixture (``@admin:unisson.test``), registered once."""
    localpart = ADMIN.removeprefix("@").split(":")[0]
    user_id, _ = await synapse.register(localpart, PASSWORD, admin=True)
    assert user_id == ADMIN
    return user_id


async def _register(hs: RunningSynapse, role: str) -> tuple[str, str]:
    return await hs.register(f"{role}-{next(_people)}-{uuid.uuid4().hex[:6]}", PASSWORD)


@pytest_asyncio.fixture(loop_scope="session")
async def admin(synapse: RunningSynapse, admin_account: str, tmp_path: Path) -> AsyncIterator[Person]:
    person = Person(synapse, admin_account, tmp_path / "admin")
    await person.start()
    yield person
    await person.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def coordinator(synapse: RunningSynapse, tmp_path: Path) -> AsyncIterator[Person]:
    user_id, _ = await _register(synapse, "coordination")
    person = Person(synapse, user_id, tmp_path / "coordinator")
    await person.start()
    yield person
    await person.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def bot_settings(synapse: RunningSynapse, tmp_path: Path) -> BotSettings:
    user_id, token = await _register(synapse, "unisson")
    return BotSettings(
        homeserver=synapse.url,
        user_id=user_id,
        access_token=SecretStr(token),
        store_path=tmp_path / "bot-store",
        _env_file=None,
    )


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
    content = _content(french)
    assert content["msgtype"] == "m.notice"
    assert content["format"] == "org.matrix.custom.html"
    assert content["m.mentions"]["user_ids"] == [admin.user_id]
    assert content["body"].startswith("Commandes disponibles :")
    for usage in ("!aide [commande]", "!ping", "!langue [fr|en]"):
        assert usage in content["body"]
        assert f"<code>{usage}</code>" in content["formatted_body"]

    english = _content(await admin.answer(room_id, "!help"))
    assert english["body"].startswith("Available commands:")
    assert "!help [command]" in english["body"] and "!language [fr|en]" in english["body"]

    assert _content(await admin.answer(room_id, "!aide langue"))["body"].startswith("!langue [fr|en]\n")


async def test_a_wrong_usage_or_an_unknown_command_is_explained(hub: Hub, bot: Bot, admin: Person) -> None:
    room_id = await _coalition_room(hub, admin, bot.user_id)

    wrong = _content(await admin.answer(room_id, "!langue allemand"))
    assert wrong["body"].startswith("Utilisation : !langue [fr|en]\n")

    unknown = _content(await admin.answer(room_id, "!pnig"))
    assert "!pnig" in unknown["body"] and "!ping" in unknown["body"]

    chosen = _content(await admin.answer(room_id, "!langue en"))
    assert chosen["body"].startswith("Noted: from now on I will answer you in English.")
    assert _content(await admin.answer(room_id, "!aide"))["body"].startswith("Available commands:")


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
    shutil.copytree(bot_settings.store_path, snapshot)

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
    assert _content(first_reply)["body"].startswith("Commandes disponibles :")
    assert _content(second_reply)["body"].startswith("Pong")
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
        apology = _content(await admin.answer(room_id, "!panne"))
        assert apology["body"].startswith("Désolé, une erreur inattendue")
        assert "fire" not in apology["body"] and "Traceback" not in apology["body"]
        assert _content(await admin.answer(room_id, "!ping"))["body"].startswith("Pong")
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
