"""XRPC (the AT Protocol's HTTP calls) over a shared transport (:mod:`hub.publishers.wire`), plain JSON both ways.

A query is a ``GET`` with parameters, a procedure a ``POST`` with a JSON body (or raw bytes: ``uploadBlob``). A
non-2xx answer raises :class:`XrpcFailure` with the XRPC error name the server gave; a 2xx answer is its JSON
object (``{}`` when it has no body). Reading a field the method promises and the answer lacks raises
:class:`UnreadableAnswer`. No SDK model is built: thousands of posts at one instant are thousands of small
dicts, and the SDK's models cost some 30 MB of memory once imported.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import orjson
from yarl import URL

from hub.publishers.wire import Transport

# What the server says when the access token is no longer good: refresh, then try once more.
STALE_TOKEN = frozenset({"ExpiredToken", "InvalidToken"})


class XrpcFailure(Exception):
    """A non-2xx XRPC answer: the status, the XRPC error name and message, and the headers."""

    def __init__(self, status: int, error: str, message: str, headers: dict[str, str]) -> None:
        super().__init__(f"{status} {error}: {message}")
        self.status = status
        self.error = error
        self.message = message
        self.headers = headers

    @property
    def stale_token(self) -> bool:
        return self.status == 401 or self.error in STALE_TOKEN


class UnreadableAnswer(Exception):
    """A 2xx answer without a field its method promises: the server having a bad moment."""


class Xrpc:
    """Calls XRPC methods on any server through one transport (which its owner closes)."""

    def __init__(self, http: Transport, timeout: float) -> None:
        self.http = http
        self._timeout = timeout
        #: Each method's address on each server, parsed once (thousands of posts go to the same few).
        self._urls: dict[tuple[str, str], URL] = {}

    async def query(
        self, base: str, nsid: str, params: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        return await self._send("GET", base, nsid, headers or {}, params=params)

    async def procedure(
        self, base: str, nsid: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """A procedure with a JSON body (or none: ``refreshSession``)."""
        if body is None:
            return await self._send("POST", base, nsid, headers or {})
        sent = {**(headers or {}), "Content-Type": "application/json"}
        return await self._send("POST", base, nsid, sent, data=orjson.dumps(body))

    async def upload(self, base: str, nsid: str, data: bytes, mime: str, headers: dict[str, str]) -> dict[str, Any]:
        """A procedure whose body is raw bytes of type ``mime`` (``uploadBlob``)."""
        return await self._send("POST", base, nsid, {**headers, "Content-Type": mime}, data=data)

    async def _send(
        self,
        verb: str,
        base: str,
        nsid: str,
        headers: dict[str, str],
        *,
        params: dict[str, str] | None = None,
        data: bytes | None = None,
    ) -> dict[str, Any]:
        url = self._urls.get((base, nsid))
        if url is None:
            url = self._urls[(base, nsid)] = URL(f"{base.rstrip('/')}/xrpc/{nsid}")
        if params:
            url = url.update_query(params)
        answer = await self.http.exchange(verb, url, headers, data, self._timeout)
        raw, status = answer.body, answer.status
        # Some answers are JSON without saying so (deleteRecord's "{}").
        parsed = _json(raw) if raw[:1] == b"{" else None
        found: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
        if not 200 <= status < 300:
            received = {k.lower(): v for k, v in answer.headers.items()}
            raise XrpcFailure(status, str(found.get("error", "")), str(found.get("message", "")), received)
        return found


def field(answer: dict[str, Any], name: str) -> Any:
    """``answer[name]``, which the method promises; :class:`UnreadableAnswer` if it is missing."""
    value = answer.get(name)
    if value is None:
        raise UnreadableAnswer(name)
    return value


def text(answer: dict[str, Any], name: str) -> str:
    """A string field the method promises."""
    value = field(answer, name)
    if not isinstance(value, str):
        raise UnreadableAnswer(name)
    return value


def pds_of(document: object) -> str | None:
    """The ``#atproto_pds`` service's endpoint named in a DID document (an http(s) address), or ``None``."""
    if not isinstance(document, dict):
        return None
    did = document.get("id")
    for service in document.get("service") or []:
        if not isinstance(service, dict) or service.get("type") != "AtprotoPersonalDataServer":
            continue
        if service.get("id") in ("#atproto_pds", f"{did}#atproto_pds"):
            endpoint = service.get("serviceEndpoint")
            return endpoint if isinstance(endpoint, str) and _web_address(endpoint) else None
    return None


def _web_address(url: str) -> bool:
    try:
        parsed = urlparse(url)
    except ValueError:
        return False
    return parsed.scheme in ("http", "https") and parsed.hostname is not None


def _json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
