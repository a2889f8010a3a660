"""A test double of the AT Protocol PDS endpoints the Bluesky publisher uses.

The real PDS (``sandbox/pds.py``, ``@atproto/pds``) is the reference, but it is a Node process of about
200 MB that creates accounts slowly; benchmarks with a thousand towns posting at once need something lighter.
This is **not** a PDS: it is an in-memory aiohttp server that answers the few XRPC methods the publisher
calls (and serves the DID documents a PLC directory would) point by point as listed below, as checked against
``@atproto/pds`` 0.4.217 (see ``tests/integration/test_pds.py``). Anything not listed is not reproduced.
Errors are XRPC JSON ``{"error": NAME, "message": TEXT}``.

Points reproduced
-----------------
1. ``com.atproto.server.createSession`` ``{identifier, password}``: the identifier is the handle or the DID
   (any case), the password an app password of the account. A wrong one: 401 ``AuthenticationRequired``
   "Invalid identifier or password". The answer has ``accessJwt``, ``refreshJwt``, ``did``, ``handle``,
   ``email``, ``emailConfirmed``, ``active`` and, as Bluesky's hosts send it, ``didDoc`` (the local PDS
   0.4.217 leaves it out: ``BlueskyDouble(session_did_doc=False)``). Limits: 30 per 5 minutes and 300 per
   day; every call counts, refused ones too. Upstream keys them on the identifier as written plus the IP;
   the double keys them on the account, as Bluesky documents them. The real server waits until 350 ms have
   passed on every login (against timing attacks): ``login_seconds`` (0 by default).
2. Tokens are HS256 JWTs with the upstream claims (``typ`` ``at+jwt`` / ``refresh+jwt``, ``scope``, ``aud``,
   ``sub``, ``iat``, ``exp``; the refresh token has a ``jti``). Access tokens live ``access_ttl`` (2 h),
   refresh tokens ``refresh_ttl`` (90 days). No ``Authorization``: 401 ``AuthMissing`` "Authentication
   Required"; another scheme: 400 ``InvalidToken`` "Unexpected authorization type"; an unknown token: 400
   ``InvalidToken`` "Token could not be verified"; an expired one: **400** ``ExpiredToken`` "Token has
   expired"; the wrong kind: 400 ``InvalidToken`` "Invalid token type".
3. ``com.atproto.server.refreshSession`` (POST, Bearer refresh token, no body; a body: 400 ``InvalidRequest``
   "A request body was provided when none was expected") gives new tokens; the old refresh token stays
   usable for 2 hours and then gives the same next token, as upstream's rotation does. A refresh token of a
   revoked app password: 400 ``ExpiredToken`` "Token has been revoked". Access tokens already issued stay
   valid until they expire, as upstream.
4. ``com.atproto.server.getSession`` ``{did, handle, email, emailConfirmed, active}`` (and ``didDoc``);
   ``com.atproto.identity.resolveHandle`` ``{did}`` for a handle of the double, else 400 ``InvalidRequest``
   "Unable to resolve handle".
5. DID documents: ``GET /{did}`` answers as a PLC directory does (``application/did+ld+json``; unknown DID:
   404 ``{"message": "DID not registered: ..."}``), naming the double as the account's PDS
   (``#atproto_pds``), so ``plc_url = base_url`` works. ``public_url`` names another endpoint (a proxy).
6. ``com.atproto.repo.createRecord`` ``{repo, collection, rkey?, record}``: ``repo`` is the caller's DID or
   handle (another account: 401 ``AuthenticationRequired``; unknown: 403 ``AccountNotFound``); ``$type``
   must be the collection (400 "Invalid $type: expected ..., got ..."). For ``app.bsky.feed.post`` the rkey
   must be a TID (400 ``InvalidRequest`` "Invalid record key for app.bsky.feed.post: Invalid TID string (got
   "...") at $") and the record is checked with upstream's wording: ``text`` and ``createdAt`` required,
   ``text`` at most 3,000 UTF-8 bytes ("string too big (maximum 3000, got N)") then 300 graphemes
   ("grapheme too big (maximum 300, got N)"), ``langs`` at most 3, ``embed.images`` at most 4, each image
   and a card's thumbnail at most 1,000,000 bytes ("blob too big (maximum 1000000, got N)"); a blob the
   account never uploaded: 400 ``BlobNotFound`` "Could not find blob: CID". Reusing a live rkey: **500**
   ``InternalServerError`` "Internal Server Error", as upstream; a deleted rkey may be used again. Without an
   rkey a TID is chosen. The answer is ``{uri, cid, commit {cid, rev}, validationStatus}``; CIDs are real
   CIDv1 of the record's DAG-CBOR (of its JSON form: blob links stay ``$link`` maps, so they differ from
   upstream's). Other collections are stored unchecked (``validationStatus: "unknown"``).
7. ``com.atproto.repo.getRecord`` (no auth) ``{uri, cid, value}``; missing or deleted: 400 ``RecordNotFound``
   "Could not locate record: AT-URI"; unknown repo: 400 ``InvalidRequest`` "Could not locate record".
   ``com.atproto.repo.deleteRecord``: ``{"commit": {cid, rev}}``, or ``{}`` when there was nothing to delete.
   ``com.atproto.repo.listRecords``: newest rkey first (``reverse=true``: oldest first), ``limit`` 1-100
   (50 by default), ``cursor`` = the last rkey of the page; unknown repo: 400 "Could not find repo: ...".
8. ``com.atproto.repo.uploadBlob``: the type is sniffed from the bytes (PNG, JPEG, GIF, WebP), else the
   ``Content-Type``; the answer is ``{"blob": {"$type": "blob", "ref": {"$link": CID}, "mimeType", "size"}}``.
   Over ``blob_limit`` (1,000,000 bytes by default): 400 ``BlobTooLarge`` "This file is too large. It is
   1.20MB but the maximum size is 976.56KB." as Bluesky's hosts have answered; ``blob_limit_answer=
   "payload_too_large"`` gives what the PDS 0.4.217 answers instead, 413 ``PayloadTooLarge`` "request entity
   too large" (its default limit is 5 MiB). Only the size, type and CID of a blob are kept.
9. Write limits per account, as upstream's ``repo-write-hour`` and ``-day``: 5,000 points per hour and
   35,000 per day, createRecord 3 points and deleteRecord 1, counted after authentication and before the
   handler (a refused record costs its points too). Windows start at their first request, as upstream's
   rate-limiter-flexible does. Responses carry ``RateLimit-Limit``, ``-Remaining``, ``-Reset`` (epoch
   seconds) and ``-Policy`` (``5000;w=3600``) for the tightest window; over a limit, 429
   ``RateLimitExceeded`` "Rate Limit Exceeded" with Remaining 0. All configurable (:class:`RateLimits`).
   The PDS's 3,000 requests per 5 minutes per IP are off by default (``RateLimits(per_ip=...)``): one double
   stands for the many hosts the towns' accounts live on.
10. Unknown method or wrong verb: 400 ``InvalidRequest`` "No service configured for NSID". A body missing a
   required key: 400 ``InvalidRequest`` 'Missing required key "KEY" at $'. ``GET /xrpc/_health``.
11. ``app.bsky.feed.getPosts`` (an AppView's, answered here since a lone PDS has none; no auth): ``uris``
   repeated, at most 25 (more: 400 ``InvalidRequest``), ``{"posts": [{uri, cid, author {did, handle},
   record, indexedAt, likeCount, repostCount, replyCount, quoteCount}]}`` for the live posts, the others
   left out; counts set with :meth:`BlueskyDouble.set_counts`.
12. Not XRPC, for people: ``GET /profile/{handle}/post/{rkey}`` shows a post as Bluesky's web app would (an
   HTML page with its text; missing or deleted: 404), so ``BlueskyPublisher(app_url=base_url)`` gives links
   that open on the double.
12. ``com.atproto.repo.putRecord`` (2 write points; unverified): writes the record at ``rkey``, replacing
   what was there (posts validated as in createRecord); with ``swapRecord``, only if the record there now has
   that cid (``null``: none), else 400 ``InvalidSwap`` "Record was at CID". Pinned posts are a profile's
   ``pinnedPost`` (``app.bsky.actor.profile``, rkey ``self``), written so.

Left out: account creation over XRPC (use :meth:`BlueskyDouble.add_account`), main passwords, email and
two-factor codes, takedowns and deactivation, OAuth and DPoP, applyWrites, swapCommit, the
firehose, record validation beyond the points above (facets, embeds' other fields, datetime formats), the
upload limit of 1,000 blobs per day, blob expiry, and upstream's 500 answers to some malformed parameters
(the double answers 400 ``InvalidRequest``).

For tests (see :class:`BlueskyDouble`): accounts and app passwords, revocation, server-side truth (records,
createSession and refreshSession counts, calls per method), a movable clock, and fault injection switchable at
run time (latency, 5xx, timeouts that hold then drop, forced 429, "commit then drop the response").

Run alone: ``python -m sandbox.bluesky --port 2583 --account ville-a.test:aaaa-bbbb-cccc-dddd`` (``--towns N``
adds N accounts, ``--latency 0.1`` delays every request); it prints its URL and the accounts' DIDs as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import html
import json
import math
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import jwt
import libipld
import regex
from aiohttp import web

from sandbox.faults import Fault as Fault
from sandbox.faults import FaultInjection
from sandbox.faults import FaultKind as FaultKind

POST = "app.bsky.feed.post"
PROFILE = "app.bsky.actor.profile"
CREATE_SESSION = "com.atproto.server.createSession"
REFRESH_SESSION = "com.atproto.server.refreshSession"
GET_SESSION = "com.atproto.server.getSession"
RESOLVE_HANDLE = "com.atproto.identity.resolveHandle"
CREATE_RECORD = "com.atproto.repo.createRecord"
#: An AppView's method, answered here as ``app.bsky.feed.getPosts``'s lexicon says (a PDS alone has no AppView).
GET_POSTS = "app.bsky.feed.getPosts"
#: getPosts's ``uris`` ``maxLength``.
GET_POSTS_LIMIT = 25
GET_RECORD = "com.atproto.repo.getRecord"
DELETE_RECORD = "com.atproto.repo.deleteRecord"
PUT_RECORD = "com.atproto.repo.putRecord"
LIST_RECORDS = "com.atproto.repo.listRecords"
UPLOAD_BLOB = "com.atproto.repo.uploadBlob"
DID_DOCUMENT = "did-document"
"""The ``on`` of a fault that targets the PLC directory's ``GET /{did}``."""

