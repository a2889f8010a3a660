"""The Matrix side of the bot: log in, sync, accept invites, read commands, send replies.

Built on matrix-nio with end-to-end encryption. What keeps the bot from acting twice on one event:

* on the very first start, one sync with an empty timeline moves past the rooms' history *before* any
  callback is registered; nio then keeps the sync token in the store folder, so a restart resumes there;
* every command's event id goes through :meth:`Hub.first_time` before it is acted on, so an event that a
  sync delivers again (a crash before the token was saved, a restored store) is skipped.

Handlers run as tasks, one at a time per room (in arrival order); the sync loop only dispatches, and a
failure in one handler or one sync is logged without stopping the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from nio import (
    AsyncClient,
    AsyncClientConfig,
    InviteMemberEvent,
    JoinResponse,
    LocalProtocolError,
    LoginResponse,
    MatrixInvitedRoom,
    MatrixRoom,
    MegolmEvent,
    ReactionEvent,
    RedactionEvent,
    RoomEncryptedImage,
    RoomLeaveResponse,
    RoomMessageImage,
    RoomMessageText,
    RoomSendResponse,
    SyncError,
    SyncResponse,
    WhoamiResponse,
)

from bot import secrets
from bot.attachments import image_bytes, replied_image, replied_to
from bot.card import edit_content
from bot.commands import default_registry
from bot.context import Preferences, Request, audience_of, choose_language
from bot.images import CardImages
from bot.mentions import command_text
from bot.publication import PublicationReports
from bot.reactions import SignOnReactions, decision_of
from bot.registry import Command, Registry, UsageError
from bot.reminders import Reminders
from bot.render import Reply, notice_content
from bot.settings import BotSettings
from hub.domain.model import Coalition
from hub.errors import UnissonError
from hub.i18n import translate
from hub.services.context import Hub

log = logging.getLogger(__name__)

#: The first sync of a new store: room state and invites, but none of the rooms' past messages.
SKIP_HISTORY_FILTER = {"room": {"timeline": {"limit": 0}}}
SESSION_FILE = "session.json"
_SYNC_TIMEOUT_MS = 30_000
_RETRY_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)


class BotError(RuntimeError):
    """The homeserver refused something the bot cannot do without (log in, first sync, send)."""


@dataclass(frozen=True, slots=True)
class Session:
    """A login kept in the store folder, so that the device (and its encryption keys) survive restarts."""

    user_id: str
    device_id: str
    access_token: str = field(repr=False)


class Bot:
    """The Unisson bot on one Matrix account. Use as ``async with Bot(hub, settings) as bot: ...``."""

    def __init__(
        self,
        hub: Hub,
        settings: BotSettings,
        registry: Registry | None = None,
        preferences: Preferences | None = None,
    ) -> None:
        self.hub = hub
        self.settings = settings
        self.registry = registry or default_registry()
        self.preferences = preferences or Preferences(hub)
        self.client = AsyncClient(
            settings.homeserver,
            settings.user_id,
            store_path=str(settings.store_path),
            config=_client_config(settings),
        )
        # Strong references: the event loop only keeps weak ones to running tasks.
        self._tasks: set[asyncio.Task[None]] = set()
        self._room_locks: dict[str, asyncio.Lock] = {}
        self._sync_task: asyncio.Task[None] | None = None
        self._failures = 0
        self.reactions = SignOnReactions(hub, self, self.preferences, settings.command_prefix)
        self.card_images = CardImages(hub, self, self.preferences, settings.command_prefix)
        self.reminders = Reminders(hub, self.send, settings)
        self.publication = PublicationReports(hub, self, settings.command_prefix)
        #: Reminders and publication reports, running while the bot runs.
        self._background: list[asyncio.Task[None]] = []
        #: Set once a sync has told the client which rooms it is in (nio cannot send to a room before that).
        self._synced = asyncio.Event()

    @property
    def user_id(self) -> str:
        return str(self.client.user_id)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Logs in (or restores the saved session), skips old history on a first start, starts syncing."""
        secrets.silence_verbatim_logs()
        try:
            await asyncio.to_thread(_make_private_folder, self.settings.store_path)
            await self._log_in()
            if not self.client.loaded_sync_token:
                await self._skip_history()
        except BaseException:
            await self.client.close()
            raise
        self.client.add_event_callback(self._on_message, RoomMessageText)
        self.client.add_event_callback(self._on_image, (RoomMessageImage, RoomEncryptedImage))
        self.client.add_event_callback(self._on_invite, InviteMemberEvent)
        self.client.add_event_callback(self._on_undecryptable, MegolmEvent)
        self.client.add_event_callback(self._on_reaction, ReactionEvent)
        self.client.add_event_callback(self._on_redaction, RedactionEvent)
        self.client.add_response_callback(self._on_sync_response, (SyncResponse, SyncError))
        self._sync_task = asyncio.create_task(self._sync_loop(), name="matrix-sync")
        self._background = [
            asyncio.create_task(self.reminders.run(), name="reminders"),
            asyncio.create_task(self._report_publications(), name="publication-reports"),
        ]
        log.info("Matrix bot %s started (device %s)", self.user_id, self.client.device_id)

    async def stop(self, grace: float = 10.0) -> None:
        """Stops syncing, lets running handlers finish for up to ``grace`` seconds, then closes the client."""
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._background = []
        if self._sync_task is not None:
            self._sync_task.cancel()
            await asyncio.gather(self._sync_task, return_exceptions=True)
            self._sync_task = None
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        await self.client.close()

    async def send(
        self,
        room_id: str,
        reply: Reply,
        *,
        in_reply_to: str | None = None,
        to: str | None = None,
        tx_id: str | None = None,
    ) -> str:
        """Sends ``reply`` as an ``m.notice`` (a reply to ``in_reply_to``, mentioning ``to``); returns its id.

        A message sent again with the same ``tx_id`` is not posted twice: the homeserver answers with the first.
        """
        content = notice_content(reply, in_reply_to=in_reply_to, also_mention=to)
        return await self.send_content(room_id, content, tx_id=tx_id)

    async def edit(self, room_id: str, event_id: str, reply: Reply) -> str:
        """Replaces the text of the bot's message ``event_id`` with ``reply`` (``m.replace``); returns the edit's id."""
        return await self.send_content(room_id, edit_content(reply, event_id))

    async def replied_image(self, room_id: str, event_id: str) -> bytes:
        """The bytes of the image that message ``event_id`` replies to."""
        return await replied_image(self.client, room_id, event_id)

    async def send_content(self, room_id: str, content: dict[str, Any], *, tx_id: str | None = None) -> str:
        """Sends an ``m.room.message`` with ``content`` (encrypted where the room is); returns its id."""
        room = self.client.rooms.get(room_id)
        if room is not None and room.encrypted and self.client.should_query_keys:
            # A member's new device must be known before the room key is shared, or it cannot read the reply.
            with contextlib.suppress(LocalProtocolError):
                await self.client.keys_query()
        response = await self.client.room_send(
            room_id, "m.room.message", content, tx_id=tx_id, ignore_unverified_devices=True
        )
        if not isinstance(response, RoomSendResponse):
            raise BotError(f"could not send to {room_id}: {response}")
        return str(response.event_id)

    # -- start-up -------------------------------------------------------------------------------------------

    async def _log_in(self) -> None:
        token = self.settings.access_token.get_secret_value()
        if token:
            session = await self._whoami(token)
            if session is None:
                raise BotError("the homeserver refused UNISSON_MATRIX_ACCESS_TOKEN; check it is current")
        else:
            session = await self._saved_or_new_session()
        if session.user_id != self.settings.user_id:
            raise BotError(f"the credentials are those of {session.user_id}, not {self.settings.user_id}")
        # Loads the crypto store of this device from the store folder.
        self.client.restore_login(session.user_id, session.device_id, session.access_token)

    async def _whoami(self, token: str) -> Session | None:
        self.client.access_token = token
        response = await self.client.whoami()
        if not isinstance(response, WhoamiResponse) or not response.device_id:
            log.warning("whoami failed: %s", response)
            return None
        return Session(str(response.user_id), str(response.device_id), token)

    async def _saved_or_new_session(self) -> Session:
        path = self.settings.store_path / SESSION_FILE
        saved = await asyncio.to_thread(_read_session, path)
        if saved is not None and (current := await self._whoami(saved.access_token)) is not None:
            return current
        response = await self.client.login(
            self.settings.password.get_secret_value(), device_name=self.settings.device_name
        )
        if not isinstance(response, LoginResponse):
            raise BotError(f"could not log in as {self.settings.user_id}: {response}")
        session = Session(str(response.user_id), str(response.device_id), str(response.access_token))
        await asyncio.to_thread(_write_session, path, session)
        return session

    async def _skip_history(self) -> None:
        response = await self.client.sync(timeout=0, sync_filter=SKIP_HISTORY_FILTER, full_state=True)
        if not isinstance(response, SyncResponse):
            raise BotError(f"the first sync failed: {response}")
        # Invites that were waiting came with that sync, before the callbacks existed.
        for room_id, room in list(self.client.invited_rooms.items()):
            self._spawn(self._consider_invite(room_id, room.inviter), f"invite {room_id}")

    # -- sync loop --------------------------------------------------------------------------------------

    async def _sync_loop(self) -> None:
        while True:
            try:
                # nio keeps no room state across restarts: the first sync asks for all of it (which rooms are
                # encrypted, who is in them), with the timeline still starting at the saved token.
                await self.client.sync_forever(timeout=_SYNC_TIMEOUT_MS, full_state=True)
            except asyncio.CancelledError:
                raise
            except Exception:
                # nio lets a failing sync step escape; the bot must keep listening.
                delay = self._next_delay()
                log.exception("Matrix sync failed; retrying in %s s", delay)
                await asyncio.sleep(delay)

    async def _on_sync_response(self, response: SyncResponse | SyncError) -> None:
        """Runs inside nio's loop after each sync: backs off while the homeserver answers with errors."""
        if isinstance(response, SyncResponse):
            self._failures = 0
            self._synced.set()
            return
        delay = self._next_delay()
        log.warning("Matrix sync refused (%s); retrying in %s s", response, delay)
        await asyncio.sleep(delay)

    async def _report_publications(self) -> None:
        """Tells the rooms how publications go, from the first sync on (the rooms must be known to send)."""
        await self._synced.wait()
        await self.publication.run()

    def _next_delay(self) -> float:
        delay = _RETRY_SECONDS[min(self._failures, len(_RETRY_SECONDS) - 1)]
        self._failures += 1
        return delay

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- callbacks (they only sort and dispatch, so that the sync loop is never held up) -----------------

    async def _on_message(self, room: MatrixRoom, event: RoomMessageText) -> None:
        content = event.source.get("content", {})
        if event.sender == self.user_id or content.get("msgtype") != "m.text":
            return
        text = strip_reply_fallback(str(event.body)).strip()
        if text.startswith(self.settings.command_prefix):
            # A pill leaves only a display name in the plain body: commands are given the Matrix id.
            text = command_text(text, content, functools.partial(_display_name, room))
        if secrets.looks_like_secret(text, self.settings.command_prefix):
            # Edits too: a secret added by an edit is as exposed as one in a new message.
            self._spawn(self._guard(room, str(event.event_id), str(event.sender), text), f"guard {event.event_id}")
            return
        if content.get("m.relates_to", {}).get("rel_type") == "m.replace":
            return  # an edit: the original was already handled
        if not text.startswith(self.settings.command_prefix):
            return
        work = self._handle(room.room_id, str(event.event_id), str(event.sender), text)
        self._spawn(work, f"command {event.event_id}")

    async def _on_image(self, room: MatrixRoom, event: RoomMessageImage | RoomEncryptedImage) -> None:
        target = replied_to(event.source.get("content", {}))
        if event.sender == self.user_id or target is None:
            return
        fetch = functools.partial(image_bytes, self.client, event)
        args = (room.room_id, str(event.event_id), str(event.sender), target, fetch)
        work = functools.partial(self.card_images.posted, *args)
        self._spawn(self._once(room.room_id, str(event.event_id), work), f"image {event.event_id}")

    async def _on_reaction(self, room: MatrixRoom, event: ReactionEvent) -> None:
        if event.sender == self.user_id or decision_of(event.key) is None:
            return
        args = (room.room_id, str(event.event_id), str(event.sender), str(event.reacts_to), str(event.key))
        work = functools.partial(self.reactions.reacted, *args)
        self._spawn(self._once(room.room_id, str(event.event_id), work), f"reaction {event.event_id}")

    async def _on_redaction(self, room: MatrixRoom, event: RedactionEvent) -> None:
        if event.sender == self.user_id:
            return
        work = functools.partial(self.reactions.redacted, room.room_id, str(event.sender), str(event.redacts))
        self._spawn(self._once(room.room_id, str(event.event_id), work), f"redaction {event.event_id}")

    async def _once(self, room_id: str, event_id: str, work: Callable[[], Awaitable[None]]) -> None:
        """Runs ``work`` for an event seen for the first time, after the room's earlier events; never raises."""
        async with self._room_locks.setdefault(room_id, asyncio.Lock()):
            try:
                if await self.hub.first_time(event_id):
                    await work()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Handling event %s in %s failed", event_id, room_id)

    async def _on_invite(self, room: MatrixInvitedRoom, event: InviteMemberEvent) -> None:
        # The callback fires for every member event of the invite; only our own invitation matters.
        if event.state_key != self.user_id or event.membership != "invite":
            return
        direct = bool(event.content.get("is_direct"))
        self._spawn(self._consider_invite(room.room_id, str(event.sender), direct), f"invite {room.room_id}")

    async def _on_undecryptable(self, room: MatrixRoom, event: MegolmEvent) -> None:
        log.warning(
            "Cannot decrypt event %s from %s in %s (session %s); asking for the key",
            event.event_id,
            event.sender,
            room.room_id,
            event.session_id,
        )
        self._spawn(self._request_key(event), f"key request {event.event_id}")

    async def _request_key(self, event: MegolmEvent) -> None:
        try:
            await self.client.request_room_key(event)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Key request for event %s failed", event.event_id)

    # -- work -----------------------------------------------------------------------------------------

    async def _consider_invite(self, room_id: str, inviter: str | None, direct: bool = False) -> None:
        """Joins rooms bound to a coalition, rooms an admin invites us to, and direct conversations with
        people who hold a role (officers link their accounts there); declines the others."""
        try:
            known = await self.hub.coalitions.by_room(room_id) is not None
            if known or inviter in self.hub.settings.admins or (direct and inviter and await self._has_role(inviter)):
                joined = await self.client.join(room_id)
                if not isinstance(joined, JoinResponse):
                    log.error("Could not join %s (invited by %s): %s", room_id, inviter, joined)
                return
            log.info("Declining the invite of %s to %s: not a coalition room, not an admin", inviter, room_id)
            left = await self.client.room_leave(room_id)
            if not isinstance(left, RoomLeaveResponse):
                log.error("Could not decline the invite to %s: %s", room_id, left)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Failed to handle the invite of %s to %s", inviter, room_id)

    async def _has_role(self, user_id: str) -> bool:
        return (await self.hub.whois(user_id)).holds_any_role

    async def _guard(self, room: MatrixRoom, event_id: str, sender: str, text: str) -> None:
        """A secret-looking message: a command in a private conversation, else redacted and its sender told."""
        prefix = self.settings.command_prefix
        try:
            if await secrets.is_private(self.hub, room, self.user_id, sender):
                if text.startswith(prefix):
                    await self._handle(room.room_id, event_id, sender, text, private=True)
                return
            if not await self.hub.first_time(event_id):
                return
            lang = await self.preferences.language_in(sender, room.room_id)
            await secrets.protect(self, room.room_id, event_id, sender, lang)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Could not protect the secret-looking event %s in %s", event_id, room.room_id)

    async def _handle(self, room_id: str, event_id: str, sender: str, body: str, *, private: bool = False) -> None:
        lock = self._room_locks.setdefault(room_id, asyncio.Lock())
        async with lock:
            lang = self.hub.settings.default_language
            try:
                if not await self.hub.first_time(event_id):
                    return
                chosen = await self.preferences.language(sender)
                lang = chosen or lang
                coalition = await self.hub.coalitions.by_room(room_id)
                word, rest = split_command(body, self.settings.command_prefix)
                if not word:
                    return
                declared = self.registry.find(word)
                lang = choose_language(
                    chosen=chosen,
                    invoked=word,
                    command=declared,
                    room=coalition.language if coalition else None,
                    default=self.hub.settings.default_language,
                )
                if declared is None:
                    reply = self._unknown(word, lang)
                else:
                    where = Where(room_id, event_id, sender, coalition, lang, private)
                    reply = await self._execute(declared, rest, where)
            except asyncio.CancelledError:
                raise
            except Exception:
                shown = secrets.masked(body, self.settings.command_prefix)[:80]
                log.exception("Command %r from %s in %s (event %s) failed", shown, sender, room_id, event_id)
                reply = Reply.text(translate("bot.error.unexpected", lang))
            try:
                await self.send(room_id, reply, in_reply_to=event_id, to=sender)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Could not answer event %s in %s", event_id, room_id)

    async def _execute(self, declared: Command, rest: str, where: Where) -> Reply:
        """Parses the arguments and runs the handler; expected errors become replies in the user's language."""
        prefix = self.settings.command_prefix
        try:
            args = declared.parse(rest)
        except UsageError:
            return self.registry.usage_reply(declared, where.lang, prefix)
        actor = await self.hub.whois(where.sender)
        request = Request(
            hub=self.hub,
            registry=self.registry,
            preferences=self.preferences,
            sender=where.sender,
            room_id=where.room_id,
            event_id=where.event_id,
            coalition=where.coalition,
            lang=where.lang,
            prefix=prefix,
            audience=audience_of(actor, where.coalition),
            messenger=self,
            private=where.private,
        )
        try:
            return await declared.handler(request, args)
        except UnissonError as error:
            return Reply.text(error.message(where.lang))

    def _unknown(self, word: str, lang: str) -> Reply:
        prefix = self.settings.command_prefix
        helper = self.registry.find("aide")
        help_usage = prefix + (helper.shown_name(lang) if helper else "aide")
        suggestion = self.registry.suggest(word)
        if suggestion is None:
            return Reply.text(translate("bot.unknown", lang, name=prefix + word, help=help_usage))
        guess = prefix + suggestion.shown_name(lang)
        return Reply.text(translate("bot.unknown.suggest", lang, name=prefix + word, suggestion=guess, help=help_usage))


