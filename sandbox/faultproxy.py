"""A fault-injecting HTTP proxy on loopback, to test how clients behave when a server misbehaves.

It forwards every request to ``upstream`` and counts the XRPC methods it sees. Per method it can:

- ``drop_after_forward``: forward the request, let the server commit it, then reset the client's connection
  instead of answering (the classic "did my post go through?" case);
- ``force``: answer with a chosen status, body and headers without forwarding;
- ``transform``: rewrite the JSON answer (e.g. remove a field).

``latency`` delays every answer. ``rewrite`` replaces strings in JSON answers, typically the upstream's own
public URL by the proxy's, so that clients that follow the server's directions keep going through the proxy::

    async with FaultProxy(pds.url) as proxy:
        proxy.drop_after_forward["com.atproto.repo.createRecord"] = 1
        ...  # point the client at proxy.url
        assert proxy.calls["com.atproto.repo.createRecord"] == 2
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp import web

from sandbox.faults import reset_connection

# Hop-by-hop headers and those aiohttp recomputes itself; forwarding them would corrupt the exchange.
_SKIPPED_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "content-encoding", "keep-alive"}
# Left for ever (or until reset) when no count is given.
FOREVER = -1


@dataclass
class Forced:
    """A canned answer given instead of forwarding the request."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    times: int = FOREVER


class FaultProxy:
    """An aiohttp server on 127.0.0.1 that forwards to ``upstream`` and injects the faults it is told to."""

    def __init__(self, upstream: str, *, rewrite: dict[str, str] | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.rewrite = dict(rewrite or {})
        #: Requests received per XRPC method (or per path outside ``/xrpc/``), faulty or not.
        self.calls: Counter[str] = Counter()
        #: Method → how many more requests to forward and then answer with a connection reset (-1: always).
        self.drop_after_forward: dict[str, int] = {}
        #: Method → canned answer.
        self.force: dict[str, Forced] = {}
        #: Method → function applied to the upstream's JSON answer before it is sent on.
        self.transform: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}
        #: Seconds to wait before answering each request.
        self.latency = 0.0
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> FaultProxy:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Listen on a free loopback port; :attr:`url` is then set."""
        self._http = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def stop(self) -> None:
        """Stop listening and close the upstream connections."""
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()

    def reset_faults(self) -> None:
        """Forget every injected fault (the counts stay)."""
        self.drop_after_forward.clear()
        self.force.clear()
        self.transform.clear()
        self.latency = 0.0

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = _method_of(request.path)
        self.calls[method] += 1
        if self.latency:
            await asyncio.sleep(self.latency)
        if (forced := self._take(self.force, method)) is not None:
            return web.json_response(forced.body, status=forced.status, headers=forced.headers)
        status, headers, body = await self._forward(request)
        if self._take_drop(method):
            reset_connection(request)
            # Nothing reaches the client: its connection is already gone.
            return web.Response(status=status)
        body = self._rewrite(method, status, headers, body)
        return web.Response(status=status, headers=headers, body=body)

    def _take(self, table: dict[str, Forced], method: str) -> Forced | None:
        forced = table.get(method)
        if forced is None:
            return None
        if forced.times > 0:
            forced.times -= 1
            if forced.times == 0:
                del table[method]
        return forced

    def _take_drop(self, method: str) -> bool:
        left = self.drop_after_forward.get(method)
        if not left:
            return False
        if left > 0:
            self.drop_after_forward[method] = left - 1
            if left == 1:
                del self.drop_after_forward[method]
        return True

    async def _forward(self, request: web.Request) -> tuple[int, dict[str, str], bytes]:
        assert self._http is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _SKIPPED_HEADERS}
        async with self._http.request(
            request.method,
            self.upstream + request.path_qs,
            headers=headers,
            data=await request.read(),
            allow_redirects=False,
        ) as answer:
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in _SKIPPED_HEADERS}
            return answer.status, kept, await answer.read()

    def _rewrite(self, method: str, status: int, headers: dict[str, str], body: bytes) -> bytes:
        if "json" not in headers.get("Content-Type", headers.get("content-type", "")):
            return body
        transform = self.transform.get(method)
        if transform is not None and status == 200:
            body = json.dumps(transform(json.loads(body))).encode()
        for old, new in self.rewrite.items():
            body = body.replace(old.encode(), new.encode())
        return body


def _method_of(path: str) -> str:
    return path.removeprefix("/xrpc/") if path.startswith("/xrpc/") else path
