"""A worker's side work (heartbeat, recovery of dead workers' claims, pre-flight), each in its own loop.

Each side task repeats its work at its own period, apart from the claiming loop and from one another, so that a
slow one (a pre-flight of thousands of accounts takes about a minute) never delays the others: a worker whose
heartbeat waited behind its pre-flight would be taken for dead, and another worker would take back its claims
and its leadership while it still works.

A failure of one round is logged and the round is tried again at the next period (a database out of reach for a
while thus stops no side task); cancellation (the worker
stopping) always goes through. The tasks are kept here (strong references, so none is collected mid-way) and
stopped within a bound.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from hub.dispatch.outage import OutageLog
from hub.errors import UnissonError

log = logging.getLogger(__name__)

#: How long a side task is given to end once cancelled, before the worker stops waiting for it.
STOP_SECONDS = 5.0


class SideTaskStopped(UnissonError):
    key = "error.dispatch.side_task_stopped"


class SideTasks:
    """The side tasks of one worker; ``on_end`` is called when one ends on its own (see :meth:`check`)."""

    def __init__(self, on_end: Callable[[], None]) -> None:
        self._on_end = on_end
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._ended: list[asyncio.Task[None]] = []

    def every(self, name: str, period: Callable[[], float], work: Callable[[], Awaitable[None]]) -> None:
        """Runs ``work`` now, then ``period()`` seconds after each round begins (at once if a round took longer)."""
        task = asyncio.create_task(_repeat(name, period, work), name=name)
        self._tasks[name] = task
        task.add_done_callback(self._end)

    def check(self) -> None:
        """Raises if a side task ended while it should still be running.

        The loops already log and retry every error of a round, so a task that ends anyway met a bug or an error
        that is not an exception. We stop the worker rather than restart the task: a worker without heartbeat
        must not keep claiming (its claims would be handed to another worker while it still posts them), and a
        restarted task would likely meet the same bug again, quietly. Stopping with an error leaves the restart
        to the process supervisor, from a clean state, and shows the operator what happened.
        """
        if not self._ended:
            return
        task = self._ended[0]
        error = None if task.cancelled() else task.exception()
        raise SideTaskStopped(task=task.get_name(), detail=repr(error) if error else "-") from error

    async def stop(self, *names: str) -> None:
        """Cancels the named side tasks (all if none is named) and waits for them, at most :data:`STOP_SECONDS`."""
        tasks = [self._tasks.pop(n) for n in names or list(self._tasks) if n in self._tasks]
        for task in tasks:
            task.remove_done_callback(self._end)
            task.cancel()
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=STOP_SECONDS)
        for task in late:
            log.warning("side task %s did not stop within %.0f s", task.get_name(), STOP_SECONDS)

    def _end(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task.get_name(), None)
        self._ended.append(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("side task %s stopped: the worker stops", task.get_name(), exc_info=error)
        else:
            log.error("side task %s ended unexpectedly: the worker stops", task.get_name())
        self._on_end()


async def _repeat(name: str, period: Callable[[], float], work: Callable[[], Awaitable[None]]) -> None:
    loop = asyncio.get_running_loop()
    outage = OutageLog(name, log)
    while True:
        began = loop.time()
        # Only exceptions: CancelledError (a BaseException) ends the loop, as the worker asked.
        try:
            await work()
        except Exception as error:
            outage.failed(error, period())
        else:
            outage.succeeded()
        await asyncio.sleep(max(0.0, began + period() - loop.time()))
