"""A unit of work cancelled mid-way on SQLite (a side task stopped with its worker, a timeout) leaves the database
free at once: the next unit, such as the stopping dispatcher's hand-back of its claims, begins without waiting for
the write lock (SQLite's busy timeout) and without "database is locked"."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event

from hub.store import Store

WORKER = "worker-a"
NOW = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
#: Far below SQLite's busy timeout (10 s): a unit that has to wait for a lock left behind does not begin in time.
PROMPTLY = 2.0

pytestmark = pytest.mark.parametrize("migrated_database_url", ["sqlite"], indirect=True)


class Gate:
    """Holds the next SQLite statement in the driver's thread, part-way through, until opened: the unit awaiting
    it can then be cancelled at that very await, deterministically."""

    def __init__(self) -> None:
        self._closed = threading.Event()
        self._reached = threading.Event()
        self._opened = threading.Event()

    def close(self) -> None:
        self._closed.set()

    async def reached(self) -> None:
        assert await asyncio.to_thread(self._reached.wait, 5), "the statement never reached the gate"

    def open(self) -> None:
        self._opened.set()

    def progress(self) -> int:
        """SQLite's progress handler (in the driver's thread): 0 lets the statement go on."""
        if self._closed.is_set():
            self._closed.clear()
            self._reached.set()
            self._opened.wait(5)
        return 0


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
async def store(migrated_database_url: str, gate: Gate) -> AsyncIterator[Store]:
    store = Store.from_url(migrated_database_url)

    def watch(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.run_async(lambda driver: driver.set_progress_handler(gate.progress, 1))

    event.listen(store.engine.sync_engine, "connect", watch)
    yield store
    await store.close()


async def _work(store: Store, gate: Gate, held: str) -> None:
    """A unit that writes (it holds the write lock from its BEGIN IMMEDIATE), its ``held`` step behind the gate."""
    async with store.unit() as uow:
        if held == "write":
            gate.close()
        await uow.workers.beat(WORKER, "host", 1, NOW)
        if held == "read":  # a row read, and the rest of the rows not fetched yet when cancelled
            gate.close()
        await uow.workers.alive(NOW)
        if held == "commit":
            gate.close()


async def _cancelled(store: Store, gate: Gate, held: str, cancels: int = 1) -> None:
    task = asyncio.create_task(_work(store, gate, held))
    await gate.reached()
    task.cancel()
    for _ in range(cancels - 1):  # once the first cancellation is taken, it waits for the connection's clean-up
        await asyncio.sleep(0.05)
        task.cancel()
    gate.open()
    with pytest.raises(asyncio.CancelledError):
        await task


async def _next_unit_writes(store: Store) -> list[str]:
    """Another unit that writes, begun as soon as the cancelled one is gone; returns the workers it found."""
    async with asyncio.timeout(PROMPTLY), store.unit() as uow:
        found = await uow.workers.alive(NOW)
        await uow.workers.remove(WORKER)
    return found


@pytest.mark.parametrize("held", ["read", "write"])
async def test_a_unit_cancelled_mid_statement_frees_the_database_and_writes_nothing(
    store: Store, gate: Gate, held: str
) -> None:
    await _cancelled(store, gate, held)

    assert await _next_unit_writes(store) == []  # rolled back


async def test_a_unit_cancelled_while_committing_frees_the_database(store: Store, gate: Gate) -> None:
    await _cancelled(store, gate, "commit")

    assert await _next_unit_writes(store) in ([], [WORKER])  # the commit was under way: done or not, no lock


async def test_a_unit_cancelled_again_during_its_clean_up_still_frees_the_database(store: Store, gate: Gate) -> None:
    await _cancelled(store, gate, "read", cancels=2)

    assert await _next_unit_writes(store) == []
