"""People at real Matrix clients, for the bot's tests against the sandbox Synapse.

A :class:`Person` logs in with a fresh encrypted device, syncs in the background and keeps every notice it
sees (edits included), so a test can wait for the bot's answer to a message, read the current text of an
edited message, react, take a reaction back, and post images.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from nio import (
    AsyncClient,
    AsyncClientConfig,
    JoinResponse,
    LoginResponse,
    MegolmEvent,
    RoomCreateResponse,
    RoomGetStateEventResponse,
    RoomMessageNotice,
    RoomRedactResponse,
    RoomSendResponse,
    UploadResponse,
)

from bot.client import SKIP_HISTORY_FILTER
from sandbox.synapse import RunningSynapse

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


async def register(hs: RunningSynapse, role: str) -> tuple[str, str]:
    """A new user named after ``role``; returns its id and an access token."""
    return await hs.register(f"{role}-{next(_people)}-{uuid.uuid4().hex[:6]}", PASSWORD)


def content_of(event: RoomMessageNotice) -> dict[str, Any]:
    content: dict[str, Any] = event.source["content"]
    return content


def in_reply_to(event: RoomMessageNotice) -> str | None:
    target = content_of(event).get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id")
    return None if target is None else str(target)


def replaces(event: RoomMessageNotice) -> str | None:
    """The event an edit replaces, or None for an ordinary message."""
    relation = content_of(event).get("m.relates_to", {})
    return str(relation["event_id"]) if relation.get("rel_type") == "m.replace" else None


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

    @classmethod
    async def new(cls, hs: RunningSynapse, role: str, folder: Path) -> Person:
        """Registers a user for ``role`` and starts their client."""
        user_id, _ = await register(hs, role)
        person = cls(hs, user_id, folder / role)
        await person.start()
        return person

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

    # -- rooms -----------------------------------------------------------------------------------------

    async def create_room(self, invite: list[str], *, encrypted: bool = False) -> str:
        initial_state = [ENCRYPTION] if encrypted else []
        response = await self.client.room_create(invite=invite, initial_state=initial_state)
        assert isinstance(response, RoomCreateResponse), response
        room_id = str(response.room_id)
        await self.wait_room(room_id)
        return room_id

    async def join(self, room_id: str) -> None:
        response = await self.client.join(room_id)
        assert isinstance(response, JoinResponse), response
        await self.wait_room(room_id)

    async def wait_room(self, room_id: str) -> None:
        async def check() -> bool:
            return room_id in self.client.rooms

        await eventually(check, f"the room reached {self.user_id}'s client")

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

    # -- speaking ----------------------------------------------------------------------------------------

    async def send(self, room_id: str, event_type: str, content: dict[str, Any]) -> str:
        room = self.client.rooms[room_id]
        if room.encrypted and self.client.should_query_keys:
            await self.client.keys_query()
        response = await self.client.room_send(room_id, event_type, content, ignore_unverified_devices=True)
        assert isinstance(response, RoomSendResponse), response
        return str(response.event_id)

    async def say(self, room_id: str, body: str, msgtype: str = "m.text", *, reply_to: str | None = None) -> str:
        content: dict[str, Any] = {"msgtype": msgtype, "body": body}
        if reply_to is not None:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
        return await self.send(room_id, "m.room.message", content)

    async def react(self, room_id: str, event_id: str, key: str) -> str:
        relation = {"rel_type": "m.annotation", "event_id": event_id, "key": key}
        return await self.send(room_id, "m.reaction", {"m.relates_to": relation})

    async def redact(self, room_id: str, event_id: str) -> None:
        response = await self.client.room_redact(room_id, event_id)
        assert isinstance(response, RoomRedactResponse), response

    async def post_image(
        self, room_id: str, data: bytes, name: str = "affiche.png", *, reply_to: str | None = None
    ) -> str:
        """Uploads a PNG and posts it as ``m.image`` (encrypted as an attachment where the room is), optionally
        as a reply to ``reply_to``."""
        return await self.post_attachment(room_id, data, name, "m.image", "image/png", reply_to=reply_to)

    async def post_attachment(
        self,
        room_id: str,
        data: bytes,
        name: str,
        msgtype: str,
        mimetype: str,
        *,
        reply_to: str | None = None,
        stated_size: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        """Uploads ``data`` and posts it as ``msgtype`` (encrypted as an attachment where the room is)."""
        encrypted = self.client.rooms[room_id].encrypted
        uploaded, keys = await self.client.upload(
            io.BytesIO(data), content_type=mimetype, filename=name, encrypt=encrypted, filesize=len(data)
        )
        assert isinstance(uploaded, UploadResponse), uploaded
        content: dict[str, Any] = {
            "msgtype": msgtype,
            "body": name,
            **(extra or {}),
            "info": {"mimetype": mimetype, "size": stated_size or len(data)},
        }
        if keys is not None:
            content["file"] = {"url": uploaded.content_uri, **keys}
        else:
            content["url"] = uploaded.content_uri
        if reply_to is not None:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
        return await self.send(room_id, "m.room.message", content)

    async def raw_event(self, hs: RunningSynapse, room_id: str, event_id: str) -> dict[str, Any]:
        """The event as the homeserver stores it (not decrypted)."""
        url = f"{hs.url}/_matrix/client/v3/rooms/{quote(room_id)}/event/{quote(event_id)}"
        headers = {"Authorization": f"Bearer {self.client.access_token}"}
        async with hs.http.get(url, headers=headers) as response:
            assert response.status == 200, await response.text()
            event: dict[str, Any] = await response.json()
            return event

    # -- reading the bot -----------------------------------------------------------------------------------

    def replies_to(self, event_id: str) -> list[RoomMessageNotice]:
        return [n for n in self.notices if in_reply_to(n) == event_id and replaces(n) is None]

    async def reply(self, event_id: str) -> RoomMessageNotice:
        """Waits for the bot's reply to ``event_id``."""

        async def check() -> bool:
            return bool(self.replies_to(event_id))

        await eventually(check, f"an answer to {event_id}")
        return self.replies_to(event_id)[0]

    async def answer(self, room_id: str, body: str, *, reply_to: str | None = None) -> RoomMessageNotice:
        """Says ``body`` and waits for the bot's reply to it."""
        return await self.reply(await self.say(room_id, body, reply_to=reply_to))

    def edits_of(self, event_id: str) -> list[RoomMessageNotice]:
        return [n for n in self.notices if replaces(n) == event_id]

    def current_text(self, event_id: str) -> str:
        """The plain text of message ``event_id`` as clients show it: its latest edit, else the original."""
        edits = self.edits_of(event_id)
        if edits:
            return str(content_of(edits[-1])["m.new_content"]["body"])
        return next(str(n.body) for n in self.notices if n.event_id == event_id)

    async def wait_text(self, event_id: str, *expected: str) -> str:
        """Waits until message ``event_id`` (edited or not) shows every piece of ``expected``."""

        async def check() -> bool:
            return any(n.event_id == event_id for n in self.notices) and all(
                e in self.current_text(event_id) for e in expected
            )

        await eventually(check, f"{event_id} shows {expected}")
        return self.current_text(event_id)

    async def wait_notice(self, starting: str) -> RoomMessageNotice:
        """Waits for a new (not edited) notice whose text starts with ``starting``."""

        def found() -> list[RoomMessageNotice]:
            return [n for n in self.notices if replaces(n) is None and str(n.body).startswith(starting)]

        async def check() -> bool:
            return bool(found())

        await eventually(check, f"a notice starting with {starting!r}")
        return found()[-1]
