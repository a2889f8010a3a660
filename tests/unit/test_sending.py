"""The bot's outbound queue: most urgent first, card jobs coalesced and spaced, failures retried then given up."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator

import pytest

from bot import sending
from bot.sending import Priority, SendQueue


@contextlib.asynccontextmanager
async def running(queue: SendQueue) -> AsyncIterator[SendQueue]:
    task = asyncio.create_task(queue.run())
    try:
        yield queue
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def recorder(log: list[str], name: str, pause: float = 0.0) -> sending.Job:
    async def job() -> None:
        await asyncio.sleep(pause)
        log.append(name)

    return job


async def test_answers_overtake_card_edits_and_reports_waiting() -> None:
    order: list[str] = []
    queue = SendQueue(card_interval=0.0)
    gate = asyncio.Event()

    async def first() -> None:
        await gate.wait()
        order.append("first")

    queue.put(first)
    async with running(queue):
        await asyncio.sleep(0.01)  # "first" is being sent: the rest queue behind it
        queue.coalesce("card", recorder(order, "card"))
        report = queue.put(recorder(order, "report"), Priority.REPORT)
        answer = queue.put(recorder(order, "answer"))
        gate.set()
        await asyncio.gather(report, answer)
        assert await queue.drained(1.0)
    assert order == ["first", "answer", "report", "card"]


async def test_a_card_touched_many_times_is_edited_once_per_interval_and_last() -> None:
    runs: list[float] = []
    state = {"signed": 0}
    shown: list[int] = []
    queue = SendQueue(card_interval=0.2)
    loop = asyncio.get_running_loop()

    async def edit() -> None:
        runs.append(loop.time())
        shown.append(state["signed"])

    async with running(queue):
        for _ in range(30):
            state["signed"] += 1
            queue.coalesce(("card", 1), edit)
            await asyncio.sleep(0.02)
        assert await queue.drained(2.0)
    assert len(runs) <= 5, runs
    assert all(later - earlier >= 0.19 for earlier, later in itertools.pairwise(runs))
    assert shown[-1] == 30  # the last change always gets its edit


async def test_a_failing_job_is_tried_again_then_given_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sending, "RETRY_PAUSES", (0.01, 0.01))
    attempts = 0

    async def flaky() -> None:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise RuntimeError("502 Bad Gateway")

    async def broken() -> None:
        raise RuntimeError("403 Forbidden")

    queue = SendQueue()
    async with running(queue):
        await queue.put(flaky)
        with pytest.raises(RuntimeError, match="403"):
            await queue.put(broken)
    assert attempts == 3


async def test_drained_says_when_messages_are_still_waiting() -> None:
    queue = SendQueue()
    queue.put(recorder([], "slow", pause=1.0))
    async with running(queue):
        assert not await queue.drained(0.05)
        assert queue.waiting == 0  # it is being sent, not waiting


async def test_a_card_is_never_given_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sending, "RETRY_PAUSES", (0.01,))
    attempts = 0

    async def card() -> None:
        nonlocal attempts
        attempts += 1
        if attempts < 5:
            raise RuntimeError("502 Bad Gateway")

    queue = SendQueue(card_interval=0.0)
    async with running(queue):
        queue.coalesce(("card", 1), card)
        assert await queue.drained(2.0)
    assert attempts == 5


async def test_a_card_touched_while_its_edit_is_being_sent_waits_the_interval_after_that_edit() -> None:
    loop = asyncio.get_running_loop()
    ends: list[float] = []
    starts: list[float] = []
    queue = SendQueue(card_interval=0.2)

    async def slow_edit() -> None:
        starts.append(loop.time())
        await asyncio.sleep(0.15)  # the homeserver takes its time
        ends.append(loop.time())

    async with running(queue):
        queue.coalesce("card", slow_edit)
        await asyncio.sleep(0.05)
        queue.coalesce("card", slow_edit)  # touched while the first edit is on its way
        assert await queue.drained(2.0)
    assert len(starts) == 2
    assert starts[1] - ends[0] >= 0.19
