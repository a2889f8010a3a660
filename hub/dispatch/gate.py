"""Per remote host: how many requests run at once, and pacing from the rate-limit headers it sends.

Many towns share one Mastodon instance or one Bluesky PDS: the gate of a host lets at most ``concurrency``
requests run together, and when the host's last known window is used up (counting the requests started since
it was announced) new requests wait for the window's reset instead of running into 429s.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from urllib.parse import urlsplit

from hub.publishers.base import RateLimit

#: Requests wait a little past a window's reset, spread at random, so they do not all arrive at once.
RESET_SPREAD_SECONDS = 1.0


def host_of(server: str) -> str:
    """``https://mastodon.example:443/`` → ``mastodon.example:443``; the key of a host's gate."""
    return (urlsplit(server).netloc or server).lower()


class HostGate:
    def __init__(self, concurrency: int, clock: Callable[[], datetime]) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._clock = clock
        self._seen: RateLimit | None = None
        self._started_since = 0
        #: Waits for a window's reset, and the seconds spent in them, for the metrics.
        self.waits = 0
        self.waited = 0.0

    @asynccontextmanager
    async def slot(self, pace: Callable[[], RateLimit | None]) -> AsyncIterator[None]:
        """Holds one of the host's slots, after waiting for the host's window if it is used up."""
        async with self._slots:
            await self._pace(pace)
            yield

    async def _pace(self, pace: Callable[[], RateLimit | None]) -> None:
        while (wait := self._wait(pace())) > 0:
            self.waits += 1
            self.waited += wait
            await asyncio.sleep(wait)
        self._started_since += 1

    def _wait(self, state: RateLimit | None) -> float:
        if state is None:
            return 0.0
        if state is not self._seen:
            self._seen, self._started_since = state, 0
        if state.remaining - self._started_since > 0:
            return 0.0
        wait = (state.reset - self._clock()).total_seconds()
        if wait <= 0:
            self._seen, self._started_since = None, 0  # the window is over: the next answer says more
            return 0.0
        return wait + random.uniform(0, RESET_SPREAD_SECONDS)  # spreading arrivals, not secrecy


class Gates:
    """One :class:`HostGate` per host, made on first use."""

    def __init__(self, concurrency: int, clock: Callable[[], datetime]) -> None:
        self.concurrency = concurrency
        self.clock = clock
        self._gates: dict[str, HostGate] = {}
        #: By the server's URL as the accounts store it: asked once per post, parsed once per server.
        self._by_server: dict[str, HostGate] = {}

    def of(self, server: str) -> HostGate:
        gate = self._by_server.get(server)
        if gate is not None:
            return gate
        host = host_of(server)
        gate = self._gates.get(host)
        if gate is None:
            gate = self._gates[host] = HostGate(self.concurrency, self.clock)
        self._by_server[server] = gate
        return gate

    @property
    def waited(self) -> float:
        return sum(g.waited for g in self._gates.values())

    @property
    def waits(self) -> int:
        return sum(g.waits for g in self._gates.values())