ACCESS_TTL = 2 * 3600.0
REFRESH_TTL = 90 * 86400.0
REFRESH_GRACE = 2 * 3600.0
BLOB_LIMIT = 1_000_000
MAX_GRAPHEMES = 300
MAX_BYTES = 3000

_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_TID_RE = regex.compile(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}")
_RKEY_RE = regex.compile(r"[A-Za-z0-9._:~-]{1,512}")
_GRAPHEME_RE = regex.compile(r"\X")
_MAGIC = ((b"\x89PNG", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif"))
_DAG_CBOR, _RAW = 0x71, 0x55


# --- errors --------------------------------------------------------------------------------------------


class XrpcError(Exception):
    """An XRPC error answer: ``{"error": name, "message": text}`` with an HTTP status."""

    def __init__(self, status: int, error: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{status} {error}: {message}")
        self.status = status
        self.error = error
        self.message = message
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        """The JSON response for this error."""
        body = {"error": self.error, "message": self.message}
        return web.json_response(body, status=self.status, headers=self.headers)


def _invalid(message: str, error: str = "InvalidRequest") -> XrpcError:
    return XrpcError(400, error, message)


# XRPC's names for the 5xx a fault may answer with.
_SERVER_ERRORS = {
    500: ("InternalServerError", "Internal Server Error"),
    501: ("MethodNotImplemented", "Method Not Implemented"),
    502: ("UpstreamFailure", "Upstream Failure"),
    503: ("NotEnoughResources", "Not Enough Resources"),
    504: ("UpstreamTimeout", "Upstream Timeout"),
}


# --- model -------------------------------------------------------------------------------------------


@dataclass
class Account:
    """An account of the double: its identity, its app passwords (name → password) and what it did."""

    did: str
    handle: str
    email: str
    app_passwords: dict[str, str]
    signing_key: str
    sessions: int = 0
    refreshes: int = 0


@dataclass
class Record:
    """A record as committed, kept after deletion (``deleted_at``) as server-side truth for tests."""

    uri: str
    cid: str
    collection: str
    rkey: str
    value: dict[str, Any]
    created_at: datetime
    deleted_at: datetime | None = None

    def json(self) -> dict[str, Any]:
        """The ``{uri, cid, value}`` of getRecord and listRecords."""
        return {"uri": self.uri, "cid": self.cid, "value": self.value}


@dataclass(frozen=True)
class Blob:
    """An uploaded blob: only what a record's reference is checked against."""

    cid: str
    mime_type: str
    size: int

    def json(self) -> dict[str, Any]:
        """The blob reference as uploadBlob returns it."""
        return {"$type": "blob", "ref": {"$link": self.cid}, "mimeType": self.mime_type, "size": self.size}


@dataclass
class _Token:
    kind: Literal["access", "refresh"]
    did: str
    expires_at: float
    jti: str | None = None


@dataclass
class _RefreshGrant:
    """Upstream's refresh-token row: who, with which app password, until when, and its successor."""

    did: str
    app_password: str
    expires_at: float
    next_jti: str | None = None


@dataclass(frozen=True)
class Window:
    """A rate-limit window: at most ``points`` per ``seconds``, starting at its first request."""

    points: int
    seconds: float


@dataclass(frozen=True)
class RateLimits:
    """Rate-limit windows; the defaults are upstream's. Tests pass small ones."""

    sessions: tuple[Window, ...] = (Window(30, 300), Window(300, 86_400))
    writes: tuple[Window, ...] = (Window(5_000, 3_600), Window(35_000, 86_400))
    per_ip: Window | None = None
    enabled: bool = True


#: Points of each write, as upstream counts them.
WRITE_POINTS = {CREATE_RECORD: 3, DELETE_RECORD: 1, PUT_RECORD: 2}

# --- rate limiting -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Usage:
    window: Window
    consumed: int
    reset: float

    @property
    def remaining(self) -> int:
        return max(0, self.window.points - self.consumed)

    @property
    def exceeded(self) -> bool:
        return self.consumed > self.window.points

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.window.points),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(math.floor(self.reset)),
            "RateLimit-Policy": f"{self.window.points};w={int(self.window.seconds)}",
        }


class _Limiter:
    """Windows that start at a key's first request, as rate-limiter-flexible's memory store: O(1) a hit."""

    def __init__(self) -> None:
        self._slots: dict[tuple[str, Window], tuple[float, int]] = {}

    def consume(self, key: str, windows: tuple[Window, ...], points: int, now: float) -> _Usage | None:
        """Counts ``points`` in every window; the first exceeded one, else the one with least left."""
        usages = [self._hit(key, window, points, now) for window in windows]
        exceeded = [u for u in usages if u.exceeded]
        if exceeded:
            return exceeded[0]
        return min(usages, key=lambda u: u.remaining, default=None)

    def _hit(self, key: str, window: Window, points: int, now: float) -> _Usage:
        start, consumed = self._slots.get((key, window), (now, 0))
        if now >= start + window.seconds:
            start, consumed = now, 0
        consumed += points
        self._slots[(key, window)] = (start, consumed)
        return _Usage(window, consumed, start + window.seconds)


_HEADERS_KEY = web.RequestKey("rate_limit_headers", dict)


# --- small helpers -------------------------------------------------------------------------------------


def _cid(codec: int, digest: bytes) -> str:
    """A CIDv1 with a sha2-256 multihash, in base32 (``bafyrei…`` for DAG-CBOR, ``bafkrei…`` for raw)."""
    return libipld.encode_cid(bytes((1, codec, 0x12, 0x20)) + digest)


def _record_cid(value: Mapping[str, Any]) -> str:
    try:
        encoded = libipld.encode_dag_cbor(value)
    except (ValueError, TypeError, OverflowError) as error:  # e.g. a float NaN, or a huge integer
        raise _invalid(f"Invalid record: {error}") from None
    return _cid(_DAG_CBOR, hashlib.sha256(encoded).digest())


def _pretty_size(size: int) -> str:
    """Sizes as Bluesky words them in BlobTooLarge: "976.56KB", "1.20MB"."""
    if size < 1024 * 1024:
        return f"{size / 1024:.2f}KB"
    return f"{size / (1024 * 1024):.2f}MB"


def _sniff(head: bytes, declared: str | None) -> str:
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    found = next((kind for magic, kind in _MAGIC if head.startswith(magic)), None)
    if found is not None:
        return found
    return (declared or "application/octet-stream").split(";")[0].strip().lower()


def _js(value: object) -> str:
    """A value as JavaScript's template strings print it in upstream's messages."""
    return "undefined" if value is None else str(value)


async def _json_body(request: web.Request, *required: str) -> dict[str, Any]:
    """The JSON object of a procedure's body, with its required keys (strings, as the lexicons say)."""
    try:
        body = json.loads(await request.read() or b"null")
    except ValueError:
        raise _invalid("Request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise _invalid("Expected object value type at $")
    for key in required:
        if key not in body:
            raise _invalid(f'Missing required key "{key}" at $')
    return body


def _string(source: Mapping[str, Any], key: str, where: str = "$") -> str:
    value = source[key]
    if not isinstance(value, str):
        raise _invalid(f"Expected string value type at {where}.{key}")
    return value


def _param(request: web.Request, name: str) -> str:
    value = request.query.get(name)
    if not value:
        raise _invalid(f'Params must have the property "{name}"')
    return value


def _blob_links(value: Any) -> list[str]:
    """The CID of every blob reference (``{"$type": "blob", ...}``) anywhere in a record."""
    found, stack = [], [value]
    while stack:  # a loop, not recursion: records are walked on every createRecord
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("$type") == "blob":
                found.append(_blob_link(item))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _blob_link(ref: Mapping[str, Any]) -> str:
    link = ref.get("ref")
    return str(link.get("$link", "")) if isinstance(link, dict) else ""


# --- post validation (the lexicon's limits, in upstream's words) -------------------------------------------


def check_post(record: Mapping[str, Any]) -> None:
    """Raise the 400 the PDS answers for an ``app.bsky.feed.post`` record that breaks the lexicon's limits."""
    try:
        _check_post(record)
    except _RecordIssue as issue:
        raise _invalid(f"Invalid {POST} record: {issue}") from None


class _RecordIssue(Exception):
    pass


def _check_post(record: Mapping[str, Any]) -> None:
    for key in ("text", "createdAt"):
        if key not in record:
            raise _RecordIssue(f'Missing required key "{key}" at $.record')
    text = record["text"]
    if not isinstance(text, str):
        raise _RecordIssue("Expected string value type at $.record.text")
    _check_text(text)
    if not isinstance(record["createdAt"], str):
        raise _RecordIssue("Expected string value type at $.record.createdAt")
    embed = record.get("embed")
    if isinstance(embed, dict):
        _check_embed(embed)
    langs = record.get("langs")
    if isinstance(langs, list) and len(langs) > 3:
        raise _RecordIssue(f"array too big (maximum 3, got {len(langs)}) at $.record.langs")


def _check_text(text: str) -> None:
    # Bytes first, then graphemes, as upstream; neither is computed when the length alone settles it.
    # A code point is at most 4 UTF-8 bytes.
    if len(text) * 4 > MAX_BYTES and (size := len(text.encode("utf-8"))) > MAX_BYTES:
        raise _RecordIssue(f"string too big (maximum {MAX_BYTES}, got {size}) at $.record.text")
    if len(text) > MAX_GRAPHEMES and (count := len(_GRAPHEME_RE.findall(text))) > MAX_GRAPHEMES:
        raise _RecordIssue(f"grapheme too big (maximum {MAX_GRAPHEMES}, got {count}) at $.record.text")


def _check_embed(embed: Mapping[str, Any]) -> None:
    images = embed.get("images")
    if isinstance(images, list):
        if len(images) > 4:
            raise _RecordIssue(f"array too big (maximum 4, got {len(images)}) at $.record.embed.images")
        for number, image in enumerate(images):
            if isinstance(image, dict):
                _check_blob_size(image.get("image"), f"$.record.embed.images[{number}].image")
    external = embed.get("external")
    if isinstance(external, dict):
        _check_blob_size(external.get("thumb"), "$.record.embed.external.thumb")


def _check_blob_size(blob: Any, where: str) -> None:
    size = blob.get("size") if isinstance(blob, dict) else None
    if isinstance(size, int) and size > BLOB_LIMIT:
        raise _RecordIssue(f"blob too big (maximum {BLOB_LIMIT}, got {size}) at {where}")


# --- the double --------------------------------------------------------------------------------------


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BlueskyDouble(FaultInjection):
    """An in-memory PDS (the publisher's XRPC methods) and PLC directory (see the module docstring).

    Create accounts with :meth:`add_account`, start it with ``async with double.serve() as base_url``, read
    what was really posted with :meth:`posts`, count logins with :meth:`session_count`, move its clock with
    :meth:`advance`, and inject faults with :meth:`inject`. All settings are plain attributes and may be
    changed while it runs.
    """

    def __init__(
        self,
        *,
        access_ttl: float = ACCESS_TTL,
        refresh_ttl: float = REFRESH_TTL,
        blob_limit: int = BLOB_LIMIT,
        blob_limit_answer: Literal["blob_too_large", "payload_too_large"] = "blob_too_large",
        rate_limits: RateLimits | None = None,
        session_did_doc: bool = True,
        login_seconds: float = 0.0,
        public_url: str | None = None,
        service_did: str = "did:web:localhost",
        seed: int | None = None,
    ) -> None:
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.blob_limit = blob_limit
        self.blob_limit_answer = blob_limit_answer
        self.rate_limits = rate_limits or RateLimits()
        self.session_did_doc = session_did_doc
        self.login_seconds = login_seconds
        #: The PDS endpoint the DID documents name; None: the URL the request came to.
        self.public_url = public_url
        self.service_did = service_did
        super().__init__(seed)
        #: Requests received per XRPC method (and :data:`DID_DOCUMENT`), faulty ones included.
        self.calls: Counter[str] = Counter()
        self._secret = secrets.token_bytes(32)
        self._offset = 0.0
        self._last_tid = 0
        self._accounts: dict[str, Account] = {}
        self._handles: dict[str, str] = {}
        self._tokens: dict[str, _Token] = {}
        self._grants: dict[str, _RefreshGrant] = {}
        self._repos: dict[str, dict[tuple[str, str], Record]] = {}
        self._history: dict[str, list[Record]] = {}
        self._blobs: dict[str, dict[str, Blob]] = {}
        self._limiter = _Limiter()
        self._routes: dict[tuple[str, str], Handler] = {
            ("GET", "_health"): self._health,
            ("POST", CREATE_SESSION): self._create_session,
            ("POST", REFRESH_SESSION): self._refresh_session,
            ("GET", GET_SESSION): self._get_session,
            ("GET", RESOLVE_HANDLE): self._resolve_handle,
            ("POST", CREATE_RECORD): self._create_record,
            ("POST", PUT_RECORD): self._put_record,
            ("GET", GET_RECORD): self._get_record,
            ("POST", DELETE_RECORD): self._delete_record,
            ("GET", LIST_RECORDS): self._list_records,
            ("POST", UPLOAD_BLOB): self._upload_blob,
            ("GET", GET_POSTS): self._get_posts,
        }
        #: What people did with each post (an AppView's counts), by at-uri: :meth:`set_counts`.
        self._counts: dict[str, dict[str, int]] = {}

    # --- clock and keys ------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The double's current time (real time, moved by :meth:`advance`)."""
        return datetime.fromtimestamp(self._epoch(), UTC)

    def _epoch(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the double's clock forward: tokens expire, rate-limit windows end."""
        self._offset += seconds

    def _tid(self) -> str:
        # Strictly increasing microseconds, then a random clock id, as upstream's TID generator.
        self._last_tid = max(self._last_tid + 1, int(self._epoch() * 1_000_000))
        value = self._last_tid << 10 | self._random.randrange(1024)
        return "".join(_TID_ALPHABET[(value >> shift) & 31] for shift in range(60, -1, -5))

    # --- accounts ------------------------------------------------------------------------------------

    def add_account(self, handle: str, app_password: str, *, email: str | None = None, name: str = "unisson") -> str:
        """Create an account with one app password called ``name``; return its new ``did:plc``."""
        handle = handle.lower()
        if handle in self._handles:
            raise ValueError(f"handle {handle!r} already exists")
        did = "did:plc:" + "".join(self._random.choice(_TID_ALPHABET) for _ in range(24))
        key = libipld.encode_multibase("z", b"\xe7\x01" + self._random.randbytes(33))
        self._accounts[did] = Account(did, handle, email or f"contact@{handle}", {name: app_password}, key)
        self._handles[handle] = did
        self._repos[did], self._history[did], self._blobs[did] = {}, [], {}
        return did

    def add_app_password(self, did: str, app_password: str, name: str) -> None:
        """Give the account another app password."""
        self._accounts[did].app_passwords[name] = app_password

    def revoke_app_password(self, did: str, name: str | None = None) -> None:
        """Revoke one app password (all when ``name`` is None), as ``revokeAppPassword`` does.

        Logins with it fail and its refresh tokens are refused ("Token has been revoked"); its access tokens
        stay valid until they expire, as upstream.
        """
        account = self._accounts[did]
        names = [name] if name is not None else list(account.app_passwords)
        for revoked in names:
            del account.app_passwords[revoked]
        for jti in [j for j, g in self._grants.items() if g.did == did and g.app_password in names]:
            del self._grants[jti]

    def account(self, did_or_handle: str) -> Account:
        """The account with this DID or handle."""
        found = self._find(did_or_handle)
        if found is None:
            raise KeyError(did_or_handle)
        return found

    def _find(self, identifier: str) -> Account | None:
        identifier = identifier.lower()
        return self._accounts.get(self._handles.get(identifier, identifier))

    # --- server-side truth ---------------------------------------------------------------------------

    def posts(self, did: str, *, include_deleted: bool = False) -> list[Record]:
        """Every ``app.bsky.feed.post`` the account really committed, oldest first (deleted ones on request)."""
        return [r for r in self._history[did] if r.collection == POST and (include_deleted or r.deleted_at is None)]

    def records(self, did: str, collection: str) -> list[Record]:
        """Every live record of ``collection`` the account holds, oldest first."""
        return [r for r in self._history[did] if r.collection == collection and r.deleted_at is None]

    def session_count(self, did: str) -> int:
        """How many ``createSession`` calls named the account, whatever their outcome."""
        return self._accounts[did].sessions

    def refresh_count(self, did: str) -> int:
        """How many ``refreshSession`` calls the account's refresh tokens made successfully."""
        return self._accounts[did].refreshes

    def blobs(self, did: str) -> list[Blob]:
        """The blobs the account uploaded."""
        return list(self._blobs[did].values())

    # --- faults --------------------------------------------------------------------------------------

    def _server_error(self, status: int) -> web.Response:
        error, message = _SERVER_ERRORS.get(status, ("InternalServerError", "Internal Server Error"))
        return XrpcError(status, error, message).response()

    def _rate_limited(self, key: str) -> web.Response:
        windows = self.rate_limits.sessions if key == CREATE_SESSION else self.rate_limits.writes
        window = windows[0] if windows else Window(3000, 300)
        usage = _Usage(window, window.points + 1, self._epoch() + window.seconds)
        return XrpcError(429, "RateLimitExceeded", "Rate Limit Exceeded", usage.headers()).response()

    # --- serving -------------------------------------------------------------------------------------

    def app(self) -> web.Application:
        """The aiohttp application of the double."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.add_routes(
            [
                web.route("*", "/xrpc/{nsid}", self._xrpc),
                web.get(r"/{did:did:plc:[a-z2-7]+}", self._did_document),
                web.get("/profile/{handle}/post/{rkey}", self._post_page),
            ]
        )
        return app

    @contextlib.asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Run the double on ``host`` (a free port by default) and give its base URL."""
        async with self._serving(self.app(), host, port) as base_url:
            yield base_url

    async def _xrpc(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["nsid"]
        self.calls[method] += 1
        failed = await self._before(request, method)
        if failed is not None:
            return failed
        try:
            response = await self._dispatch(request, method)
        except XrpcError as error:
            response = error.response()
        response.headers.update(request.get(_HEADERS_KEY, {}))
        return await self._after(request, method, response)

    async def _dispatch(self, request: web.Request, method: str) -> web.StreamResponse:
        if self.rate_limits.enabled and self.rate_limits.per_ip is not None:
            self._throttle(request, f"ip {request.remote}", (self.rate_limits.per_ip,), 1)
        handler = self._routes.get((request.method, method))
        if handler is None:
            raise _invalid(f"No service configured for {method}")
        return await handler(request)

    async def _post_page(self, request: web.Request) -> web.StreamResponse:
        account = self._find(request.match_info["handle"])
        record = self._repos[account.did].get((POST, request.match_info["rkey"])) if account else None
        if account is None or record is None:
            raise web.HTTPNotFound(text="Post not found")
        handle, text = html.escape(account.handle), html.escape(str(record.value.get("text", "")))
        body = (
            f'<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>@{handle}</title></head>'
            f"<body><main><h1>@{handle}</h1><p>{text}</p></main></body></html>"
        )
        return web.Response(text=body, content_type="text/html")

    async def _did_document(self, request: web.Request) -> web.StreamResponse:
        self.calls[DID_DOCUMENT] += 1
        failed = await self._before(request, DID_DOCUMENT)
        if failed is not None:
            return failed
        did = request.match_info["did"]
        account = self._accounts.get(did)
        if account is None:
            response = web.json_response({"message": f"DID not registered: {did}"}, status=404)
        else:
            document = self.did_document(account, self._pds_url(request))
            response = web.json_response(document, content_type="application/did+ld+json")
        return await self._after(request, DID_DOCUMENT, response)

    def did_document(self, account: Account, pds_url: str) -> dict[str, Any]:
        """The account's DID document, naming ``pds_url`` as its PDS."""
        return {
            "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/suites/secp256k1-2019/v1"],
            "id": account.did,
            "alsoKnownAs": [f"at://{account.handle}"],
            "verificationMethod": [
                {
                    "id": "#atproto",
                    "type": "EcdsaSecp256k1VerificationKey2019",
                    "controller": account.did,
                    "publicKeyMultibase": account.signing_key,
                }
            ],
            "service": [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": pds_url}],
        }

    def _pds_url(self, request: web.Request) -> str:
        return self.public_url or f"{request.scheme}://{request.host}"

    # --- authentication and rate limits --------------------------------------------------------------

    def _authenticate(self, request: web.Request, kind: Literal["access", "refresh"] = "access") -> _Token:
        """Upstream's checks in upstream's order: a header, a Bearer scheme, a known token, unexpired, kind."""
        header = request.headers.get("Authorization", "").strip()
        if not header:
            raise XrpcError(401, "AuthMissing", "Authentication Required")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer":
            raise _invalid("Unexpected authorization type", "InvalidToken")
        token = self._tokens.get(value.strip())
        if token is None:
            raise _invalid("Token could not be verified", "InvalidToken")
        if token.expires_at <= self._epoch():
            raise _invalid("Token has expired", "ExpiredToken")
        if token.kind != kind:
            raise _invalid("Invalid token type", "InvalidToken")
        return token

    def _throttle(self, request: web.Request, key: str, windows: tuple[Window, ...], points: int) -> None:
        if not self.rate_limits.enabled:
            return
        usage = self._limiter.consume(key, windows, points, self._epoch())
        if usage is None:
            return
        previous: dict[str, str] = request.get(_HEADERS_KEY, {})
        if usage.exceeded:
            raise XrpcError(429, "RateLimitExceeded", "Rate Limit Exceeded", usage.headers())
        # Several limiters on one request (per IP, then per account): the headers of the tightest.
        if not previous or usage.remaining <= int(previous["RateLimit-Remaining"]):
            request[_HEADERS_KEY] = usage.headers()

    def _write(self, request: web.Request, token: _Token, method: str) -> None:
        self._throttle(request, f"writes {token.did}", self.rate_limits.writes, WRITE_POINTS[method])

    def _own_repo(self, token: _Token, repo: str) -> Account:
        account = self._find(repo)
        if account is None:
            raise XrpcError(403, "AccountNotFound", "Account not found")
        if account.did != token.did:
            raise XrpcError(401, "AuthenticationRequired", "Authentication Required")
        return account

    # --- endpoints: server and identity --------------------------------------------------------------

    async def _health(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"version": "unisson-double"})

    async def _create_session(self, request: web.Request) -> web.StreamResponse:
        body = await _json_body(request, "identifier", "password")
        identifier, password = _string(body, "identifier"), _string(body, "password")
        account = self._find(identifier)
        self._throttle(
            request, f"sessions {account.did if account else identifier.lower()}", self.rate_limits.sessions, 1
        )
        if account is not None:
            account.sessions += 1
        if self.login_seconds > 0:
            await asyncio.sleep(self.login_seconds)
        name = self._app_password_name(account, password)
        if account is None or name is None:
            raise XrpcError(401, "AuthenticationRequired", "Invalid identifier or password")
        return web.json_response(self._session_json(request, account, *self._issue(account, name)))

    @staticmethod
    def _app_password_name(account: Account | None, password: str) -> str | None:
        if account is None:
            return None
        return next((n for n, p in account.app_passwords.items() if secrets.compare_digest(p, password)), None)

    def _issue(self, account: Account, app_password: str, jti: str | None = None) -> tuple[str, str]:
        """A new access token and refresh token (with ``jti``, or a new one) for the account."""
        now = self._epoch()
        jti = jti or secrets.token_urlsafe(32)
        claims = {"aud": self.service_did, "sub": account.did, "iat": int(now)}
        access = jwt.encode(
            {"scope": "com.atproto.appPass", **claims, "exp": int(now + self.access_ttl)},
            self._secret,
            algorithm="HS256",
            headers={"typ": "at+jwt"},
        )
        refresh = jwt.encode(
            {"scope": "com.atproto.refresh", **claims, "jti": jti, "exp": int(now + self.refresh_ttl)},
            self._secret,
            algorithm="HS256",
            headers={"typ": "refresh+jwt"},
        )
        self._tokens[access] = _Token("access", account.did, now + self.access_ttl)
        self._tokens[refresh] = _Token("refresh", account.did, now + self.refresh_ttl, jti)
        self._grants.setdefault(jti, _RefreshGrant(account.did, app_password, now + self.refresh_ttl))
        return access, refresh

    def _session_json(self, request: web.Request, account: Account, access: str, refresh: str) -> dict[str, Any]:
        body: dict[str, Any] = {"accessJwt": access, "refreshJwt": refresh, **self._identity_json(account)}
        if self.session_did_doc:
            body["didDoc"] = self.did_document(account, self._pds_url(request))
        return body

    @staticmethod
    def _identity_json(account: Account) -> dict[str, Any]:
        return {
            "did": account.did,
            "handle": account.handle,
            "email": account.email,
            "emailConfirmed": False,
            "active": True,
        }

    async def _refresh_session(self, request: web.Request) -> web.StreamResponse:
        if await request.read():
            raise _invalid("A request body was provided when none was expected")
        token = self._authenticate(request, "refresh")
        account = self._accounts[token.did]
        grant = self._grants.get(token.jti or "")
        now = self._epoch()
        if grant is None or grant.expires_at <= now:
            raise _invalid("Token has been revoked", "ExpiredToken")
        # Upstream's rotation: the used token lives on for a grace period and always leads to the same next one.
        grant.expires_at = min(grant.expires_at, now + REFRESH_GRACE)
        grant.next_jti = grant.next_jti or secrets.token_urlsafe(32)
        account.refreshes += 1
        tokens = self._issue(account, grant.app_password, grant.next_jti)
        return web.json_response(self._session_json(request, account, *tokens))

    async def _get_session(self, request: web.Request) -> web.StreamResponse:
        account = self._accounts[self._authenticate(request).did]
        body = self._identity_json(account)
        if self.session_did_doc:
            body["didDoc"] = self.did_document(account, self._pds_url(request))
        return web.json_response(body)

    async def _resolve_handle(self, request: web.Request) -> web.StreamResponse:
        did = self._handles.get(_param(request, "handle").lower())
        if did is None:
            raise _invalid("Unable to resolve handle")
        return web.json_response({"did": did})

    # --- endpoints: records --------------------------------------------------------------------------

    async def _create_record(self, request: web.Request) -> web.StreamResponse:
        body = await _json_body(request, "repo", "collection", "record")
        rkey = body.get("rkey")
        if rkey is not None and (not isinstance(rkey, str) or not _RKEY_RE.fullmatch(rkey) or rkey in (".", "..")):
            raise _invalid(f'Invalid record key (got "{rkey}") at $.rkey')
        token = self._authenticate(request)
        self._write(request, token, CREATE_RECORD)
        account = self._own_repo(token, _string(body, "repo"))
        collection, record = _string(body, "collection"), body["record"]
        if not isinstance(record, dict):
            raise _invalid("Expected object value type at $.record")
        if record.get("$type") != collection:
            raise _invalid(f"Invalid $type: expected {collection}, got {_js(record.get('$type'))}")
        rkey = rkey or self._tid()
        if collection == POST:
            if not _TID_RE.fullmatch(rkey):
                raise _invalid(f'Invalid record key for {POST}: Invalid TID string (got "{rkey}") at $')
            check_post(record)
        self._check_blobs(account, record)
        return web.json_response(self._commit(account, collection, rkey, record))

    async def _put_record(self, request: web.Request) -> web.StreamResponse:
        body = await _json_body(request, "repo", "collection", "rkey", "record")
        token = self._authenticate(request)
        self._write(request, token, PUT_RECORD)
        account = self._own_repo(token, _string(body, "repo"))
        collection, rkey, record = _string(body, "collection"), _string(body, "rkey"), body["record"]
        if not isinstance(record, dict):
            raise _invalid("Expected object value type at $.record")
        if record.get("$type") != collection:
            raise _invalid(f"Invalid $type: expected {collection}, got {_js(record.get('$type'))}")
        repo = self._repos[account.did]
        existing = repo.get((collection, rkey))
        if "swapRecord" in body and body["swapRecord"] != (existing.cid if existing else None):
            raise _invalid(f"Record was at {existing.cid if existing else 'null'}", "InvalidSwap")
        if collection == POST:
            check_post(record)
        self._check_blobs(account, record)
        if existing is not None:  # overwritten: the old version stays in the history, as replaced
            existing.deleted_at = self.now()
            del repo[(collection, rkey)]
        return web.json_response(self._commit(account, collection, rkey, record))

    def profile(self, did: str) -> dict[str, Any] | None:
        """The account's ``app.bsky.actor.profile`` record as stored, if it has one."""
        record = self._repos[did].get((PROFILE, "self"))
        return record.value if record is not None else None

    def _check_blobs(self, account: Account, record: Mapping[str, Any]) -> None:
        uploaded = self._blobs[account.did]
        for link in _blob_links(record):
            if link not in uploaded:
                raise _invalid(f"Could not find blob: {link}", "BlobNotFound")

    def _commit(self, account: Account, collection: str, rkey: str, value: dict[str, Any]) -> dict[str, Any]:
        repo = self._repos[account.did]
        if (collection, rkey) in repo:
            # Upstream's storage refuses the duplicate key and the PDS answers a bare 500.
            raise XrpcError(500, "InternalServerError", "Internal Server Error")
        cid = _record_cid(value)
        record = Record(f"at://{account.did}/{collection}/{rkey}", cid, collection, rkey, value, self.now())
        repo[(collection, rkey)] = record
        self._history[account.did].append(record)
        commit = {"cid": self._commit_cid(record.cid), "rev": self._tid()}
        status = "valid" if collection == POST else "unknown"
        return {"uri": record.uri, "cid": cid, "commit": commit, "validationStatus": status}

    def _commit_cid(self, seed: str) -> str:
        return _cid(_DAG_CBOR, hashlib.sha256(seed.encode() + self._random.randbytes(8)).digest())

    async def _get_record(self, request: web.Request) -> web.StreamResponse:
        repo, collection, rkey = (_param(request, name) for name in ("repo", "collection", "rkey"))
        account = self._find(repo)
        if account is None:
            raise _invalid("Could not locate record")
        record = self._repos[account.did].get((collection, rkey))
        wanted_cid = request.query.get("cid")
        if record is None or (wanted_cid is not None and wanted_cid != record.cid):
            raise _invalid(f"Could not locate record: at://{account.did}/{collection}/{rkey}", "RecordNotFound")
        return web.json_response(record.json())

    async def _get_posts(self, request: web.Request) -> web.StreamResponse:
        """``{posts: [postView]}`` for the live posts among ``uris`` (at most 25), the others left out, as an
        AppView answers; no authentication (the public AppView needs none)."""
        uris = request.query.getall("uris", [])
        if not uris:
            raise _invalid('Params must have the property "uris"')
        if len(uris) > GET_POSTS_LIMIT:
            raise _invalid(f"uris must not have more than {GET_POSTS_LIMIT} elements")
        views = [view for uri in uris if (view := self._post_view(uri)) is not None]
        return web.json_response({"posts": views})

    def _post_view(self, uri: str) -> dict[str, Any] | None:
        did, _, rest = uri.removeprefix("at://").partition("/")
        collection, _, rkey = rest.partition("/")
        account = self._find(did)
        record = self._repos[account.did].get((collection, rkey)) if account and collection == POST else None
        if account is None or record is None:
            return None
        counts = self._counts.get(record.uri, {})
        return {
            "uri": record.uri,
            "cid": record.cid,
            "author": {"did": account.did, "handle": account.handle},
            "record": record.value,
            "indexedAt": record.created_at.isoformat().replace("+00:00", "Z"),
            **{name: counts.get(name, 0) for name in ("likeCount", "repostCount", "replyCount", "quoteCount")},
        }

    def set_counts(self, uri: str, *, likes: int = 0, reposts: int = 0, replies: int = 0, quotes: int = 0) -> None:
        """Sets what people did with a post, as the AppView will count it."""
        self._counts[uri] = {"likeCount": likes, "repostCount": reposts, "replyCount": replies, "quoteCount": quotes}

    async def _delete_record(self, request: web.Request) -> web.StreamResponse:
        body = await _json_body(request, "repo", "collection", "rkey")
        token = self._authenticate(request)
        self._write(request, token, DELETE_RECORD)
        account = self._own_repo(token, _string(body, "repo"))
        record = self._repos[account.did].pop((_string(body, "collection"), _string(body, "rkey")), None)
        if record is None:
            return web.json_response({})
        record.deleted_at = self.now()
        return web.json_response({"commit": {"cid": self._commit_cid(record.cid), "rev": self._tid()}})

    async def _list_records(self, request: web.Request) -> web.StreamResponse:
        repo, collection = _param(request, "repo"), _param(request, "collection")
        limit_text = request.query.get("limit", "50")
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= 100:
            raise _invalid("limit must be an integer from 1 to 100")
        account = self._find(repo)
        if account is None:
            raise _invalid(f"Could not find repo: {repo}")
        reverse = request.query.get("reverse", "").lower() == "true"
        cursor = request.query.get("cursor")
        chosen = sorted(
            (r for (c, k), r in self._repos[account.did].items() if c == collection),
            key=lambda r: r.rkey,
            reverse=not reverse,
        )
        if cursor:
            chosen = [r for r in chosen if (r.rkey > cursor if reverse else r.rkey < cursor)]
        page = chosen[: int(limit_text)]
        body: dict[str, Any] = {"records": [r.json() for r in page]}
        if page:
            body["cursor"] = page[-1].rkey
        return web.json_response(body)

    # --- endpoints: blobs ----------------------------------------------------------------------------

    async def _upload_blob(self, request: web.Request) -> web.StreamResponse:
        token = self._authenticate(request)
        declared = request.content_length
        if declared is not None and declared > self.blob_limit:
            raise self._blob_too_large(declared)
        digest, head, size = hashlib.sha256(), b"", 0
        # Streamed: only the hash, the first bytes (for the type) and the size are kept.
        async for chunk in request.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size <= self.blob_limit:
                digest.update(chunk)
                head = head if len(head) >= 16 else (head + chunk)[:16]
        if size > self.blob_limit:
            raise self._blob_too_large(size)
        blob = Blob(_cid(_RAW, digest.digest()), _sniff(head, request.headers.get("Content-Type")), size)
        self._blobs[token.did][blob.cid] = blob
        return web.json_response({"blob": blob.json()})

    def _blob_too_large(self, size: int) -> XrpcError:
        if self.blob_limit_answer == "payload_too_large":
            return XrpcError(413, "PayloadTooLarge", "request entity too large")
        message = f"This file is too large. It is {_pretty_size(size)} but the maximum size is "
        return XrpcError(400, "BlobTooLarge", message + f"{_pretty_size(self.blob_limit)}.")


# --- running it alone ------------------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sandbox.bluesky", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2583, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    parser.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="HANDLE:APP-PASSWORD",
        help="create an account with this app password; repeatable",
    )
    parser.add_argument(
        "--towns", type=int, default=0, metavar="N", help="also create N accounts ville-1.test … ville-N.test"
    )
    parser.add_argument("--password", default="aaaa-bbbb-cccc-dddd", help="the app password of --towns accounts")
    return parser.parse_args(argv)


async def _run(args: argparse.Namespace) -> None:
    double = BlueskyDouble()
    if args.latency > 0:
        double.inject("latency", count=None, seconds=args.latency)
    accounts = {}
    for spec in args.account:
        handle, _, app_password = spec.partition(":")
        accounts[handle] = double.add_account(handle, app_password or secrets.token_hex(8))
    for number in range(1, args.towns + 1):
        accounts[f"ville-{number}.test"] = double.add_account(f"ville-{number}.test", args.password)
    async with double.serve(args.host, args.port) as base_url:
        print(json.dumps({"base_url": base_url, "plc_url": base_url, "accounts": accounts}), flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    """Run the double alone until interrupted; print its base URL and the accounts' DIDs as one JSON line."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(_parse_args(argv)))


if __name__ == "__main__":
    main()
