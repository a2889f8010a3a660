"""The servers of the benchmarks: the Bluesky and the Mastodon doubles, each in a process of its own.

Two servers are two machines in life. In one process the doubles' single event loop would answer both
networks' waves of requests one after the other, and measure its own speed as much as the dispatcher's. Each
runs on uvloop, so that it takes as little as it can of the cores the dispatcher runs on.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Sequence
from multiprocessing.connection import Connection

from hub.cli import loop_factory
from sandbox.bluesky import BlueskyDouble
from sandbox.bluesky import RateLimits as bluesky_limits
from sandbox.fleet import open_accounts, username_of
from sandbox.mastodon import MastodonDouble
from sandbox.mastodon import RateLimits as mastodon_limits

BLUESKY, MASTODON = "bluesky", "mastodon"


class Doubles:
    """Starts the doubles (Bluesky's only if ``bluesky``), each town's accounts opened on them; every answer
    ``latency`` seconds after its request came (``answer_time``), and ``lost``: the share of answers lost after
    the post was made."""

    def __init__(self, codes: Sequence[str], latency: float, *, bluesky: bool = True, lost: float = 0.0) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipes: dict[str, Connection] = {}
        self._processes: dict[str, multiprocessing.process.BaseProcess] = {}
        for kind in (BLUESKY, MASTODON) if bluesky else (MASTODON,):
            ours, theirs = context.Pipe()
            process = context.Process(target=_serve, args=(kind, list(codes), latency, theirs, lost), daemon=True)
            process.start()
            self._pipes[kind], self._processes[kind] = ours, process
        self.urls: dict[str, str] = {kind: str(pipe.recv()) for kind, pipe in self._pipes.items()}

    @property
    def bluesky(self) -> str:
        return self.urls[BLUESKY]

    @property
    def mastodon(self) -> str:
        return self.urls[MASTODON]

    @property
    def pids(self) -> dict[str, int]:
        """The process of each double, by kind."""
        return {kind: process.pid for kind, process in self._processes.items() if process.pid is not None}

    def count(self) -> tuple[list[int], list[int]]:
        """Each town's posts on Bluesky (none if its double does not run) and on Mastodon, in ``codes`` order."""
        for pipe in self._pipes.values():
            pipe.send("count")
        counted = {kind: pipe.recv() for kind, pipe in self._pipes.items()}
        return counted.get(BLUESKY, []), counted[MASTODON]

    def stop(self) -> None:
        for pipe in self._pipes.values():
            pipe.send("stop")
        for process in self._processes.values():
            process.join(5)


def _serve(kind: str, codes: list[str], latency: float, conn: Connection, lost: float) -> None:
    with asyncio.Runner(loop_factory=loop_factory("uvloop")) as runner:
        runner.run(_serving(kind, codes, latency, conn, lost))


async def _serving(kind: str, codes: list[str], latency: float, conn: Connection, lost: float) -> None:
    # Rate limits off: the per-IP windows would count 1,600 towns' traffic from one test address.
    double: BlueskyDouble | MastodonDouble
    if kind == BLUESKY:
        double = BlueskyDouble(seed=1, rate_limits=bluesky_limits(enabled=False))
        dids = open_accounts(codes, bluesky=double)
    else:
        double = MastodonDouble(seed=1, rate_limits=mastodon_limits(enabled=False))
        open_accounts(codes, mastodon=double)
    # Each answer leaves `latency` after its request came, the double's own work included: a server with workers
    # to spare. Waiting first and working after, a single process would answer the 64 requests of a wave one
    # after the other past it, and the figures would measure its CPU as much as the dispatcher's.
    double.inject("answer_time", count=None, seconds=latency)
    if lost:
        double.inject("commit_then_reset", count=None, fraction=lost)
    async with double.serve() as url:
        conn.send(url)
        loop = asyncio.get_running_loop()
        while (command := await loop.run_in_executor(None, conn.recv)) != "stop":
            if command == "count" and isinstance(double, BlueskyDouble):
                conn.send([len(double.posts(dids[code])) for code in codes])
            elif command == "count" and isinstance(double, MastodonDouble):
                conn.send([len(double.statuses(username_of(code))) for code in codes])
