"""The requests of the posts at the instant: HTTP/1.1 over kept-alive connections, parsed by ``httptools``.

At the instant the dispatcher makes thousands of small API calls (a JSON or form body, a JSON answer) to a
few servers. aiohttp's client session spends some 0.2 ms of CPU on each (its tracing hooks, timers, payload
and response objects, cookie and redirect logic), the largest share of a post's cost; these calls need none
of it. :class:`Wire` keeps a pool of connections per origin, writes each request in one go and reads its
answer with ``httptools`` (llhttp, the parser of Node.js: chunked bodies, keep-alive): about a quarter of
the CPU (``bench/fanout``).

What it does not do, on purpose: cookies, proxies, compression negotiation (no ``Accept-Encoding`` is sent;
a gzip or deflate answer sent anyway is still read), HTTP/2. Redirects are followed for ``GET`` only (an API
that moves a ``POST`` elsewhere is answered as it stands, never posted twice). Failures are aiohttp's own
exceptions, so that every caller maps them as before: :class:`aiohttp.ClientOSError` when no connection
could be made, :class:`aiohttp.ServerDisconnectedError` when the connection ended before the whole answer
(the request may have been acted on), :class:`aiohttp.ServerTimeoutError` (a :class:`TimeoutError`) past the
time limit, :class:`aiohttp.ClientPayloadError` for an answer that cannot be read.

:class:`SessionTransport` does the same exchange through an aiohttp session (the one a test or a caller
hands to a publisher), and carries what the wire does not: multipart bodies (media uploads).
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from functools import cache, lru_cache
from typing import Any, Protocol, cast

import aiohttp
import httptools
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from hub.publishers.http import posting_session

#: Idle connections are closed after this long (aiohttp's default too); servers close theirs after 5–75 s.
KEEP_IDLE_SECONDS = 15.0
#: An answer larger than this is refused: API answers are a few kilobytes, a page of statuses some hundreds.
MAX_ANSWER_BYTES = 16 * 1024 * 1024
#: Redirects followed for a ``GET``, as aiohttp does.
MAX_REDIRECTS = 10
REDIRECTS = frozenset({301, 302, 303, 307, 308})
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer: its status, headers (case-insensitive) and whole body."""

    status: int
    headers: CIMultiDictProxy[str] | CIMultiDict[str]
    body: bytes

    @property
    def charset(self) -> str | None:
        """The ``charset`` of its ``Content-Type``, if it names one."""
        return _charset(self.headers.get("Content-Type", ""))


class Transport(Protocol):
    """One request, one whole answer within ``seconds``."""

    async def exchange(self, method: str, url: URL, headers: Mapping[str, str], body: Any, seconds: float) -> Reply: ...

    async def close(self) -> None: ...


class SessionTransport:
    """The exchange through an aiohttp session, which its owner closes (``body`` may be any aiohttp ``data``)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    async def exchange(self, method: str, url: URL, headers: Mapping[str, str], body: Any, seconds: float) -> Reply:
        limit = self._timeouts.get(seconds)
        if limit is None:
            limit = self._timeouts[seconds] = aiohttp.ClientTimeout(total=seconds)
        async with self.session.request(method, url, headers=headers, data=body, timeout=limit) as answer:
            return Reply(answer.status, answer.headers, await answer.read())

    async def close(self) -> None:
        """The session is its owner's to close."""


