"""A worker's side tasks: each at its own pace, a failed round retried, an unexpected end noticed."""

from __future__ import annotations

import asyncio
import logging

import pytest

from hub.dispatch.side_tasks import SideTasks, SideTaskStopped


class Fatal(BaseException):
    """Not an exception: no round can recover from it (as a bug in the loop itself would end it)."""


async def test_a_slow_side_task_does_not_delay_another() -> None:
    beats = 0

    async def beat() -> None:
        nonlocal beats
        beats += 1

    side = SideTasks(on_end=lambda: None)
    side.every("beat", lambda: 0.01, beat)
    side.every("slow", lambda: 0.01, lambda: asyncio.sleep(10))
    await asyncio.sleep(0.2)
    await side.stop()
    assert beats >= 10


@pytest.mark.parametrize(
    ("error", "logged"),
    [
        (RuntimeError("a bug"), ["flaky failed; trying again in 0.0 s"] * 2),
        # The database out of reach (restarting): said once, without a traceback, then that it is back.
        (
            ConnectionRefusedError(111, "refused"),
            [
                "flaky: database out of reach (ConnectionRefusedError: [Errno 111] refused); trying again every 0.0 s",
                "flaky: database back",
            ],
        ),
    ],
)
async def test_a_failed_round_is_logged_and_tried_again(
    caplog: pytest.LogCaptureFixture, error: Exception, logged: list[str]
) -> None:
    caplog.set_level(logging.INFO, logger="hub.dispatch.side_tasks")
    rounds = 0

    async def flaky() -> None:
        nonlocal rounds
        rounds += 1
        if rounds < 3:
            raise error

    side = SideTasks(on_end=lambda: None)
    side.every("flaky", lambda: 0.01, flaky)
    await asyncio.sleep(0.1)
    side.check()  # still running
    await side.stop()
    assert rounds > 3
    assert [r.message for r in caplog.records] == logged


async def test_a_side_task_that_ends_wakes_the_worker_and_stops_it() -> None:
    ended = asyncio.Event()

    async def broken() -> None:
        raise Fatal

    side = SideTasks(on_end=ended.set)
    side.every("broken", lambda: 0.01, broken)
    await asyncio.wait_for(ended.wait(), 1)
    with pytest.raises(SideTaskStopped) as stopped:
        side.check()
    assert stopped.value.params["task"] == "broken"


async def test_stopping_cancels_the_tasks_without_calling_it_an_unexpected_end() -> None:
    ended = asyncio.Event()
    side = SideTasks(on_end=ended.set)
    side.every("idle", lambda: 60, lambda: asyncio.sleep(0))
    await asyncio.sleep(0)
    await side.stop("idle")
    side.check()
    assert not ended.is_set()
