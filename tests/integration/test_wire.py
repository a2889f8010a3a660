"""The lean HTTP/1.1 wire of the posts at the instant (hub.publishers.wire), against real local servers: an
aiohttp server for ordinary answers, and raw sockets for the answers servers send on bad days."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from yarl import URL

from hub.publishers import wire
from hub.publishers.wire import Wire

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def served(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[tuple[URL, list[str]]]:
    """An aiohttp server answering every path with ``handler``; yields its base URL and the peers it saw (one
    per connection the client opened)."""
    peers: list[str] = []

    async def counting(request: web.Request) -> web.StreamResponse:
        peer = str(request.transport.get_extra_info("peername") if request.transport else None)
        if peer not in peers:
            peers.append(peer)
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", counting)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield URL(f"{'https' if tls else 'http'}://127.0.0.1:{port}"), peers
    finally:
        await runner.cleanup()


@asynccontextmanager
async def raw(answer: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]) -> AsyncIterator[URL]:
    """A bare TCP server: ``answer`` reads the request and writes whatever bytes it likes (then it closes)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await answer(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield URL(f"http://127.0.0.1:{port}")
    finally:
        server.close()
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0
    )
    return head + (await reader.readexactly(length) if length else b"")


async def test_requests_share_one_kept_alive_connection_and_carry_what_was_asked() -> None:
    seen: list[tuple[str, str, str, str, bytes]] = []

    async def echo(request: web.Request) -> web.Response:
        seen.append(
            (request.method, request.path_qs, request.host, request.headers["User-Agent"], await request.read())
        )
        return web.json_response({"n": len(seen)}, headers={"X-RateLimit-Remaining": "299"})

    wire_ = Wire()
    async with served(echo) as (base, peers):
        for n in range(5):
            reply = await wire_.exchange("POST", base / "api/v1/statuses", {"Authorization": "Bearer t"}, b"a=b", 5)
            assert reply.status == 200 and reply.body == f'{{"n": {n + 1}}}'.encode()
        reply = await wire_.exchange("GET", (base / "x").with_query(limit="40"), {}, None, 5)
        await wire_.close()
    assert len(peers) == 1, "each request opened its own connection"
    assert seen[0] == ("POST", "/api/v1/statuses", f"127.0.0.1:{base.port}", "Unisson", b"a=b")
    assert seen[-1][:2] == ("GET", "/x?limit=40")
    assert reply.headers["x-ratelimit-remaining"] == "299"  # headers read whatever their case
    assert reply.charset == "utf-8"


async def test_concurrent_requests_each_get_their_own_answer() -> None:
    async def slow_echo(request: web.Request) -> web.Response:
        await asyncio.sleep(0.01)
        return web.Response(body=await request.read())

    wire_ = Wire()
    async with served(slow_echo) as (base, peers):
        bodies = [str(n).encode() for n in range(300)]
        replies = await asyncio.gather(*(wire_.exchange("POST", base, {}, body, 5) for body in bodies))
        again = await asyncio.gather(*(wire_.exchange("POST", base, {}, body, 5) for body in bodies))
        await wire_.close()
    assert [r.body for r in replies] == bodies and [r.body for r in again] == bodies
    assert len(peers) == 300, "the second round should reuse the first round's connections"


async def test_a_chunked_answer_is_read_whole() -> None:
    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for part in (b'{"id": ', b'"12', b'3"}'):
            await response.write(part)
        await response.write_eof()
        return response

    wire_ = Wire()
    async with served(chunked) as (base, _):
        reply = await wire_.exchange("GET", base, {}, None, 5)
        await wire_.close()
    assert reply.body == b'{"id": "123"}'


async def test_an_answer_without_length_ends_with_its_connection() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{"id": 7}')
        await writer.drain()
        writer.close()

    async with raw(answer) as base:
        wire_ = Wire()
        reply = await wire_.exchange("GET", base, {}, None, 5)
        await wire_.close()
    assert (reply.status, reply.body) == (200, b'{"id": 7}')


