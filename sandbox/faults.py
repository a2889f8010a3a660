"""Fault injection shared by the sandbox's doubles (:mod:`sandbox.mastodon`, :mod:`sandbox.bluesky`).

A double mixes in :class:`FaultInjection`, which gives it ``double.inject(kind, count=, fraction=, on=,
seconds=, status=)``, ``double.clear_faults()`` and the list ``double.faults``. Every request goes through two
phases:

- before the handler, each matching ``latency`` fault delays it once (an unlimited one too), then the first
  other pre-commit fault answers instead of the handler: ``server_error`` (the double's own 5xx page),
  ``timeout`` (hold the request ``seconds``, then reset the connection) or ``rate_limit`` (the double's own
  429 and rate-limit headers);
- after a successful handler (status below 300), the first ``commit_then_*`` fault replaces the answer: a
  connection reset, a 502 (the double's own), or a hold then reset. What the handler did stays done;
- an ``answer_time`` fault holds each answer until ``seconds`` after its request arrived, the handler's work
  included: a server answering in that time with workers to spare, whose own CPU does not add to it (the
  benchmarks' servers). ``latency`` waits ``seconds`` and then works, so that requests arriving together are
  answered one after the other past it.

The double supplies its own answers (:meth:`FaultInjection._server_error`, :meth:`FaultInjection._rate_limited`)
and names the key a fault's ``on`` is compared with: Mastodon's route (``"POST /api/v1/statuses"``), Bluesky's
XRPC method (``"com.atproto.repo.createRecord"``).

A fixed latency on every answer costs one fault, not one per request:
``double.inject("latency", count=None, seconds=0.1)`` delays each request by 0.1 s, however many there are;
its ``fired`` counts the delayed requests. The benchmarks' ``double.inject("answer_time", count=None,
seconds=0.1)`` answers each request 0.1 s after it arrived.

:func:`reset_connection` is also what :mod:`sandbox.faultproxy` drops a connection with.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

FaultKind = Literal[
    "latency",
    "server_error",
    "timeout",
    "rate_limit",
    "commit_then_reset",
    "commit_then_502",
    "commit_then_timeout",
    "answer_time",
]
_PRE_COMMIT: frozenset[str] = frozenset({"latency", "server_error", "timeout", "rate_limit"})
_POST_COMMIT: frozenset[str] = frozenset({"commit_then_reset", "commit_then_502", "commit_then_timeout"})
#: Where a request keeps when it arrived (the loop's clock), for ``answer_time``.
_ARRIVED = web.RequestKey("arrived", float)


@dataclass
class Fault:
    """One injected fault; the double applies the first matching fault of each phase.

    ``count`` is how many more times it fires (None: no bound); each matching request is hit with
    probability ``fraction``; ``on`` restricts it to one key of the double (a Mastodon route such as
    :data:`sandbox.mastodon.CREATE_STATUS`, a Bluesky XRPC method such as :data:`sandbox.bluesky.CREATE_RECORD`
    or :data:`sandbox.bluesky.DID_DOCUMENT`), None to every request. ``seconds`` is the added delay of
    ``latency`` and how long a ``timeout`` holds the request before dropping the connection. ``status`` is the
    5xx of ``server_error``. The ``commit_then_*`` kinds let the request succeed on the server, then answer
    with a connection reset, a 502, or a hold-then-drop.
    """

    kind: FaultKind
    count: int | None = 1
    fraction: float = 1.0
    on: str | None = None
    seconds: float = 30.0
    status: int = 503
    fired: int = 0


def reset_connection(request: web.Request) -> None:
    """Close the client's connection with a TCP reset, as a crashed proxy would."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # SO_LINGER 0 turns the close into a reset.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class FaultInjection(ABC):
    """The faults of one double, switchable at run time; see the module docstring.

    ``seed`` seeds the random draws of the faults' ``fraction``; the double may draw its own random ids from
    the same ``_random``, so that one seed fixes both.
    """

    def __init__(self, seed: int | None = None) -> None:
        self.faults: list[Fault] = []
        self._random = random.Random(seed)
        # Set when the double stops, so that held requests end at once.
        self._closing = asyncio.Event()

    def inject(
        self,
        kind: FaultKind,
        *,
        count: int | None = 1,
        fraction: float = 1.0,
        on: str | None = None,
        seconds: float = 30.0,
        status: int = 503,
    ) -> Fault:
        """Add a fault (see :class:`Fault`) and return it; ``fault.fired`` counts its hits."""
        fault = Fault(kind, count, fraction, on, seconds, status)
        self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self.faults.clear()

    @abstractmethod
    def _server_error(self, status: int) -> web.Response:
        """The double's answer to a failing server: ``server_error`` and ``commit_then_502``."""

    @abstractmethod
    def _rate_limited(self, key: str) -> web.Response:
        """The double's 429 for a request to ``key``, with its rate-limit headers."""

    def _fire(self, key: str, kinds: Callable[[str], bool], spent: set[int] | None = None) -> Fault | None:
        """The first fault of ``kinds`` that applies to ``key``; one in ``spent`` (already applied) is skipped."""
        for fault in self.faults:
            if not kinds(fault.kind) or (fault.on is not None and fault.on != key):
                continue
            if (spent is not None and id(fault) in spent) or (fault.count is not None and fault.count <= 0):
                continue
            # No draw for a certain fault: a seeded double's other random values stay where they were.
            if fault.fraction < 1.0 and self._random.random() >= fault.fraction:
                continue
            if fault.count is not None:
                fault.count -= 1
            fault.fired += 1
            return fault
        return None

    async def _before(self, request: web.Request, key: str) -> web.StreamResponse | None:
        """Apply the latency faults, then give the answer of the first other pre-commit fault, if any."""
        request[_ARRIVED] = asyncio.get_running_loop().time()
        # Each latency fault delays a request once; an unlimited one (count None) must not loop forever.
        spent: set[int] = set()
        while (fault := self._fire(key, lambda kind: kind in _PRE_COMMIT, spent)) is not None:
            if fault.kind == "server_error":
                return self._server_error(fault.status)
            if fault.kind == "timeout":
                return await self._hold_then_drop(request, fault.seconds)
            if fault.kind == "rate_limit":
                return self._rate_limited(key)
            spent.add(id(fault))
            await asyncio.sleep(fault.seconds)
        return None

    async def _after(self, request: web.Request, key: str, response: web.StreamResponse) -> web.StreamResponse:
        """``response``, or what a ``commit_then_*`` fault answers instead once the handler has succeeded; held
        until its ``answer_time``, if one applies."""
        paced = self._fire(key, lambda kind: kind == "answer_time")
        if paced is not None:
            left = request[_ARRIVED] + paced.seconds - asyncio.get_running_loop().time()
            await asyncio.sleep(max(0.0, left))
        if response.status >= 300:
            return response
        fault = self._fire(key, lambda kind: kind in _POST_COMMIT)
        if fault is None:
            return response
        if fault.kind == "commit_then_502":
            return self._server_error(502)
        if fault.kind == "commit_then_timeout":
            return await self._hold_then_drop(request, fault.seconds)
        return _dropped(request)

    async def _hold_then_drop(self, request: web.Request, seconds: float) -> web.Response:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)
        return _dropped(request)

    @contextlib.asynccontextmanager
    async def _serving(self, app: web.Application, host: str, port: int) -> AsyncIterator[str]:
        """Serve ``app`` on ``host:port`` (0: a free port) and give its base URL; held requests end on exit."""
        self._closing = asyncio.Event()
        # Cancelling handlers when clients go away keeps held "timeout" requests from outliving tests.
        runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port, backlog=4096)
        await site.start()
        try:
            yield f"http://{host}:{runner.addresses[0][1]}"
        finally:
            self._closing.set()
            await runner.cleanup()


def _dropped(request: web.Request) -> web.Response:
    """Reset the connection; the returned response never reaches the client."""
    reset_connection(request)
    return web.Response(status=502)