@dataclass(frozen=True, slots=True)
class Where:
    """The event a command came in, and the language chosen for the answer."""

    room_id: str
    event_id: str
    sender: str
    coalition: Coalition | None
    lang: str
    private: bool = False


def split_command(body: str, prefix: str) -> tuple[str, str]:
    """``"!aide  langue"`` → ``("aide", "langue")``; the rest keeps its inner spacing and line breaks."""
    parts = body.removeprefix(prefix).split(maxsplit=1)
    if not parts:
        return "", ""
    return parts[0], parts[1] if len(parts) > 1 else ""


def _display_name(room: MatrixRoom, user_id: str) -> str | None:
    user = room.users.get(user_id)
    return user.display_name if user is not None else None


def strip_reply_fallback(body: str) -> str:
    """The text of a message without the quoted ``> <@user> ...`` lines older clients put before a reply."""
    if not body.startswith("> "):
        return body
    lines = body.splitlines()
    while lines and lines[0].startswith(">"):
        lines.pop(0)
    return "\n".join(lines).lstrip("\n")


def _client_config(settings: BotSettings) -> AsyncClientConfig:
    options: dict[str, Any] = {"encryption_enabled": True, "store_sync_tokens": True}
    if passphrase := settings.store_passphrase.get_secret_value():
        options["pickle_key"] = passphrase
    return AsyncClientConfig(**options)


def _make_private_folder(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)


def _read_session(path: Path) -> Session | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Session(str(data["user_id"]), str(data["device_id"]), str(data["access_token"]))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        log.warning("Ignoring the unreadable session file %s", path)
        return None


def _write_session(path: Path, session: Session) -> None:
    # Created private from the start: the token must never be readable by others, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(
            {"user_id": session.user_id, "device_id": session.device_id, "access_token": session.access_token}, handle
        )
