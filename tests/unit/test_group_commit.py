"""GroupCommit: values asked for together are written by one call, and each caller waits for its commit."""

from __future__ import annotations

import asyncio

import pytest

from hub.dispatch.gateway import GroupCommit


class Store:
    """Keeps the first value of each key, as the deliveries' remote keys are kept; records each write."""

    def __init__(self, known: set[int]) -> None:
        self.known = known
        self.rows: dict[int, str] = {}
        self.writes: list[dict[int, str]] = []

    async def write(self, batch: dict[int, str]) -> dict[int, str]:
        self.writes.append(dict(batch))
        await asyncio.sleep(0)
        for key, value in batch.items():
            if key in self.known:
                self.rows.setdefault(key, value)
        return {key: self.rows[key] for key in batch if key in self.rows}


async def test_values_asked_for_together_share_one_write_and_each_caller_gets_its_stored_value() -> None:
    store = Store(known={1, 2, 3})
    commit = GroupCommit(store.write, keep_first=True, name="keys")

    stored = await asyncio.gather(*(commit.store(key, f"k{key}") for key in (1, 2, 3)))

    assert stored == ["k1", "k2", "k3"]
    assert store.writes == [{1: "k1", 2: "k2", 3: "k3"}]


async def test_a_key_asked_for_twice_keeps_the_first_value_or_the_last_one() -> None:
    first, last = Store(known={1}), Store(known={1})
    keeping_first = GroupCommit(first.write, keep_first=True, name="keys")
    keeping_last = GroupCommit(last.write, keep_first=False, name="sessions")

    assert await asyncio.gather(keeping_first.store(1, "a"), keeping_first.store(1, "b")) == ["a", "a"]
    await asyncio.gather(keeping_last.store(1, "a"), keeping_last.store(1, "b"))

    assert first.writes == [{1: "a"}]
    assert last.writes == [{1: "b"}]


async def test_an_unknown_key_and_a_failed_write_raise_in_their_callers_only() -> None:
    store = Store(known={1})
    commit = GroupCommit(store.write, keep_first=True, name="keys")

    known, unknown = await asyncio.gather(commit.store(1, "a"), commit.store(9, "b"), return_exceptions=True)

    assert known == "a"
    assert isinstance(unknown, LookupError)

    async def failing(batch: dict[int, str]) -> dict[int, str]:
        raise ConnectionError("database down")

    broken = GroupCommit(failing, keep_first=True, name="keys")
    with pytest.raises(ConnectionError):
        await broken.store(1, "a")
    await broken.close()
