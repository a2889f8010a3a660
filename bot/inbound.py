"""Events from the rooms, sorted and handled: commands, sign-on reactions and their redactions, images and
files posted in reply, secrets pasted where they should not be, invitations.

:meth:`Inbound.dispatch` only sorts the events of one sync and starts a task for each one that matters, so
the sync loop is never held up. The tasks of one room run one at a time, in the order the room saw them.
What keeps the bot from acting twice on one event, or not at all: its id goes through the hub — a command is
recorded *before* it runs (a command never runs twice), a sign-on reaction or its redaction in the same
transaction as the decision (a crash loses none and counts none twice). A
command's answer is kept in the hub until it is delivered. Events still waiting for their room when the bot
stops are left alone: the saved sync position is before them, so the next start handles them.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from nio import (
    AsyncClient,
    Event,
    InviteMemberEvent,
    JoinResponse,
    MatrixRoom,
    MegolmEvent,
    ReactionEvent,
    RedactionEvent,
    RoomEncryptedFile,
    RoomEncryptedImage,
    RoomLeaveResponse,
    RoomMessageFile,
    RoomMessageImage,
    RoomMessageText,
)

from bot import secrets
from bot.attachments import file_of, image_bytes, replied_to
from bot.context import Messenger, Preferences
from bot.handling import CommandFailed, CommandRunner, strip_reply_fallback
from bot.images import CardImages
from bot.imports import TownImports
from bot.mentions import command_text
from bot.reactions import SignOnReactions, decision_of
from bot.render import Reply, notice_content
from bot.sending import SendQueue
from bot.settings import BotSettings
from hub.core import Hub
from hub.store.repositories import PendingAnswer

Handler = Callable[[MatrixRoom, Any], "asyncio.Task[None] | None"]


class BotParts(Messenger, Protocol):
    """What the handling of events uses of the bot (:class:`bot.client.Bot` assembles them): declared here, so
    that this module needs nothing of the module that wires it."""

    hub: Hub
    settings: BotSettings
    client: AsyncClient
    preferences: Preferences
    commands: CommandRunner
    reactions: SignOnReactions
    card_images: CardImages
    town_imports: TownImports
    outbox: SendQueue

    @property
    def user_id(self) -> str: ...

    async def transmit(self, room_id: str, content: dict[str, Any], tx_id: str) -> str:
        """Sends an ``m.room.message`` now; returns its id."""
        ...


class Inbound:
    """The bot's handling of what the rooms say; one per bot."""

    def __init__(self, bot: BotParts, log: logging.Logger) -> None:
        self.bot = bot
        #: The bot's own log, where operators look for what went wrong with an event.
        self.log = log
        # Strong references: the event loop only keeps weak ones to running tasks.
        self._tasks: set[asyncio.Task[None]] = set()
        self._room_locks: dict[str, asyncio.Lock] = {}
        #: Set by :meth:`finish`: events still waiting for their room are left for the next start.
        self._stopping = False
        self._routes: list[tuple[type | tuple[type, ...], Handler]] = [
            (RoomMessageText, self._on_message),
            ((RoomMessageImage, RoomEncryptedImage), self._on_image),
            ((RoomMessageFile, RoomEncryptedFile), self._on_file),
            (MegolmEvent, self._on_undecryptable),
            (ReactionEvent, self._on_reaction),
            (RedactionEvent, self._on_redaction),
        ]

    async def finish(self, grace: float) -> None:
        """Lets the events in hand finish (at most ``grace`` seconds); those not started are left alone."""
        self._stopping = True
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    def invite_later(self, room_id: str, inviter: str | None) -> None:
        """An invitation that arrived before the callbacks existed (the first sync)."""
        self._spawn(self.consider_invite(room_id, inviter), f"invite {room_id}")

    def dispatch(self, room: MatrixRoom, events: list[Event]) -> list[asyncio.Task[None]]:
        started = []
        for event in events:
            for kind, handler in self._routes:
                if isinstance(event, kind):
                    if (task := handler(room, event)) is not None:
                        started.append(task)
                    break
        return started

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- routes (they only sort and dispatch, so that the sync loop is never held up) ------------------

    def _on_message(self, room: MatrixRoom, event: RoomMessageText) -> asyncio.Task[None] | None:
        content = event.source.get("content", {})
        if event.sender == self.bot.user_id or content.get("msgtype") != "m.text":
            return None
        text = strip_reply_fallback(str(event.body)).strip()
        if text.startswith(self.bot.settings.command_prefix):
            # A pill leaves only a display name in the plain body: commands are given the Matrix id.
            text = command_text(text, content, functools.partial(_display_name, room))
        if secrets.looks_like_secret(text, self.bot.settings.command_prefix):
            # Edits too: a secret added by an edit is as exposed as one in a new message.
            work = self._guard(room, str(event.event_id), str(event.sender), text)
            return self._spawn(work, f"guard {event.event_id}")
        if content.get("m.relates_to", {}).get("rel_type") == "m.replace":
            return None  # an edit: the original was already handled
        if not text.startswith(self.bot.settings.command_prefix):
            return None
        work = self._handle(room.room_id, str(event.event_id), str(event.sender), text)
        return self._spawn(work, f"command {event.event_id}")

    def _on_image(self, room: MatrixRoom, event: RoomMessageImage | RoomEncryptedImage) -> asyncio.Task[None] | None:
        return self._on_attachment(room, event, image_bytes, self.bot.card_images.posted, "image")

    def _on_file(self, room: MatrixRoom, event: RoomMessageFile | RoomEncryptedFile) -> asyncio.Task[None] | None:
        return self._on_attachment(room, event, file_of, self.bot.town_imports.file_posted, "file")

    def _on_attachment(
        self,
        room: MatrixRoom,
        event: Any,
        read: Callable[..., Awaitable[Any]],
        posted: Callable[..., Awaitable[None]],
        what: str,
    ) -> asyncio.Task[None] | None:
        """An image or a file posted in reply to one of the bot's messages: handled once, read only if needed."""
        target = replied_to(event.source.get("content", {}))
        if event.sender == self.bot.user_id or target is None:
            return None
        fetch = functools.partial(read, self.bot.client, event)
        work = functools.partial(posted, room.room_id, str(event.event_id), str(event.sender), target, fetch)
        return self._spawn(self._once(room.room_id, str(event.event_id), work), f"{what} {event.event_id}")

    def _on_reaction(self, room: MatrixRoom, event: ReactionEvent) -> asyncio.Task[None] | None:
        if event.sender == self.bot.user_id or decision_of(event.key) is None:
            return None
        args = (room.room_id, str(event.event_id), str(event.sender), str(event.reacts_to), str(event.key))
        work = functools.partial(self.bot.reactions.reacted, *args)
        return self._spawn(self._decision(room.room_id, str(event.event_id), work), f"reaction {event.event_id}")

    def _on_redaction(self, room: MatrixRoom, event: RedactionEvent) -> asyncio.Task[None] | None:
        if event.sender == self.bot.user_id:
            return None
        args = (room.room_id, str(event.sender), str(event.redacts), str(event.event_id))
        work = functools.partial(self.bot.reactions.redacted, *args)
        return self._spawn(self._decision(room.room_id, str(event.event_id), work), f"redaction {event.event_id}")

    def _on_undecryptable(self, room: MatrixRoom, event: MegolmEvent) -> asyncio.Task[None] | None:
        self.log.warning(
            "Cannot decrypt event %s from %s in %s (session %s); asking for the key",
            event.event_id,
            event.sender,
            room.room_id,
            event.session_id,
        )
        self._spawn(self._request_key(event), f"key request {event.event_id}")
        return None

    async def on_invite(self, room: MatrixRoom, event: InviteMemberEvent) -> None:
        # The callback fires for every member event of the invite; only our own invitation matters.
        if event.state_key != self.bot.user_id or event.membership != "invite":
            return
        direct = bool(event.content.get("is_direct"))
        self._spawn(self.consider_invite(room.room_id, str(event.sender), direct), f"invite {room.room_id}")

    # -- work -----------------------------------------------------------------------------------------

    async def _once(self, room_id: str, event_id: str, work: Callable[[], Awaitable[None]]) -> None:
        """Runs ``work`` for an event seen for the first time, after the room's earlier events; never raises."""
        async with self._room_locks.setdefault(room_id, asyncio.Lock()):
            if self._stopping:
                return  # not started: handled at the next start
            try:
                if await self.bot.hub.first_time(event_id):
                    await work()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.log.exception("Handling event %s in %s failed", event_id, room_id)

    async def _decision(self, room_id: str, event_id: str, work: Callable[[], Awaitable[None]]) -> None:
        """Like :meth:`_once` for a sign-on decision, but the hub records the event in the same transaction as
        the decision it makes (so a crash can neither lose it nor count it twice); marked here otherwise."""
        async with self._room_locks.setdefault(room_id, asyncio.Lock()):
            if self._stopping:
                return
            try:
                if not await self.bot.hub.seen(event_id):
                    await work()
                    await self.bot.hub.first_time(event_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.log.exception("Handling event %s in %s failed", event_id, room_id)

    async def _request_key(self, event: MegolmEvent) -> None:
        try:
            await self.bot.client.request_room_key(event)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.log.exception("Key request for event %s failed", event.event_id)

    async def consider_invite(self, room_id: str, inviter: str | None, direct: bool = False) -> None:
        """Joins rooms bound to a coalition, rooms an admin invites us to, and direct conversations with
        people who hold a role (officers link their accounts there); declines the others."""
        try:
            known = await self.bot.hub.coalitions.by_room(room_id) is not None
            admin = inviter in self.bot.hub.settings.admins
            if known or admin or (direct and inviter and await self._has_role(inviter)):
                joined = await self.bot.client.join(room_id)
                if not isinstance(joined, JoinResponse):
                    self.log.error("Could not join %s (invited by %s): %s", room_id, inviter, joined)
                return
            self.log.info("Declining the invite of %s to %s: not a coalition room, not an admin", inviter, room_id)
            left = await self.bot.client.room_leave(room_id)
            if not isinstance(left, RoomLeaveResponse):
                self.log.error("Could not decline the invite to %s: %s", room_id, left)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.log.exception("Failed to handle the invite of %s to %s", inviter, room_id)

    async def _has_role(self, user_id: str) -> bool:
        return (await self.bot.hub.whois(user_id)).holds_any_role

    async def _guard(self, room: MatrixRoom, event_id: str, sender: str, text: str) -> None:
        """A secret-looking message: a command in a private conversation, else redacted and its sender told."""
        prefix = self.bot.settings.command_prefix
        try:
            if await secrets.is_private(self.bot.hub, room, self.bot.user_id, sender):
                if text.startswith(prefix):
                    await self._handle(room.room_id, event_id, sender, text, private=True)
                return
            if not await self.bot.hub.first_time(event_id):
                return
            lang = await self.bot.preferences.language_in(sender, room.room_id)
            await secrets.protect(self.bot.client, self.bot, prefix, room.room_id, event_id, sender, lang)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.log.exception("Could not protect the secret-looking event %s in %s", event_id, room.room_id)

    async def _handle(self, room_id: str, event_id: str, sender: str, body: str, *, private: bool = False) -> None:
        """Runs a command once, after the room's earlier events, and queues its answer."""
        async with self._room_locks.setdefault(room_id, asyncio.Lock()):
            if self._stopping:
                return
            try:
                if not await self.bot.hub.first_time(event_id):
                    return
            except asyncio.CancelledError:
                raise
            except Exception:
                self.log.exception("Could not check event %s in %s", event_id, room_id)
                return
            try:
                reply = await self.bot.commands.answer(room_id, event_id, sender, body, private=private)
            except CommandFailed as failure:
                shown = secrets.masked(body, self.bot.settings.command_prefix)[:80]
                self.log.exception("Command %r from %s in %s (event %s) failed", shown, sender, room_id, event_id)
                reply = failure.apology()
            if reply is not None:
                await self._answer(room_id, event_id, sender, reply)

    async def _answer(self, room_id: str, event_id: str, sender: str, reply: Reply) -> None:
        """Keeps the answer in the hub, then queues it: a stop or a crash before it is sent does not lose it."""
        content = notice_content(reply, in_reply_to=event_id, also_mention=sender)
        tx_id = "unisson-answer-" + hashlib.sha256(event_id.encode()).hexdigest()[:32]
        try:
            self.deliver(await self.bot.hub.answers.keep(event_id, room_id, tx_id, content))
        except asyncio.CancelledError:
            raise
        except Exception:
            self.log.exception("Could not keep the answer to %s in %s; sending it anyway", event_id, room_id)
            self.bot.outbox.put_and_forget(functools.partial(self.bot.transmit, room_id, content, tx_id))
        if reply.queued is not None:
            reply.queued()

    def deliver(self, answer: PendingAnswer) -> None:
        async def job() -> None:
            await self.bot.transmit(answer.channel, answer.content, answer.transaction_id)
            await self.bot.hub.answers.delivered(answer.event_id)

        self.bot.outbox.put_and_forget(job)


def _display_name(room: MatrixRoom, user_id: str) -> str | None:
    user = room.users.get(user_id)
    return user.display_name if user is not None else None
