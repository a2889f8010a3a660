"""Writes the outcomes of many concurrent attempts in few transactions (one per batch).

At the agreed minute thousands of posts end within seconds; one transaction each would make the database the
bottleneck (and SQLite has one writer). The writer gathers what is ready and writes it at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from hub.dispatch.outage import OutageLog
from hub.i18n import translate
from hub.store import Store, UnitOfWork
from hub.store.outbox import AttemptOutcome

log = logging.getLogger(__name__)

#: Wait before writing again after the database refused a batch.
RETRY_SECONDS = 1.0


class OutcomeWriter:
    def __init__(
        self,
        store: Store,
        worker_id: str,
        clock: Callable[[], datetime],
        batch: int = 500,
        gather: float = 0.25,
        on_retry: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.worker_id = worker_id
        self.clock = clock
        self.batch = batch
        #: Seconds the first outcome waits for others to share its transaction. A transaction costs the embedded
        #: database some 2 ms of CPU besides its rows (measured on 3,300 outcomes: 0.12 ms each in batches of 16,
        #: 0.05 in batches of 64, 0.03 of 256): at the instant (a thousand outcomes a second) 20 ms made a hundred
        #: transactions for 3,200 posts, 250 ms makes about fifteen. An outcome waiting here is a post made, not
        #: yet recorded: after a crash, its retry finds the post (see the publishers).
        self.gather = gather
        #: Called after a write that planned a retry.
        self.on_retry = on_retry
        self._next_retry: datetime | None = None
        self._queue: list[AttemptOutcome] = []
        #: The batch being written.
        self._writing: list[AttemptOutcome] = []
        self._ready = asyncio.Event()
        self._lock = asyncio.Lock()
        #: Set after each write, so the worker can look for more work.
        self.written = asyncio.Event()

    def add(self, outcome: AttemptOutcome) -> None:
        self._queue.append(outcome)
        self._ready.set()
        if outcome.retry_at is not None and (self._next_retry is None or outcome.retry_at < self._next_retry):
            self._next_retry = outcome.retry_at

    def take_next_retry(self) -> datetime | None:
        """The earliest retry among the outcomes written since the last call."""
        retry_at, self._next_retry = self._next_retry, None
        return retry_at

    @property
    def pending(self) -> int:
        return len(self._queue)

    def holding(self) -> set[int]:
        """The deliveries whose outcomes wait to be written or are being written."""
        return {o.delivery_id for o in (*self._writing, *self._queue)}

    async def run(self) -> None:
        """Writes batches as outcomes arrive, until cancelled (then :meth:`flush` writes the rest)."""
        outage = OutageLog("outbox-writer", log)
        while True:
            await self._ready.wait()
            await asyncio.sleep(self.gather)
            try:
                await self.flush()
            except Exception as error:
                # The outcomes are kept (see flush); a database that is down for a moment must not stop the writer.
                outage.failed(error, RETRY_SECONDS)
                await asyncio.sleep(RETRY_SECONDS)
            else:
                outage.succeeded()

    async def flush(self) -> None:
        async with self._lock:
            while self._queue:
                outcomes, self._queue = self._queue[: self.batch], self._queue[self.batch :]
                self._writing = outcomes
                try:
                    async with self.store.unit() as uow:
                        await uow.outbox.record(self.worker_id, outcomes, self.clock())
                        await _alert_broken_accounts(uow, outcomes)
                except Exception:
                    # Put them back: an outcome must not be lost to a passing database error.
                    self._queue = outcomes + self._queue
                    raise
                finally:
                    self._writing = []
            self._ready.clear()
            self.written.set()
            if self._next_retry is not None and self.on_retry is not None:
                self.on_retry()


async def _alert_broken_accounts(uow: UnitOfWork, outcomes: list[AttemptOutcome]) -> None:
    """A post failed because its account needs linking again: the account's officers are told at once (once)."""
    for outcome in outcomes:
        failure = outcome.failure
        if failure is None or not failure.reconnect:
            continue
        account_id = await uow.alerts.account_of_delivery(outcome.delivery_id)
        if account_id is not None:
            error = translate(failure.key, "fr", **failure.params)
            await uow.alerts.broke(account_id, error, {"key": failure.key, "params": dict(failure.params)})