class Wire:
    """Kept-alive HTTP/1.1 connections per origin, for small API requests (see the module's documentation).

    ``fallback`` carries the bodies the wire does not write (anything but ``bytes``: multipart forms); it is
    opened on first use and closed with the wire.
    """

    def __init__(self, *, user_agent: str = "Unisson", tls: ssl.SSLContext | None = None) -> None:
        self.user_agent = user_agent
        self._tls = tls
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._fallback: SessionTransport | None = None
        self._sweeping: asyncio.TimerHandle | None = None

    async def exchange(self, method: str, url: URL, headers: Mapping[str, str], body: Any, seconds: float) -> Reply:
        if body is not None and not isinstance(body, bytes):
            return await self._session().exchange(method, url, headers, body, seconds)
        deadline = asyncio.get_running_loop().time() + seconds
        reply = await self._once(method, url, headers, body, deadline)
        for _ in range(MAX_REDIRECTS):
            location = reply.headers.get("Location")
            if method != "GET" or reply.status not in REDIRECTS or not location:
                break
            url = url.join(URL(location))
            if url.scheme not in DEFAULT_PORTS:
                break
            reply = await self._once(method, url, headers, body, deadline)
        return reply  # past the last redirect followed, the redirect itself: the caller's unexpected answer

    async def close(self) -> None:
        """Closes every connection (those under way end with :class:`aiohttp.ServerDisconnectedError`); the wire
        opens new ones if used again."""
        for connection in list(self._open):
            connection.close()
        self._idle.clear()
        if self._sweeping is not None:
            self._sweeping.cancel()
            self._sweeping = None
        if self._fallback is not None:
            await self._fallback.session.close()
            self._fallback = None

    async def _once(
        self, method: str, url: URL, headers: Mapping[str, str], body: bytes | None, deadline: float
    ) -> Reply:
        origin = _origin(url)
        connection = self._reuse(origin) or await self._connect(origin, deadline)
        request = _request_bytes(method, url, origin, headers, body, self.user_agent)
        try:
            reply = await connection.send(request, deadline)
        except BaseException:  # failed, timed out or cancelled half-way: the connection is in no state to reuse
            connection.close()
            raise
        if connection.reusable:
            self._rest(origin, connection)
        else:
            connection.close()
        return reply

    def _rest(self, origin: tuple[str, str, int], connection: _Connection) -> None:
        """Back to the pool; one sweep closes those left idle (not a timer per request)."""
        loop = asyncio.get_running_loop()
        connection.idle_since = loop.time()
        self._idle.setdefault(origin, []).append(connection)
        if self._sweeping is None:
            self._sweeping = loop.call_later(KEEP_IDLE_SECONDS / 3, self._sweep)

    def _sweep(self) -> None:
        """Closes the connections idle for :data:`KEEP_IDLE_SECONDS` (within a third more)."""
        loop = asyncio.get_running_loop()
        since = loop.time() - KEEP_IDLE_SECONDS
        for origin, idle in list(self._idle.items()):
            for connection in idle:
                if connection.idle_since <= since:
                    connection.close()
            idle[:] = [c for c in idle if c.idle_since > since]
            if not idle:
                del self._idle[origin]
        self._sweeping = loop.call_later(KEEP_IDLE_SECONDS / 3, self._sweep) if self._idle else None

    def _reuse(self, origin: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if connection.wake():
                return connection
        return None

    async def _connect(self, origin: tuple[str, str, int], deadline: float) -> _Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        tls = (self._tls or _default_tls()) if scheme == "https" else None
        try:
            async with asyncio.timeout_at(deadline):
                _, connection = await loop.create_connection(
                    lambda: _Connection(self._open),
                    host,
                    port,
                    ssl=tls,
                    server_hostname=host if tls else None,
                )
        except TimeoutError as error:
            raise aiohttp.ServerTimeoutError(f"no connection to {host}:{port} in time") from error
        except OSError as error:
            raise aiohttp.ClientOSError(error.errno, f"cannot connect to {host}:{port}: {error}") from error
        return connection

    def _session(self) -> SessionTransport:
        if self._fallback is None:
            self._fallback = SessionTransport(posting_session())
        return self._fallback


class _Connection(asyncio.Protocol):
    """One connection: one request at a time, its answer parsed as it arrives."""

    def __init__(self, registry: set[_Connection]) -> None:
        self._registry = registry
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[Reply] | None = None
        self._headers: list[tuple[str, str]] = []
        self._body: list[bytes] = []
        self._size = 0
        self._status = 0
        self._done = False
        #: An answer with neither a length nor chunks: it ends when the connection does.
        self._until_eof = False
        self._timer: asyncio.TimerHandle | None = None
        self.reusable = False
        #: When it went back to the pool (the loop's clock).
        self.idle_since = 0.0

    # --- asyncio.Protocol -------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not its subclasses
        self._registry.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._registry.discard(self)
        self.reusable = False
        if self._timer is not None:
            self._timer.cancel()
        if self._until_eof and not self._done:
            self._complete()  # an answer without a length ends with its connection
            return
        self._fail(aiohttp.ServerDisconnectedError(str(exc) if exc else None))

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(aiohttp.ClientPayloadError("the server switched protocols"))
        except httptools.HttpParserError as error:
            self._fail(aiohttp.ClientPayloadError(f"unreadable answer: {error}"))

    # --- httptools callbacks ------------------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self._status = status = self._parser.get_status_code()
        framed = any(name.lower() in ("content-length", "transfer-encoding") for name, _ in self._headers)
        self._until_eof = not framed and status >= 200 and status not in (204, 304)

    def on_body(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > MAX_ANSWER_BYTES:
            self._fail(aiohttp.ClientPayloadError(f"answer larger than {MAX_ANSWER_BYTES} bytes"))
            return
        self._body.append(chunk)

    def on_message_complete(self) -> None:
        if 100 <= self._status < 200:  # an interim answer (100 Continue, 103 Early Hints): the real one follows
            self._headers, self._status = [], 0
            return
        self.reusable = self._parser.should_keep_alive()
        self._complete()

    # --- the request ---------------------------------------------------------------------------------------

    async def send(self, request: bytes, deadline: float) -> Reply:
        assert self._transport is not None
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Reply] = loop.create_future()
        self._waiter = waiter
        self._headers, self._body, self._size, self._status, self._done = [], [], 0, 0, False
        self.reusable = self._until_eof = False
        self._timer = loop.call_at(deadline, self._expire)
        self._transport.write(request)
        try:
            return await waiter
        finally:
            self._timer.cancel()
            self._waiter = None

    def wake(self) -> bool:
        """Taken from the pool: whether it is still open (the server may have closed it meanwhile)."""
        return self._transport is not None and not self._transport.is_closing()

    def close(self) -> None:
        self.reusable = False
        if self._transport is not None:
            self._transport.close()

    def _expire(self) -> None:
        self._fail(aiohttp.ServerTimeoutError("no whole answer within the time limit"))

    def _complete(self) -> None:
        self._done = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        try:
            body = _decoded(b"".join(self._body), self._headers)
        except zlib.error as error:
            self._fail(aiohttp.ClientPayloadError(f"unreadable compressed answer: {error}"))
            return
        waiter.set_result(Reply(self._status, CIMultiDict(self._headers), body))

    def _fail(self, error: Exception) -> None:
        self.reusable = False
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        if self._transport is not None:
            self._transport.abort()


@lru_cache(maxsize=64)
def _charset(content_type: str) -> str | None:
    """Parsed once per distinct ``Content-Type``: thousands of answers at the instant say the same."""
    if "charset" not in content_type.lower():
        return None
    parsed = Message()
    parsed["Content-Type"] = content_type
    return parsed.get_content_charset()


def _origin(url: URL) -> tuple[str, str, int]:
    scheme = url.scheme
    if scheme not in DEFAULT_PORTS or not url.raw_host:
        raise aiohttp.InvalidURL(url)
    return scheme, url.raw_host, url.port or DEFAULT_PORTS[scheme]


def _request_bytes(
    method: str, url: URL, origin: tuple[str, str, int], headers: Mapping[str, str], body: bytes | None, agent: str
) -> bytes:
    scheme, host, port = origin
    if ":" in host:
        host = f"[{host}]"
    if port != DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    lines = [f"{method} {url.raw_path_qs or '/'} HTTP/1.1", f"Host: {host}"]
    if "User-Agent" not in headers:
        lines.append(f"User-Agent: {agent}")
    for name, value in headers.items():
        if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
            raise ValueError(f"the header {name!r} holds a line break")  # never a request split in two
        lines.append(f"{name}: {value}")
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body or b'')}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("latin-1") + (body or b"")


def _decoded(body: bytes, headers: list[tuple[str, str]]) -> bytes:
    for name, value in headers:
        if name.lower() == "content-encoding":
            coding = value.strip().lower()
            if coding in ("gzip", "x-gzip"):
                return zlib.decompress(body, wbits=16 + zlib.MAX_WBITS)
            if coding == "deflate":
                return zlib.decompress(body)
    return body


@cache
def _default_tls() -> ssl.SSLContext:
    """The system's certificate authorities, as aiohttp uses them; built once (it reads files)."""
    return ssl.create_default_context()
