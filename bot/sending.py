"""The bot's one outbound queue: everything it says goes out through here, most urgent first.

A homeserver limits how fast a bot may send (Synapse by default: a burst of 10, then one message every five
seconds). Under that limit the order matters more than the speed, so every send is a job with a priority:

* :attr:`Priority.REPLY` — answers to people, warnings, mentions: first;
* :attr:`Priority.REPORT` — publication reports and their progress messages;
* :attr:`Priority.CARD` — announcement cards kept current: last, and *coalesced*: a card touched a hundred
  times while an edit waits is edited once, with the state of the moment the edit is sent, and never more
  often than once every ``card_interval`` seconds (the last change always gets its edit).

Handlers put jobs in the queue and go on: recording a sign-on never waits for a message to be sent. One task
sends them, one at a time; matrix-nio honours ``M_LIMIT_EXCEEDED`` (it sleeps ``retry_after_ms`` and sends
again, with the same transaction id), and between two sends the most urgent job waiting goes next. A job that
fails for another reason is tried again after growing pauses, then given up and logged — except a card, which
is tried again at the longest pause until it goes through.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

#: Pauses (seconds) before a failed job is tried again; after the last one it is given up.
RETRY_PAUSES = (1.0, 3.0, 10.0, 30.0)

Job = Callable[[], Awaitable[object]]


class Priority(enum.IntEnum):
    REPLY = 0
    REPORT = 1
    CARD = 2


@dataclass(order=True)
class _Item:
    priority: int
    sequence: int
    ready_at: float = field(compare=False)
    job: Job = field(compare=False)
    key: Hashable | None = field(compare=False, default=None)
    attempts: int = field(compare=False, default=0)
    #: Set when the job is given up: whoever awaits it learns why.
    done: asyncio.Future[None] | None = field(compare=False, default=None)


class SendQueue:
    """Jobs waiting to be sent, and the task that sends them (:meth:`run`, started and stopped by the bot)."""

    def __init__(self, *, card_interval: float = 2.0) -> None:
        self.card_interval = card_interval
        self._waiting: list[_Item] = []
        self._pending: dict[Hashable, _Item] = {}
        self._last_run: dict[Hashable, float] = {}
        self._sequence = itertools.count()
        self._wake = asyncio.Event()
        self._busy = False
        #: Counts, for the benchmark and the metrics: jobs run per priority.
        self.sent: dict[Priority, int] = dict.fromkeys(Priority, 0)

    def put(self, job: Job, priority: Priority = Priority.REPLY) -> asyncio.Future[None]:
        """Queues ``job``; the returned future is done once it has run (or holds why it was given up)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._add(_Item(priority, next(self._sequence), 0.0, job, done=done))
        return done

    def put_and_forget(self, job: Job, priority: Priority = Priority.REPLY) -> None:
        """Queues ``job`` without waiting for it; if it is given up, the log says so."""
        self.put(job, priority).add_done_callback(_log_failure)

    def coalesce(self, key: Hashable, job: Job, priority: Priority = Priority.CARD) -> None:
        """Queues ``job`` under ``key`` unless one is already waiting (it will do the same, later and better).

        Two runs of one key are at least ``card_interval`` seconds apart.
        """
        if key in self._pending:
            return
        now = asyncio.get_running_loop().time()
        ready = max(now, self._last_run.get(key, -self.card_interval) + self.card_interval)
        item = _Item(priority, next(self._sequence), ready, job, key=key)
        self._pending[key] = item
        self._add(item)

    def is_waiting(self, key: Hashable) -> bool:
        """Whether a job of ``key`` is queued and not started yet."""
        return key in self._pending

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def drained(self, seconds: float) -> bool:
        """Waits until nothing is left to send (at most ``seconds``); False if some still wait."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while self._waiting or self._busy:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def run(self) -> None:
        """Sends jobs, most urgent ready one first, until cancelled."""
        while True:
            item = await self._next()
            self._busy = True
            try:
                await self._run(item)
            finally:
                self._busy = False

    def _add(self, item: _Item) -> None:
        self._waiting.append(item)
        self._wake.set()

    async def _next(self) -> _Item:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            ready = [i for i in self._waiting if i.ready_at <= now]
            if ready:
                item = min(ready)
                self._waiting.remove(item)
                if item.key is not None:
                    self._pending.pop(item.key, None)
                    self._last_run[item.key] = now
                return item
            self._wake.clear()
            soonest = min((i.ready_at for i in self._waiting), default=now + 60.0)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(soonest - now, 0.0)):
                    await self._wake.wait()

    async def _run(self, item: _Item) -> None:
        try:
            await item.job()
            if item.key is not None:
                # Counted from the end of the send (for a run queued meanwhile too): two edits reach the room
                # at least the interval apart.
                ended = self._last_run[item.key] = asyncio.get_running_loop().time()
                if (waiting := self._pending.get(item.key)) is not None:
                    waiting.ready_at = max(waiting.ready_at, ended + self.card_interval)
        except asyncio.CancelledError:
            if item.done is not None and not item.done.done():
                item.done.cancel()
            raise
        except Exception as error:
            self._retry_or_give_up(item, error)
            return
        self.sent[Priority(item.priority)] += 1
        if item.done is not None and not item.done.done():
            item.done.set_result(None)

    def _retry_or_give_up(self, item: _Item, error: Exception) -> None:
        # A coalesced job (a card) is never given up: the room needs it, and it shows the latest state.
        if item.attempts >= len(RETRY_PAUSES) and item.key is None:
            log.error("Gave up sending after %s attempts: %s", item.attempts + 1, error)
            if item.done is not None and not item.done.done():
                item.done.set_exception(error)
            return
        pause = RETRY_PAUSES[min(item.attempts, len(RETRY_PAUSES) - 1)]
        log.warning("Sending failed (%s); trying again in %s s", error, pause)
        item.attempts += 1
        item.ready_at = asyncio.get_running_loop().time() + pause
        if item.key is not None:
            if item.key in self._pending:
                return  # a newer run of the same key is already waiting: it does this one's work
            self._pending[item.key] = item
        self._add(item)


def _log_failure(done: asyncio.Future[None]) -> None:
    if not done.cancelled() and (error := done.exception()) is not None:
        log.error("A message could not be sent: %s", error)
