"""Reading the rooms without losing an event: the gaps of a sync filled in, the sync position saved with care.

A sync gives each room at most its timeline's ``limit`` events. When more happened since the previous sync —
a burst of reactions, or the time the bot was down — the timeline says ``limited`` and the events before it
are *not* delivered: :func:`fill_gap` fetches them with ``/messages``, from the timeline's ``prev_batch`` back
to the previous sync's position, so that the bot handles the gap, in order, before the newer events.

:class:`SyncPosition` keeps the position the next start resumes from. It moves past a sync only once every
event of that sync (and of the ones before) has been handled, so a stop or a crash with work still queued
loses nothing: those events come again at the next start, and the ones already handled are skipped by their
event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from nio import AsyncClient, Event, MessageDirection, RoomMemberEvent, RoomMessagesResponse

log = logging.getLogger(__name__)

TOKEN_FILE = "sync-token"
#: Events asked for per ``/messages`` call while filling a gap.
PAGE = 100
#: The most events a gap is filled with; older ones are reported in the log, not silently dropped.
MAX_GAP = 20_000
#: The room timeline of every sync after the first: large enough that a usual burst needs no gap filling.
SYNC_FILTER: dict[str, Any] = {"room": {"timeline": {"limit": 100}}}


class GapError(RuntimeError):
    """The homeserver would not give the events of a gap; the sync is tried again from the same position."""


async def fill_gap(client: AsyncClient, room_id: str, prev_batch: str, since: str) -> list[Event]:
    """The room's events between position ``since`` and the timeline's ``prev_batch``, oldest first."""
    events: list[Event] = []
    start = prev_batch
    while len(events) < MAX_GAP:
        response = await client.room_messages(
            room_id, start=start, end=since, direction=MessageDirection.back, limit=PAGE
        )
        if not isinstance(response, RoomMessagesResponse):
            raise GapError(f"could not read the events missed in {room_id}: {response}")
        events.extend(response.chunk)
        if not response.chunk or not response.end or response.end == start:
            break
        start = response.end
    else:
        log.error("More than %s events were missed in %s: the older ones are not handled", MAX_GAP, room_id)
    events.reverse()
    return events


def since_joined(events: Sequence[Event], user_id: str) -> list[Event]:
    """The events from the bot's own latest join on: what was said before it was in the room is not for it."""
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        if isinstance(event, RoomMemberEvent) and event.state_key == user_id and _joined_then(event):
            return list(events[index + 1 :])
    return list(events)


def _joined_then(event: RoomMemberEvent) -> bool:
    before = (event.prev_content or {}).get("membership")
    return event.membership == "join" and before != "join"


class SyncPosition:
    """The sync token saved in the store folder, never ahead of an event that was not handled."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / TOKEN_FILE
        #: Each sync's token with the work its events started, oldest first.
        self._syncs: deque[tuple[str, list[asyncio.Future[Any]]]] = deque()
        self._saved: str | None = None

    async def load(self) -> str | None:
        """The saved position, or None on a first start."""
        with contextlib.suppress(FileNotFoundError):
            self._saved = (await asyncio.to_thread(self.path.read_text, encoding="ascii")).strip() or None
        return self._saved

    def reached(self, token: str, work: Iterable[asyncio.Future[Any]]) -> None:
        """The events before ``token`` were all handed to ``work``."""
        self._syncs.append((token, list(work)))

    def _settled(self) -> str | None:
        """The newest token whose events are all handled (None when nothing moved since the last call)."""
        token = None
        while self._syncs and all(w.done() for w in self._syncs[0][1]):
            token = self._syncs.popleft()[0]
        return token

    async def save(self, token: str | None = None) -> None:
        """Saves ``token``, or else the newest settled one, if it moved."""
        token = token or self._settled()
        if token is None or token == self._saved:
            return
        await asyncio.to_thread(_write_atomically, self.path, token)
        self._saved = token


def _write_atomically(path: Path, token: str) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(token, encoding="ascii")
    temporary.replace(path)
