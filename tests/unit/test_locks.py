"""One lock per key, forgotten once nobody holds it."""

from __future__ import annotations

import asyncio

from hub.locks import KeyedLocks


async def test_holders_of_one_key_run_one_after_the_other_and_other_keys_do_not_wait() -> None:
    locks: KeyedLocks[int] = KeyedLocks()
    inside: list[int] = []
    overlaps: list[int] = []

    async def work(key: int) -> None:
        async with locks.hold(key):
            overlaps.append(inside.count(key))
            inside.append(key)
            await asyncio.sleep(0.01)
            inside.remove(key)

    await asyncio.gather(*(work(key) for key in (1, 1, 1, 2, 2)))
    assert overlaps == [0] * 5
    assert len(locks) == 0  # memory is bounded by the keys in use


async def test_a_failing_holder_releases_the_key() -> None:
    locks: KeyedLocks[str] = KeyedLocks()
    try:
        async with locks.hold("a"):
            raise RuntimeError
    except RuntimeError:
        pass
    async with asyncio.timeout(1), locks.hold("a"):
        assert len(locks) == 1
