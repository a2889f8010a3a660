"""The demo's people at plain Matrix clients (matrix-nio), as a person at Element would be, and what the terminal
shows of the room.

The officers only act (join, react, type); the coordinator's client also listens, and its :class:`Transcript`
is the room as the narration shows it: every message of the bot, in its current state once edited. Every wait
has a deadline (:func:`until`): a demo that cannot go on says what it was waiting for instead of hanging.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from nio import (
    AsyncClient,
    AsyncClientConfig,
    JoinResponse,
    LoginResponse,
    RoomCreateResponse,
    RoomGetStateEventResponse,
    RoomInviteResponse,
    RoomMessageNotice,
    RoomPutStateResponse,
    RoomSendResponse,
)

from hub.errors import UnissonError
from hub.i18n import translate

T = TypeVar("T")

#: How long any one step may take before the demo gives up (a publication waits longer: see the script).
WAIT_SECONDS = 60.0
_POLL_SECONDS = 0.1
_SYNC_TIMEOUT_MS = 3_000
#: Matrix's moderator power level: enough to delete other people's messages.
MODERATOR = 50


class DemoError(UnissonError):
    """The demo could not go on; the message says what it was waiting for and where to look."""

    key = "demo.error.timeout"


class Interrupted(Exception):
    """Ctrl-C during the story: raised where the story waits, never in the middle of a call to the hub."""


async def until(
    check: Callable[[], Awaitable[T | None]],
    what: str,
    seconds: float = WAIT_SECONDS,
    stop: asyncio.Event | None = None,
) -> T:
    """Polls ``check`` until it gives something other than None; ``what`` (already in the user's language)
    names it in the error raised after ``seconds``. Raises :class:`Interrupted` once ``stop`` is set."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        found = await check()
        if found is not None:
            return found
        if stop is not None and stop.is_set():
            raise Interrupted
        if loop.time() > deadline:
            raise DemoError("demo.error.timeout", what=what, seconds=int(seconds))
        await asyncio.sleep(_POLL_SECONDS)


def _content(event: RoomMessageNotice) -> dict[str, Any]:
    content: dict[str, Any] = event.source.get("content", {})
    return content


def replaced(event: RoomMessageNotice) -> str | None:
    """The message an edit replaces; None for a new message."""
    relation = _content(event).get("m.relates_to", {})
    return str(relation["event_id"]) if relation.get("rel_type") == "m.replace" else None


def in_reply_to(event: RoomMessageNotice) -> str | None:
    target = _content(event).get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id")
    return None if target is None else str(target)


def mentioned(event: RoomMessageNotice) -> set[str]:
    return {str(u) for u in _content(event).get("m.mentions", {}).get("user_ids", [])}


class Transcript:
    """The bot's messages in the room, shown in order when the script says so (:meth:`show`)."""

    def __init__(self, say: Callable[[str], None], lang: str, bot_name: str, stop: asyncio.Event) -> None:
        self.say = say
        self.lang = lang
        self.bot_name = bot_name
        #: Set by Ctrl-C: the waits end with :class:`Interrupted`.
        self.stop = stop
        #: Every new (not edited) message of the bot, in the order received.
        self.messages: list[RoomMessageNotice] = []
        self._texts: dict[str, str] = {}
        self._shown = 0

    def heard(self, event: RoomMessageNotice) -> None:
        target = replaced(event)
        if target is not None:
            self._texts[target] = str(_content(event).get("m.new_content", {}).get("body", event.body))
            return
        self.messages.append(event)
        self._texts[str(event.event_id)] = str(event.body)

    def text(self, event_id: str) -> str:
        """A message as clients show it now: its latest edit, else the original."""
        return self._texts.get(event_id, "")

    def show(self) -> None:
        """Prints the bot's messages not shown yet, each as it reads now."""
        for event in self.messages[self._shown :]:
            self.line(self.bot_name, self.text(str(event.event_id)))
        self._shown = len(self.messages)

    def line(self, who: str, text: str) -> None:
        """One message of the room: its author, then its text indented under it."""
        first, *rest = text.strip().splitlines() or [""]
        self.say(translate("demo.transcript.line", self.lang, who=who, text=first))
        for more in rest:
            self.say(f"      {more}")

    async def wait(self, found: Callable[[RoomMessageNotice], bool], what: str) -> RoomMessageNotice:
        """The first message of the bot for which ``found`` holds, once it has reached the room."""

        async def check() -> RoomMessageNotice | None:
            return next((m for m in self.messages if found(m)), None)

        return await until(check, what, stop=self.stop)

    async def reply_to(self, event_id: str, what: str) -> RoomMessageNotice:
        return await self.wait(lambda m: in_reply_to(m) == event_id, what)


class Member:
    """A person of the demo at a Matrix client, without end-to-end encryption (the demo's room is not
    encrypted, so that a person who joins later with any client reads its whole history)."""

    def __init__(self, homeserver: str, user_id: str, password: str, name: str) -> None:
        self.user_id = user_id
        self.password = password
        self.name = name
        config = AsyncClientConfig(encryption_enabled=False, store_sync_tokens=False)
        self.client = AsyncClient(homeserver, user_id, config=config)
        self._sync: asyncio.Task[None] | None = None

    async def log_in(self) -> None:
        answer = await self.client.login(self.password, device_name="Unisson demo")
        _expect(answer, LoginResponse, "login")
        await self.client.set_displayname(self.name)

    def listen(self, transcript: Transcript) -> None:
        """Syncs in the background, handing the bot's messages to ``transcript``."""

        async def heard(room: Any, event: RoomMessageNotice) -> None:
            transcript.heard(event)

        self.client.add_event_callback(heard, RoomMessageNotice)
        self._sync = asyncio.create_task(self.client.sync_forever(timeout=_SYNC_TIMEOUT_MS), name="demo-sync")

    async def close(self) -> None:
        if self._sync is not None:
            self._sync.cancel()
            await asyncio.gather(self._sync, return_exceptions=True)
        await self.client.close()

    async def create_room(self, name: str, alias: str, invite: list[str]) -> str:
        answer = await self.client.room_create(name=name, alias=alias, invite=invite)
        return str(_expect(answer, RoomCreateResponse, "room_create").room_id)

    async def promote(self, room_id: str, user_id: str, level: int) -> None:
        """Gives ``user_id`` the power ``level`` in the room (its other power levels stay as they are)."""
        answer = _expect(
            await self.client.room_get_state_event(room_id, "m.room.power_levels"),
            RoomGetStateEventResponse,
            "room_get_state_event",
        )
        content = dict(answer.content)
        content["users"] = {**content.get("users", {}), user_id: level}
        _expect(
            await self.client.room_put_state(room_id, "m.room.power_levels", content),
            RoomPutStateResponse,
            "room_put_state",
        )

    async def invite(self, room_id: str, user_id: str) -> None:
        _expect(await self.client.room_invite(room_id, user_id), RoomInviteResponse, "room_invite")

    async def join(self, room_id: str) -> None:
        _expect(await self.client.join(room_id), JoinResponse, "join")

    async def membership(self, room_id: str, user_id: str) -> str | None:
        answer = await self.client.room_get_state_event(room_id, "m.room.member", user_id)
        return str(answer.content.get("membership")) if isinstance(answer, RoomGetStateEventResponse) else None

    async def say(self, room_id: str, body: str) -> str:
        return await self._send(room_id, "m.room.message", {"msgtype": "m.text", "body": body})

    async def react(self, room_id: str, event_id: str, key: str) -> str:
        relation = {"rel_type": "m.annotation", "event_id": event_id, "key": key}
        return await self._send(room_id, "m.reaction", {"m.relates_to": relation})

    async def _send(self, room_id: str, event_type: str, content: dict[str, Any]) -> str:
        answer = await self.client.room_send(room_id, event_type, content)
        return str(_expect(answer, RoomSendResponse, "room_send").event_id)


def _expect(answer: object, kind: type[T], action: str) -> T:
    if not isinstance(answer, kind):
        raise DemoError("demo.error.matrix", action=action, answer=str(answer))
    return answer