async def test_an_answer_cut_short_is_a_lost_connection_never_a_short_body() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{"id":')
        await writer.drain()
        writer.close()

    async with raw(answer) as base:
        wire_ = Wire()
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await wire_.exchange("POST", base, {}, b"{}", 5)
        await wire_.close()


async def test_a_connection_dropped_after_the_request_is_a_lost_connection() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.transport.abort()

    async with raw(answer) as base:
        wire_ = Wire()
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await wire_.exchange("POST", base, {}, b"{}", 5)
        await wire_.close()


async def test_an_interim_answer_is_skipped() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")
        writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()

    async with raw(answer) as base:
        wire_ = Wire()
        reply = await wire_.exchange("POST", base, {}, b"{}", 5)
        await wire_.close()
    assert (reply.status, reply.body) == (201, b"{}")
    assert "Link" not in reply.headers


async def test_no_whole_answer_in_time_is_a_timeout_and_the_connection_is_not_reused() -> None:
    delays = [2.0, 0.0]

    async def late(request: web.Request) -> web.Response:
        await asyncio.sleep(delays.pop(0))
        return web.Response(text="late")

    wire_ = Wire()
    async with served(late) as (base, peers):
        with pytest.raises(TimeoutError):
            await wire_.exchange("POST", base, {}, b"{}", 0.2)
        reply = await wire_.exchange("POST", base, {}, b"{}", 5)
        await wire_.close()
    assert reply.body == b"late"
    assert len(peers) == 2


async def test_no_server_is_a_connection_error() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    wire_ = Wire()
    with pytest.raises(aiohttp.ClientOSError):
        await wire_.exchange("GET", URL(f"http://127.0.0.1:{port}/"), {}, None, 5)
    await wire_.close()


async def test_a_connection_the_server_closed_while_idle_is_not_used_again() -> None:
    closing: list[asyncio.StreamWriter] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                await read_request(reader)
            except asyncio.IncompleteReadError:
                return
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
            closing.append(writer)

    async with raw(answer) as base:
        wire_ = Wire()
        await wire_.exchange("GET", base, {}, None, 5)
        closing[0].close()  # the server's keep-alive ran out
        await asyncio.sleep(0.1)
        reply = await wire_.exchange("GET", base, {}, None, 5)
        await wire_.close()
    assert reply.body == b"ok" and len(closing) == 2


async def test_redirects_are_followed_for_get_only() -> None:
    async def moved(request: web.Request) -> web.Response:
        if request.path == "/old":
            raise web.HTTPFound("/new")
        return web.Response(text=f"{request.method} {request.path}")

    wire_ = Wire()
    async with served(moved) as (base, _):
        read = await wire_.exchange("GET", base / "old", {}, None, 5)
        posted = await wire_.exchange("POST", base / "old", {}, b"{}", 5)
        await wire_.close()
    assert (read.status, read.body) == (200, b"GET /new")
    assert posted.status == 302, "a POST must never be sent again elsewhere"


async def test_a_compressed_answer_is_decoded() -> None:
    async def zipped(request: web.Request) -> web.Response:
        return web.Response(body=gzip.compress(b'{"ok": true}'), headers={"Content-Encoding": "gzip"})

    wire_ = Wire()
    async with served(zipped) as (base, _):
        reply = await wire_.exchange("GET", base, {}, None, 5)
        await wire_.close()
    assert reply.body == b'{"ok": true}'


async def test_an_oversized_answer_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wire, "MAX_ANSWER_BYTES", 1000)

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 5000)

    wire_ = Wire()
    async with served(big) as (base, _):
        with pytest.raises(aiohttp.ClientPayloadError):
            await wire_.exchange("GET", base, {}, None, 5)
        await wire_.close()


async def test_a_header_with_a_line_break_is_never_sent() -> None:
    async def never(request: web.Request) -> web.Response:
        raise AssertionError("a request was sent")

    wire_ = Wire()
    async with served(never) as (base, _):
        with pytest.raises(ValueError, match="line break"):
            await wire_.exchange("POST", base, {"Authorization": "Bearer t\r\nX-Evil: 1"}, b"{}", 5)
        await wire_.close()


async def test_a_multipart_form_goes_through_an_aiohttp_session() -> None:
    async def upload(request: web.Request) -> web.Response:
        form = await request.post()
        field = form["file"]
        assert isinstance(field, web.FileField)
        return web.json_response({"name": field.filename, "size": len(field.file.read())})

    form = aiohttp.FormData()
    form.add_field("file", b"\x89PNG" * 10, filename="image.png", content_type="image/png")
    wire_ = Wire()
    async with served(upload) as (base, _):
        reply = await wire_.exchange("POST", base, {}, form, 5)
        await wire_.close()
    assert reply.body == b'{"name": "image.png", "size": 40}'


async def test_tls_is_verified_against_the_trusted_authorities(tmp_path: Path) -> None:
    server_tls, client_tls = tls_pair(tmp_path)

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="secure")

    async with served(hello, server_tls) as (base, _):
        trusting = Wire(tls=client_tls)
        reply = await trusting.exchange("GET", base, {}, None, 5)
        await trusting.close()
        default = Wire()  # the system's authorities do not know this certificate
        with pytest.raises(aiohttp.ClientOSError):
            await default.exchange("GET", base, {}, None, 5)
        await default.close()
    assert reply.body == b"secure"


def tls_pair(folder: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1: the server's context, and a client's that trusts it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client
