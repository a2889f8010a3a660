"""The Matrix side of the bot: the wiring of its parts around one matrix-nio client.

* :mod:`bot.session` logs in (or restores the saved device) so that encryption keys survive restarts;
* :mod:`bot.sync` fills the gaps of ``limited`` timelines and saves the sync position only past events that
  were handled, so neither a burst nor a restart loses an event;
* :mod:`bot.inbound` sorts each sync's events and handles them, one room at a time, in order;
* :mod:`bot.handling` turns a command into its answer;
* :mod:`bot.sending` is the one outbound queue (answers first, card edits coalesced, the homeserver's rate
  limit honoured) and :mod:`bot.card_keeper` keeps the cards current through it.

On the very first start, one sync with an empty timeline moves past the rooms' history; a failure in one
handler or one sync is logged without stopping the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from types import TracebackType
from typing import Any, Self

from nio import (
    AsyncClient,
    AsyncClientConfig,
    InviteMemberEvent,
    LocalProtocolError,
    RoomSendResponse,
    SyncError,
    SyncResponse,
)

from bot import secrets
from bot.account_alerts import AccountAlerts
from bot.attachments import read_message, replied_file, replied_image
from bot.card import CARD_WANTED, edit_content
from bot.card_keeper import CardKeeper
from bot.commands.families import default_registry
from bot.context import PostedFile, Preferences, TextMessage
from bot.direct import direct_room
from bot.handling import CommandRunner, split_command, strip_reply_fallback
from bot.images import CardImages
from bot.imports import TownImports
from bot.inbound import Inbound
from bot.invitations import NioHomeserver, Pace
from bot.publication import PublicationReports
from bot.reactions import SignOnReactions
from bot.registry import Registry
from bot.reminders import Reminders
from bot.render import Reply, notice_content
from bot.sending import Priority, SendQueue
from bot.session import SESSION_FILE, BotError, log_in, make_private_folder
from bot.settings import BotSettings
from bot.sync import SYNC_FILTER, SyncPosition, fill_gap, since_joined
from hub.core import Hub
from hub.domain.model import AnnouncementState, Coalition

__all__ = ["SESSION_FILE", "SKIP_HISTORY_FILTER", "Bot", "BotError", "split_command", "strip_reply_fallback"]

log = logging.getLogger(__name__)

#: The first sync of a new store: room state and invites, but none of the rooms' past messages.
SKIP_HISTORY_FILTER = {"room": {"timeline": {"limit": 0}}}
_SYNC_TIMEOUT_MS = 30_000
_RETRY_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)
#: Announcements whose card the room still needs.
CARD_STATES = (AnnouncementState.DRAFT, AnnouncementState.OPEN, AnnouncementState.LOCKED, AnnouncementState.OVERDUE)


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
        self.position = SyncPosition(settings.store_path)
        self.outbox = SendQueue(card_interval=settings.card_edit_seconds)
        self.cards = CardKeeper(hub, self.outbox, self.transmit, settings.command_prefix)
        self.commands = CommandRunner(hub, self.registry, self.preferences, self, settings.command_prefix)
        self._sync_task: asyncio.Task[None] | None = None
        self._sender_task: asyncio.Task[None] | None = None
        self._failures = 0
        #: The position the current sync started from: a gap is filled back to it.
        self._since: str | None = None
        self.reactions = SignOnReactions(hub, self, self.preferences, settings.command_prefix)
        self.card_images = CardImages(hub, self, self.preferences, settings.command_prefix)
        self.reminders = Reminders(hub, self.send, settings)
        self.account_alerts = AccountAlerts(
            hub, self.direct, self.preferences, settings.command_prefix, settings.alert_check_seconds
        )
        self.publication = PublicationReports(hub, self, settings.command_prefix)
        homeserver = NioHomeserver(self.client)
        pace = Pace(interval=settings.invite_seconds)
        self.town_imports = TownImports(hub, self, homeserver, self.preferences, settings.command_prefix, pace)
        #: Reminders and publication reports, running while the bot runs.
        self._background: list[asyncio.Task[None]] = []
        #: Set once a sync has told the client which rooms it is in (nio cannot send to a room before that).
        self._synced = asyncio.Event()
        self.inbound = Inbound(self, log)

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
            await asyncio.to_thread(make_private_folder, self.settings.store_path)
            await log_in(self.client, self.settings)
            self._since = await self.position.load() or self._token_of_older_versions()
            if not self._since:
                await self._skip_history()
        except BaseException:
            await self.client.close()
            raise
        self.client.add_event_callback(self.inbound.on_invite, InviteMemberEvent)
        self.client.add_response_callback(self._on_sync_response, (SyncResponse, SyncError))
        for answer in await self.hub.answers.pending():
            self.inbound.deliver(answer)  # kept by an earlier run, not delivered before it stopped
        self._sender_task = asyncio.create_task(self._send_once_synced(), name="matrix-send")
        self._sync_task = asyncio.create_task(self._sync_loop(), name="matrix-sync")
        self._background = [
            asyncio.create_task(self.reminders.run(), name="reminders"),
            asyncio.create_task(self.account_alerts.run(), name="account-alerts"),
            asyncio.create_task(self._report_publications(), name="publication-reports"),
        ]
        log.info("Matrix bot %s started (device %s)", self.user_id, self.client.device_id)

    async def stop(self, grace: float = 10.0) -> None:
        """Stops syncing, lets the events being handled finish (at most ``grace`` seconds each for them and
        for the messages waiting to be sent), saves the sync position, then closes the client.

        Events that had not started are left unhandled: the saved position is before them, so the next start
        handles them.
        """
        await self.town_imports.close()
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._background = []
        if self._sync_task is not None:
            self._sync_task.cancel()
            await asyncio.gather(self._sync_task, return_exceptions=True)
            self._sync_task = None
        await self.inbound.finish(grace)
        await self.position.save()
        if not await self.outbox.drained(grace):
            log.warning("Stopping with %s messages not sent", self.outbox.waiting)
        if self._sender_task is not None:
            self._sender_task.cancel()
            await asyncio.gather(self._sender_task, return_exceptions=True)
            self._sender_task = None
        await self.client.close()

    # -- what handlers may do (the Messenger of bot.context) -------------------------------------------

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

    def post(self, room_id: str, reply: Reply, *, in_reply_to: str | None = None, to: str | None = None) -> None:
        """Queues ``reply`` to be sent as soon as the homeserver allows, without waiting for it."""
        content = notice_content(reply, in_reply_to=in_reply_to, also_mention=to)
        job = functools.partial(self.transmit, room_id, content, _new_tx())
        self.outbox.put_and_forget(job)

    async def edit(self, room_id: str, event_id: str, reply: Reply) -> str:
        """Replaces the text of the bot's message ``event_id`` with ``reply`` (``m.replace``); returns the edit's id."""
        return await self.send_content(room_id, edit_content(reply, event_id), priority=Priority.REPORT)

    async def direct(self, user_id: str, reply: Reply) -> str:
        """Sends ``reply`` to ``user_id`` alone, in a direct conversation with the bot (opened if need be)."""
        return await self.send(await direct_room(self.client, self.hub, user_id), reply)

    async def cards_changed(self, announcement_id: int) -> None:
        """The announcement changed: its cards are brought up to date (posted if it has none) by the queue."""
        await self.cards.touch(announcement_id)

    async def replied_image(self, room_id: str, event_id: str) -> bytes:
        """The bytes of the image that message ``event_id`` replies to."""
        return await replied_image(self.client, room_id, event_id)

    # -- town imports: files and invitations (bot/imports.py) --

    async def replied_file(self, room_id: str, event_id: str, max_bytes: int) -> PostedFile | None:
        """The file that message ``event_id`` replies to; None if it replies to nothing."""
        return await replied_file(self.client, room_id, event_id, max_bytes)

    async def read_message(self, room_id: str, event_id: str) -> TextMessage | None:
        """Message ``event_id`` if it is a text or a notice."""
        return await read_message(self.client, room_id, event_id)

    async def invite_officers(self, sender: str, coalition: Coalition, room_id: str, reply_to: str, lang: str) -> Reply:
        """Starts inviting the coalition's officers missing from its room, in the background."""
        return await self.town_imports.invite(sender, coalition, room_id, reply_to, lang)

    async def send_content(
        self, room_id: str, content: dict[str, Any], *, tx_id: str | None = None, priority: Priority = Priority.REPLY
    ) -> str:
        """Sends an ``m.room.message`` with ``content`` through the queue; returns its id once sent."""
        sent: list[str] = []
        tx = tx_id or _new_tx()

        async def job() -> None:
            sent.append(await self.transmit(room_id, content, tx))

        await self.outbox.put(job, priority)
        return sent[-1]

    async def transmit(self, room_id: str, content: dict[str, Any], tx_id: str) -> str:
        """Sends an ``m.room.message`` now (encrypted where the room is); returns its id.

        matrix-nio waits out ``M_LIMIT_EXCEEDED`` itself and sends again with the same transaction id.
        """
        room = self.client.rooms.get(room_id)
        if room is not None and room.encrypted and self.client.should_query_keys:
            # A member's new device must be known before the room key is shared, or it cannot read the message.
            with contextlib.suppress(LocalProtocolError):
                await self.client.keys_query()
        response = await self.client.room_send(
            room_id, "m.room.message", content, tx_id=tx_id, ignore_unverified_devices=True
        )
        if not isinstance(response, RoomSendResponse):
            raise BotError(f"could not send to {room_id}: {response}")
        return str(response.event_id)

    # -- start-up -------------------------------------------------------------------------------------------

    def _token_of_older_versions(self) -> str | None:
        """The sync position that versions before :mod:`bot.sync` kept in nio's store, read once."""
        store = self.client.store
        return None if store is None else store.load_sync_token()

    async def _skip_history(self) -> None:
        response = await self.client.sync(timeout=0, sync_filter=SKIP_HISTORY_FILTER, full_state=True)
        if not isinstance(response, SyncResponse):
            raise BotError(f"the first sync failed: {response}")
        self._since = response.next_batch
        await self.position.save(response.next_batch)
        # Invites that were waiting came with that sync, before the callbacks existed.
        for room_id, room in list(self.client.invited_rooms.items()):
            self.inbound.invite_later(room_id, room.inviter)

    # -- sync loop --------------------------------------------------------------------------------------

    async def _sync_loop(self) -> None:
        while True:
            try:
                # nio keeps no room state across restarts: the first sync asks for all of it (which rooms are
                # encrypted, who is in them), with the timeline still starting at the saved position. After a
                # failure, the sync starts again from the last position whose events were all dispatched.
                await self.client.sync_forever(
                    timeout=_SYNC_TIMEOUT_MS, sync_filter=SYNC_FILTER, since=self._since, full_state=True
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                # nio lets a failing sync step escape; the bot must keep listening.
                delay = self._next_delay()
                log.exception("Matrix sync failed; retrying in %s s", delay)
                await asyncio.sleep(delay)

    async def _on_sync_response(self, response: SyncResponse | SyncError) -> None:
        """Runs inside nio's loop after each sync: dispatches every room's events, the gaps filled first."""
        if not isinstance(response, SyncResponse):
            delay = self._next_delay()
            log.warning("Matrix sync refused (%s); retrying in %s s", response, delay)
            await asyncio.sleep(delay)
            return
        work: list[asyncio.Task[None]] = []
        for room_id, info in response.rooms.join.items():
            room = self.client.rooms.get(room_id)
            if room is None:
                continue
            events = list(info.timeline.events)
            if info.timeline.limited and self._since and info.timeline.prev_batch:
                events = await fill_gap(self.client, room_id, info.timeline.prev_batch, self._since) + events
            work += self.inbound.dispatch(room, since_joined(events, self.user_id))
        self.position.reached(response.next_batch, work)
        self._since = response.next_batch
        await self.position.save()
        self._failures = 0
        self._synced.set()

    async def _send_once_synced(self) -> None:
        """Runs the outbound queue once the first sync has told the client which rooms it is in."""
        await self._synced.wait()
        await self.outbox.run()

    async def _report_publications(self) -> None:
        """Tells the rooms how publications go, from the first sync on (the rooms must be known to send)."""
        await self._synced.wait()
        await self._post_missing_cards()
        await self.publication.run()

    async def _post_missing_cards(self) -> None:
        """An announcement proposed here whose card was not posted before a stop (the homeserver kept refusing
        it) gets it now: a proposal is never left without its card."""
        try:
            for announcement in await self.hub.announcements.list(states=CARD_STATES):
                if await self.hub.announcements.messages(announcement.id, CARD_WANTED):
                    await self.cards.touch(announcement.id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Could not look for announcements without a card")

    def _next_delay(self) -> float:
        delay = _RETRY_SECONDS[min(self._failures, len(_RETRY_SECONDS) - 1)]
        self._failures += 1
        return delay


def _new_tx() -> str:
    return f"unisson-{uuid.uuid4().hex}"


def _client_config(settings: BotSettings) -> AsyncClientConfig:
    # The sync position is kept by bot.sync, which saves it only past events that were handled.
    options: dict[str, Any] = {"encryption_enabled": True, "store_sync_tokens": False}
    if passphrase := settings.store_passphrase.get_secret_value():
        options["pickle_key"] = passphrase
    return AsyncClientConfig(**options)
