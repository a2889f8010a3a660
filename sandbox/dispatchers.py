"""Dispatcher processes for the crash tests and benchmarks: ``unisson run --role dispatcher``, started fast.

Each process runs the command as the operator's ``unisson`` does, but is forked from a server process that has
imported its code once (``multiprocessing``'s forkserver): it starts in a fraction of a second instead of the
second or two the imports take, which counts for a test that starts thirty of them. Everything after the
imports is the command's own (settings, connections, registration, the worker), and a ``kill -9`` is a real one:
the process dies with its connections and its posts under way.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
import os
import random
import signal
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from multiprocessing.process import BaseProcess
from pathlib import Path

from sandbox.process import log_tail

#: Seconds a dispatcher runs, once started, before it is killed (the same pattern in tests and benchmarks).
UPTIME = (0.2, 1.0)
#: How long a dispatcher may take to say it has started.
STARTUP_SECONDS = 30.0
#: What the forkserver imports: the command, and the modules it imports only once it runs (a module missing
#: here only makes each start slower: the atproto client alone takes a second).
PRELOAD = ["bot.cli", "hub.services.dispatch", "hub.publishers.bluesky", "hub.publishers.mastodon"]
#: Where the processes come from: the forkserver imports the command's code once, for all of them.
_FORKS = multiprocessing.get_context("forkserver")
_launches = itertools.count(1)


def _serve(env: Mapping[str, str], out: str, log: str) -> None:
    """The dispatcher process: its output to ``out`` (the first line says it started), its log to ``log``."""
    os.environ.update(env)
    for fd, path in ((1, out), (2, log)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.dup2(target, fd)
        os.close(target)
    from bot.cli import main

    main(["run", "--role", "dispatcher"], prog_name="unisson")


class DispatcherProcess:
    def __init__(self, process: BaseProcess, out: Path, log: Path) -> None:
        self.process = process
        self.out = out
        self.log = log
        #: When it said it had started.
        self.started_at: datetime | None = None

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.is_alive()

    def kill(self) -> None:
        """``kill -9``."""
        if self.process.is_alive():
            os.kill(self.pid, signal.SIGKILL)

    async def wait(self) -> int | None:
        """Waits for the process to end; returns its exit code (negative: the signal that ended it)."""
        loop = asyncio.get_running_loop()
        ended = asyncio.Event()
        loop.add_reader(self.process.sentinel, ended.set)  # readable once the process has ended
        try:
            if self.process.is_alive():
                await ended.wait()
        finally:
            loop.remove_reader(self.process.sentinel)
        self.process.join()
        return self.process.exitcode

    async def started(self) -> None:
        """Returns once the dispatcher says it has started (its first line); raises if it ends before."""
        while not (self.out.exists() and self.out.stat().st_size):
            if not self.process.is_alive():
                said = log_tail(self.log, 40) if self.log.exists() else "(nothing)"
                raise RuntimeError(f"the dispatcher did not start:\n{said}")
            await asyncio.sleep(0.02)
        self.started_at = datetime.now(UTC)


class Dispatchers:
    """Starts dispatcher processes with ``env`` (the ``UNISSON_*`` settings); they all log to ``log``."""

    def __init__(self, env: Mapping[str, str], log: Path) -> None:
        self.env = dict(env)
        self.log = log
        _FORKS.set_forkserver_preload(PRELOAD)  # read when the forkserver starts, with the first process

    async def start(self) -> DispatcherProcess:
        out = self.log.with_name(f"{self.log.stem}-{os.getpid()}-{next(_launches)}.out")
        process = _FORKS.Process(target=_serve, args=(self.env, str(out), str(self.log)), daemon=True)
        process.start()
        dispatcher = DispatcherProcess(process, out, self.log)
        try:
            async with asyncio.timeout(STARTUP_SECONDS):
                await dispatcher.started()
        except BaseException:
            dispatcher.kill()
            await dispatcher.wait()
            raise
        return dispatcher

    @contextlib.asynccontextmanager
    async def running(self, count: int = 1) -> AsyncIterator[list[DispatcherProcess]]:
        """``count`` dispatchers side by side, yielded once all have started; killed on exit if still running."""
        started: list[DispatcherProcess] = []
        try:
            for _ in range(count):
                started.append(await self.start())
            yield started
        finally:
            for dispatcher in started:
                dispatcher.kill()
            for dispatcher in started:
                await dispatcher.wait()

    async def crash(self, chance: random.Random, count: int = 1) -> None:
        """Starts ``count`` dispatchers and kills them all together (``kill -9``) after a random :data:`UPTIME`;
        returns once they are dead."""
        async with self.running(count) as dispatchers:
            await asyncio.sleep(chance.uniform(*UPTIME))
            for dispatcher in dispatchers:
                dispatcher.kill()
