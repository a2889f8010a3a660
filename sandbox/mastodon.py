"""A test double of the Mastodon client API.

No real Mastodon server installs from the package registries this project can use, so tests, benchmarks and
the local demo talk to this double instead. It is **not** Mastodon: it is an in-memory aiohttp server that
follows Mastodon's documented API and behaviour point by point, as listed below. Anything not listed is not
reproduced. Points marked "(unverified)" were read from Mastodon's source or docs but not checked against a
running server; error wordings not quoted in the platform facts are also unverified.

It has two personalities (:class:`Personality`): ``MASTODON`` (the default, points 1-14) and ``TAKAHE``, a
server that implements the same client API without Mastodon's guarantees (points T1-T2, measured against
Takahē 0.11 as listed in the platform facts, "Mastodon-API servers that are not Mastodon"; point T3, a server
that ignores ``scheduled_at``, as the hub's pre-staging must expect). Everything not named in points T1-T3 is
the same in both.

Points reproduced
-----------------
1. ``GET /api/v2/instance``: ``configuration.statuses {max_characters, max_media_attachments,
   characters_reserved_per_url}`` and ``configuration.media_attachments {description_limit,
   image_size_limit, image_matrix_limit, video_size_limit, supported_mime_types, ...}``. The limit is per
   server: ``MastodonDouble(max_characters=...)``. ``version`` is ``"4.3.0"``, ``source_url`` Mastodon's
   repository; NodeInfo (``/.well-known/nodeinfo`` → ``/nodeinfo/2.0``) names the software ``mastodon``.
2. Length of a status = grapheme clusters of ``spoiler_text + text``, where in ``text`` each ``http(s)://``
   URL counts ``characters_reserved_per_url`` (23) whatever its length, bare domains are not shortened, and
   ``@user@domain`` counts as ``@user``. Over the limit: 422 ``Validation failed: Text character limit of
   500 exceeded``. Blank text without media: 422 ``Validation failed: Text can't be blank``. A blank text
   with a spoiler takes the spoiler as its text (Mastodon 3.x-4.2; newer versions fill in a placeholder —
   unverified). URL and mention recognition approximates twitter-text's rules (trailing punctuation is not
   part of a URL; a mention followed by ``@`` or ``://`` is not one) — edge cases unverified.
3. ``Idempotency-Key`` on ``POST /api/v1/statuses``: per account, kept 3,600 s after a successful create,
   checked before any validation. A replay answers 200 with the original (same id) and ignores the new body;
   if the original was scheduled, the ScheduledStatus; if the original was deleted (or the scheduled one
   since published or cancelled), 404 ``Record not found``. A 422 stores nothing. Concurrent requests with
   one key are serialised (upstream: a Redis lock). Note: upstream's code looks the duplicate up among
   statuses only, so a replay of a scheduled post may answer 404 there (unverified); the double returns the
   ScheduledStatus, as documented.
4. ``scheduled_at``: at or before now, posted at once (Status); within 5 minutes (inclusive), 422; later, 200
   with a ScheduledStatus ``{id, scheduled_at, params, media_attachments}``; 422 past 25 pending on the same
   UTC day or 300 pending in total. A scheduled post whose text is invalid gets upstream's bare 422 ``Record
   invalid`` (unverified). ``GET /api/v1/scheduled_statuses[/:id]``,
   ``DELETE /api/v1/scheduled_statuses/:id``.
   Due scheduled posts are published **both** on access (every request first publishes what is due) and by
   a background task of the running double (every ``scheduler_interval`` seconds), and by
   :meth:`MastodonDouble.advance`. The published status's ``created_at`` is the moment it is published; the
   scheduled status is gone from then on (its ``GET`` and ``DELETE`` answer 404, as upstream's worker destroys
   it). Test knobs: ``minimum_schedule_offset`` (300 s, Mastodon's 5 minutes, by default) lets a test schedule
   a few seconds ahead; ``scheduled_daily_limit`` and ``scheduled_total_limit`` (25 and 300) the limits;
   ``scheduler_stuck`` holds every due scheduled status back (a server whose job queue is stuck).
5. Rate limits, fixed windows aligned on the epoch like Rack::Attack: 300 requests per 5 min per token,
   1,500 per 5 min per user, media uploads 30 per 30 min, status deletes 30 per 30 min, and status creation
   300 per 3 h per account (a refused creation is not counted). Every response to a valid token carries
   ``X-RateLimit-Limit/-Remaining/-Reset`` (Reset: ISO 8601 UTC, end of the window) for the most limited
   window — for ``POST /api/v1/statuses`` the status-creation window. Over a limit: 429 ``{"error": "Too
   many requests"}``, Remaining 0, no Retry-After. Windows are configurable (:class:`RateLimits`). Upstream
   exempts loopback; the double does not (it only ever runs on loopback). Unauthenticated
   ``/api/v2/instance`` is not limited.
6. Media: ``POST /api/v2/media`` (multipart ``file``, ``description`` at most 1,500 characters, ``focus``
   ``"x,y"``): still images 200 with a ``url``; video, audio and GIF (served as ``gifv``) 202 with ``url:
   null``; ``GET /api/v1/media/:id`` 206 while processing, 200 when done (processing time configurable).
   ``POST /api/v1/media`` answers 200 either way. Posting with media still processing: 422 ``Cannot attach
   files that have not finished processing. Try again in a moment!``; unknown, foreign or already attached
   ids: 422; more than 4 ids: 422; a video with other media: 422. Size limits: 16 MiB images, 99 MiB others;
   unsupported type 422 (wordings unverified).
7. ``DELETE /api/v1/statuses/:id``: 200 with the status plus its source ``text``; missing, deleted or not
   yours: 404 ``{"error": "Record not found"}``. ``GET /api/v1/statuses/:id`` (token optional; private
   statuses only to their author).
   ``GET /api/v1/accounts/:id/statuses`` (token optional): newest first; ``limit`` 20 by default, at most
   40; ``max_id`` (older than), ``since_id`` (newer than), ``min_id`` (the oldest ones just after it, still
   listed newest first); ``only_media``; ``pinned=true`` gives the pinned statuses (point 14); ``exclude_replies``
   leaves out replies to other accounts but keeps an account's replies to itself (threads), as upstream's
   ``without_replies`` scope (unverified); ``exclude_reblogs`` is accepted (there are no boosts here). The
   author sees every visibility, anyone else public and unlisted only; deleted statuses never. A ``Link``
   header gives the ``next`` (older) and ``prev`` (newer) pages. A token is only checked when given: app-only
   tokens and disabled logins may read, as upstream's ``authorize_if_got_token!`` allows. Unknown account:
   404. ``tagged`` is not reproduced.
8. Auth: missing or unknown token 401 ``The access token is invalid``; revoked 401 ``The access token was
   revoked``; missing scope 403 ``This action is outside the authorized scopes`` (``write`` covers
   ``write:statuses``...); app-only token on a user endpoint 422 ``This method requires an authenticated
   user``; disabled account 403 ``Your login is currently disabled``. ``GET
   /api/v1/accounts/verify_credentials``.
9. Each status has ``id`` (numeric string, increasing), ``uri``, ``url`` (``http://HOST/@user/ID``, a plain
   HTML page of the status for anyone when it is public or unlisted, else 404, as upstream's web page),
   ``created_at``, ``content`` (escaped HTML paragraphs; URLs linked with their scheme in a hidden span,
   mentions as ``@<span>user</span>`` without their server, hashtags as links — as upstream renders them,
   though simpler), no ``text`` (only a delete's answer carries the source),
   ``language`` (unknown codes fall back to the account's default, then ``en``), ``visibility``
   (public|unlisted|private|direct, default public), ``spoiler_text``, ``sensitive``, ``media_attachments``,
   ``account``, ``in_reply_to_id``, ``in_reply_to_account_id`` and ``replies_count`` (replies not deleted).
   ``in_reply_to_id`` on ``POST /api/v1/statuses`` makes a reply; the status replied to must exist, not be
   deleted and be visible to the poster, else 404 ``The post you are trying to reply to does not appear to
   exist.`` (upstream's ``set_thread``, checked before the Idempotency-Key's replay; wording unverified). A
   scheduled reply keeps ``in_reply_to_id`` in its ``params``.
10. Errors are JSON ``{"error": "..."}``; injected 5xx imitate a proxy's HTML page.
11. OAuth 2 (apps, consent page, codes with PKCE, tokens, revocation, the well-known document): the points are
    listed in :mod:`sandbox.mastodon_oauth`. ``verify_credentials`` accepts ``profile`` (4.3+) or
    ``read:accounts``.
12. Counts: ``favourites_count``, ``reblogs_count``, ``replies_count``, ``quotes_count`` (set by tests with
   :meth:`MastodonDouble.set_counts`; boosts raise ``reblogs_count``). ``GET /api/v1/statuses?id[]=…``
   (Mastodon 4.3+): the visible ones, the others left out, at most 20 ids (422 past them: upstream's cap is
   unverified); not on the ``TAKAHE`` personality (404). A token read needs ``read:statuses`` (403
   otherwise); with :attr:`MastodonDouble.anonymous_api` False, a read without a token is refused 401 ``This
   API requires an authenticated user`` (a server with ``DISALLOW_UNAUTHENTICATED_API_ACCESS``).
13. ``POST /api/v1/statuses/:id/reblog``: one boost per account and status (again: the same boost, not
   counted), counted in the 300 statuses per 3 hours (429 past them); ``/unreblog`` (nothing to undo: not an
   error) counted with the deletes, 30 per 30 minutes. :meth:`MastodonDouble.reblogged` is the truth.
14. Pins (both personalities; unverified for Takahē): ``POST /api/v1/statuses/:id/pin`` and ``/unpin`` need
    ``write:accounts`` (403 otherwise, point 8) and answer the status with ``pinned``. A status missing,
    deleted or not visible: 404; someone else's: 422 ``Validation failed: Someone else's post cannot be
    pinned``; a direct one: 422 ``Validation failed: Posts that are only visible to mentioned users cannot be
    pinned``; at most ``max_pinned_statuses`` (5, also in ``/api/v2/instance``
    ``configuration.accounts``) pinned per account, then 422 ``Validation failed: You have already pinned
    the maximum number of posts``; pinning a pinned status: 422 ``Duplicate record`` (upstream's
    ``RecordNotUnique`` handler; unverified). Unpinning a status not pinned answers it all the same. A deleted
    status loses its pin. ``GET /api/v1/statuses/:id`` shows ``pinned`` to its author only;
    ``GET /api/v1/accounts/:id/statuses?pinned=true`` lists the pinned statuses, newest pin first.

The ``TAKAHE`` personality differs in these points only:

T1. Behaviour: ``Idempotency-Key`` is ignored (the same request twice makes two statuses; point 3 does not
    apply); a status's ``text`` holds its rendered HTML (the same as ``content``, also in a delete's answer);
    ``language`` is ``null``; no ``X-RateLimit-*`` header on any answer (a configured window still answers 429,
    without headers); still images are processed at once and converted to WebP (their ``url`` ends in
    ``.webp``). ``/api/v2/instance``: ``version`` ``"takahe/0.11.0"``, ``source_url`` Takahē's repository, no
    ``description_limit``, 10 MiB images, ``video_size_limit`` 0; NodeInfo names the software ``takahe``.
T2. Errors: an unknown or revoked token 400 text/html ``Invalid Bearer token``; missing scope 403
    ``{"error": "out_of_scope_for_token"}``; text too long 400 ``{"error": "Status is too long"}``; an unknown
    media id on a post 404 with Django's HTML "Not Found" page; a missing status (get, delete, or replied to
    — unverified) or account the same page; no token at all, even on an account's statuses, 401
    ``{"error": "identity_token_required"}`` (unverified beyond the statuses list). Other errors (app-only
    token, disabled account, media still processing...) keep Mastodon's answers (unverified for Takahē).
T3. ``scheduled_at`` is ignored: the post is published at once and the answer is a Status (``url``,
    ``created_at``), not a ScheduledStatus; ``/api/v1/scheduled_statuses[/:id]`` answer 404 with Django's HTML
    "Not Found" page (unverified: some Mastodon-API servers are reported to behave so, the platform facts do not
    name one).

For tests (see :class:`MastodonDouble`): accounts and tokens, revocation, disabled accounts, server-side
truth of what was posted, a movable clock, and fault injection switchable at run time (latency, 5xx by
count or fraction, timeouts that hold then drop, forced 429, "commit then drop the response").

Run alone: ``python -m sandbox.mastodon --port 3000 --account mairie-a:TOKEN [--personality takahe]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import heapq
import html
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import regex
from aiohttp import BodyPartReader, web
from multidict import MultiDictProxy

from hub.locks import KeyedLocks
from sandbox.faults import Fault as Fault
from sandbox.faults import FaultInjection
from sandbox.faults import FaultKind as FaultKind
from sandbox.mastodon_oauth import OAuthProvider

# --- length counting ---------------------------------------------------------------------------------

# twitter-text refuses a URL glued to a letter, digit, @, $ or # before it.
_URL_RE = regex.compile(r"(?<![A-Za-z0-9@＠$#＃])https?://[\w\-]+(?:\.[\w\-]+)*(?::\d+)?(?:[/?#][^\s<>\"]*)?", regex.I)
# A URL may not end in punctuation: "see https://a.fr/x." links "https://a.fr/x".
_URL_TRAILING_RE = regex.compile(r"[^\w=#/+\-&)]+$")
# Mastodon's Account::MENTION_RE.
_MENTION_RE = regex.compile(
    r"(?<![=/\w])@(([a-z0-9_]+(?:[.\-]+[a-z0-9_]+)*)(?:@\w+(?:[.\-]+\w+)*)?)", regex.I | regex.V0
)
# twitter-text's end_mention_match: "@a@" or "@a://" is not a mention.
_MENTION_END_RE = regex.compile(r"[@＠À-ÖØ-öø-ÿ]|://")
_GRAPHEME_RE = regex.compile(r"\X")
_HASHTAG_RE = regex.compile(r"(?<![=/\w#])#(\w*[\p{L}_]\w*)")
_PARAGRAPH_BREAK_RE = regex.compile(r"\n{2,}")
_LANGUAGE_RE = regex.compile(r"[a-z]{2,3}")


@dataclass(frozen=True)
class _Entity:
    start: int
    end: int
    replacement: str


def _url_entities(text: str, url_length: int) -> list[_Entity]:
    found = []
    for match in _URL_RE.finditer(text):
        url = _trim_url(match.group())
        found.append(_Entity(match.start(), match.start() + len(url), "x" * url_length))
    return found


def _trim_url(url: str) -> str:
    """Drop trailing punctuation and unbalanced closing parentheses, as twitter-text does."""
    while True:
        trimmed = _URL_TRAILING_RE.sub("", url)
        if trimmed.endswith(")") and trimmed.count("(") < trimmed.count(")"):
            trimmed = trimmed[:-1]
        if trimmed == url:
            return url
        url = trimmed


def _mention_entities(text: str) -> list[_Entity]:
    found = []
    for match in _MENTION_RE.finditer(text):
        if _MENTION_END_RE.match(text, match.end()):
            continue
        found.append(_Entity(match.start(), match.end(), "@" + match.group(2)))
    return found


def _without_overlaps(entities: Iterable[_Entity]) -> list[_Entity]:
    kept: list[_Entity] = []
    for entity in sorted(entities, key=lambda e: e.start):
        if not kept or entity.start >= kept[-1].end:
            kept.append(entity)
    return kept


def countable_text(text: str, url_length: int = 23) -> str:
    """``text`` as Mastodon counts it: URLs replaced by ``url_length`` characters, mentions by ``@user``."""
    entities = _without_overlaps(_url_entities(text, url_length) + _mention_entities(text))
    parts, position = [], 0
    for entity in entities:
        parts.append(text[position : entity.start])
        parts.append(entity.replacement)
        position = entity.end
    parts.append(text[position:])
    return "".join(parts)


def status_length(text: str, spoiler_text: str = "", url_length: int = 23) -> int:
    """The length Mastodon checks against ``max_characters``: graphemes of spoiler + countable text."""
    return len(_GRAPHEME_RE.findall(spoiler_text + countable_text(text, url_length)))


# --- model -------------------------------------------------------------------------------------------

VISIBILITIES = ("public", "unlisted", "private", "direct")
STILL_IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic", "image/heif", "image/avif")
PROCESSED_TYPES = (
    "image/gif",
    "video/webm",
    "video/mp4",
    "video/quicktime",
    "video/ogg",
    "audio/wave",
    "audio/wav",
    "audio/x-wav",
    "audio/ogg",
    "audio/vorbis",
    "audio/mpeg",
    "audio/mp3",
    "audio/webm",
    "audio/flac",
    "audio/aac",
    "audio/m4a",
    "audio/x-m4a",
    "audio/mp4",
)
_MAGIC = (
    (b"\x89PNG", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"OggS", "audio/ogg"),
    (b"ID3", "audio/mpeg"),
    (b"\x1aE\xdf\xa3", "video/webm"),
)
MiB = 1024 * 1024


@dataclass
class Account:
    """A local account of the double."""

    id: str
    username: str
    display_name: str
    created_at: datetime
    default_language: str | None = None
    disabled: bool = False


@dataclass
class Token:
    """An OAuth access token; ``account`` is None for an app-only (client credentials) token."""

    value: str
    account: Account | None
    scopes: frozenset[str]
    revoked: bool = False

    def allows(self, scope: str) -> bool:
        """True if the token holds ``scope`` or its parent (``write`` covers ``write:statuses``); alternatives
        are separated by ``|`` (``profile|read:accounts``)."""
        return any(one in self.scopes or one.split(":")[0] in self.scopes for one in scope.split("|"))


@dataclass
class MediaAttachment:
    """An uploaded file; ``kind`` is image, gifv, video or audio."""

    id: str
    account_id: str
    kind: str
    content_type: str
    size: int
    description: str | None
    focus: tuple[float, float] | None
    ready_at: float
    base: str
    status_id: str | None = None
    scheduled_status_id: str | None = None

    def processed(self, now: float) -> bool:
        """True once processing is over (images are processed at upload)."""
        return now >= self.ready_at

    @property
    def attached(self) -> bool:
        """True once the media belongs to a status or a scheduled status."""
        return self.status_id is not None or self.scheduled_status_id is not None


@dataclass
class Status:
    """A published status, kept after deletion (``deleted_at``) as server-side truth for tests."""

    id: str
    account: Account
    text: str
    spoiler_text: str
    visibility: str
    language: str
    sensitive: bool
    media: list[MediaAttachment]
    created_at: datetime
    base: str
    idempotency_key: str | None = None
    scheduled_status_id: str | None = None
    deleted_at: datetime | None = None
    #: What people did with it (set by tests with :meth:`MastodonDouble.set_counts`).
    favourites_count: int = 0
    reblogs_count: int = 0
    replies_count: int = 0
    quotes_count: int = 0
    in_reply_to_id: str | None = None
    in_reply_to_account_id: str | None = None

    @property
    def url(self) -> str:
        """The public page of the status, ``http://HOST/@user/ID``."""
        return f"{self.base}/@{self.account.username}/{self.id}"

    @property
    def uri(self) -> str:
        """The ActivityPub id of the status."""
        return f"{self.base}/users/{self.account.username}/statuses/{self.id}"


@dataclass
class ScheduledStatus:
    """A status waiting for ``scheduled_at``; ``params`` are the request's, as upstream stores them."""

    id: str
    account: Account
    scheduled_at: datetime
    params: dict[str, Any]
    media: list[MediaAttachment]
    base: str
    idempotency_key: str | None = None
    published_status_id: str | None = None
    cancelled: bool = False

    @property
    def pending(self) -> bool:
        """True while neither published nor cancelled."""
        return self.published_status_id is None and not self.cancelled


@dataclass(frozen=True)
class Window:
    """A rate-limit window: at most ``limit`` requests per ``period`` seconds."""

    limit: int
    period: float


@dataclass(frozen=True)
class RateLimits:
    """Rate-limit windows; the defaults are Mastodon's. Tests pass small ones."""

    per_token: Window = Window(300, 300)
    per_user: Window = Window(1500, 300)
    media: Window = Window(30, 1800)
    deletes: Window = Window(30, 1800)
    statuses: Window = Window(300, 3 * 3600)
    enabled: bool = True


CREATE_STATUS = "POST /api/v1/statuses"
DELETE_STATUS = "DELETE /api/v1/statuses/{id}"
UPLOAD_MEDIA = "POST /api/v2/media"


# --- errors and rendering ----------------------------------------------------------------------------

INVALID_TOKEN = "The access token is invalid"
REVOKED_TOKEN = "The access token was revoked"
OUT_OF_SCOPE = "This action is outside the authorized scopes"
USER_REQUIRED = "This method requires an authenticated user"
#: A server with ``DISALLOW_UNAUTHENTICATED_API_ACCESS`` (Api::BaseController#require_authenticated_user!).
API_REQUIRES_USER = "This API requires an authenticated user"
LOGIN_DISABLED = "Your login is currently disabled"
NOT_FOUND = "Record not found"
#: ``statuses.errors.in_reply_not_found`` in upstream's locale (wording unverified).
REPLY_NOT_FOUND = "The post you are trying to reply to does not appear to exist."
TAKAHE_BAD_TOKEN = "Invalid Bearer token"
TAKAHE_OUT_OF_SCOPE = "out_of_scope_for_token"
TAKAHE_TOO_LONG = "Status is too long"
TAKAHE_TOKEN_REQUIRED = "identity_token_required"
# Django's page for an unknown URL or object when DEBUG is off.
DJANGO_NOT_FOUND = (
    '<!doctype html>\n<html lang="en">\n<head>\n  <title>Not Found</title>\n</head>\n<body>\n  <h1>Not Found</h1>'
    "<p>The requested resource was not found on this server.</p>\n</body>\n</html>\n"
)
TOO_MANY_REQUESTS = "Too many requests"
MEDIA_NOT_READY = "Cannot attach files that have not finished processing. Try again in a moment!"


class ApiError(Exception):
    """An error answer of the API: ``{"error": message}`` with an HTTP status, or ``message`` as a text/html
    page when ``html`` (as Django answers outside Takahē's JSON views)."""

    def __init__(
        self, status: int, message: str, headers: Mapping[str, str] | None = None, *, html: bool = False
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = message
        self.headers = dict(headers or {})
        self.html = html

    def response(self) -> web.Response:
        """The JSON (or HTML) response for this error."""
        if self.html:
            return web.Response(status=self.status, text=self.error, content_type="text/html", headers=self.headers)
        return web.json_response({"error": self.error}, status=self.status, headers=self.headers)


@dataclass(frozen=True)
class Personality:
    """Where Mastodon-API servers differ, how this double behaves (points T1-T3 of the module docstring)."""

    #: NodeInfo ``software.name`` and ``software.version``.
    software: str
    software_version: str
    #: ``/api/v2/instance`` ``version`` and ``source_url``.
    version: str
    source_url: str
    honours_idempotency: bool = True
    #: True: a status's ``text`` holds its rendered HTML (Takahē); False: ``text`` only in a delete's answer.
    html_in_text: bool = False
    keeps_language: bool = True
    rate_limit_headers: bool = True
    #: True: Mastodon's error statuses and wordings; False: Takahē's (point T2).
    mastodon_errors: bool = True
    #: The type still images are converted to at upload (None: kept as sent).
    converts_images_to: str | None = None
    image_size_limit: int = 16 * 1024 * 1024
    video_size_limit: int = 99 * 1024 * 1024
    lists_description_limit: bool = True
    #: ``GET /api/v1/statuses?id[]=`` (Mastodon 4.3+) answers several statuses at once.
    batch_statuses: bool = True
    #: ``scheduled_at`` makes a scheduled status (point 4); False: it is ignored, the post published at once (T3).
    honours_scheduled_at: bool = True


MASTODON = Personality("mastodon", "4.3.0", "4.3.0", "https://github.com/mastodon/mastodon")
TAKAHE = Personality(
    "takahe",
    "0.11.0",
    "takahe/0.11.0",
    "https://github.com/jointakahe/takahe",
    honours_idempotency=False,
    html_in_text=True,
    keeps_language=False,
    rate_limit_headers=False,
    mastodon_errors=False,
    converts_images_to="image/webp",
    image_size_limit=10 * 1024 * 1024,
    video_size_limit=0,
    lists_description_limit=False,
    batch_statuses=False,
    honours_scheduled_at=False,
)
#: The ids ``GET /api/v1/statuses`` takes at once (upstream's cap is not documented: assumed 20).
BATCH_STATUSES = 20
PERSONALITIES = {"mastodon": MASTODON, "takahe": TAKAHE}


def _invalid(*messages: str) -> ApiError:
    return ApiError(422, "Validation failed: " + ", ".join(messages))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _iso6(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _content_html(text: str) -> str:
    """Escaped paragraphs with linked URLs, mentions and hashtags, the way upstream renders them: a link's
    ``https://`` in a hidden span, a mention as ``@<span>user</span>`` (its server left out), a hashtag as a link."""
    paragraphs = [p for p in _PARAGRAPH_BREAK_RE.split(text.strip()) if p]
    return "".join(f"<p>{_linked(p).replace(chr(10), '<br />')}</p>" for p in paragraphs)


def _linked(text: str) -> str:
    entities = _url_entities(text, 0) + _mention_entities(text) + _hashtag_entities(text)
    parts, position = [], 0
    for entity in _without_overlaps(entities):
        parts.append(html.escape(text[position : entity.start], quote=False))
        parts.append(_rendered(text[entity.start : entity.end]))
        position = entity.end
    parts.append(html.escape(text[position:], quote=False))
    return "".join(parts)


def _hashtag_entities(text: str) -> list[_Entity]:
    return [_Entity(m.start(), m.end(), "") for m in _HASHTAG_RE.finditer(text)]


def _rendered(entity: str) -> str:
    """The HTML of one URL, mention or hashtag of a status."""
    if entity.startswith("#"):
        tag = html.escape(entity[1:])
        return f'<a href="/tags/{tag}" class="mention hashtag" rel="tag">#<span>{tag}</span></a>'
    if entity.startswith("@"):
        user = html.escape(entity[1:].split("@")[0])
        link = f'<a href="/@{user}" class="u-url mention">@<span>{user}</span></a>'
        return f'<span class="h-card" translate="no">{link}</span>'
    href = html.escape(entity)
    scheme, _, rest = href.partition("://")
    return (
        f'<a href="{href}" rel="nofollow noopener noreferrer" target="_blank" translate="no">'
        f'<span class="invisible">{scheme}://</span><span class="">{rest}</span></a>'
    )


def _account_json(account: Account, base: str) -> dict[str, Any]:
    return {
        "id": account.id,
        "username": account.username,
        "acct": account.username,
        "display_name": account.display_name,
        "locked": False,
        "bot": False,
        "group": False,
        "created_at": _iso(account.created_at),
        "note": "",
        "url": f"{base}/@{account.username}",
        "avatar": f"{base}/avatars/original/missing.png",
        "header": f"{base}/headers/original/missing.png",
        "followers_count": 0,
        "following_count": 0,
        "statuses_count": 0,
        "emojis": [],
        "fields": [],
    }


def _media_json(media: MediaAttachment, now: float) -> dict[str, Any]:
    ready = media.processed(now)
    extension = media.content_type.split("/")[-1]
    path = f"{media.base}/system/media_attachments/files/{media.id}"
    meta: dict[str, Any] = {}
    if media.focus is not None:
        meta["focus"] = {"x": media.focus[0], "y": media.focus[1]}
    return {
        "id": media.id,
        "type": media.kind,
        "url": f"{path}/original/{media.id}.{extension}" if ready else None,
        "preview_url": f"{path}/small/{media.id}.png" if ready else None,
        "remote_url": None,
        "text_url": None,
        "meta": meta,
        "description": media.description,
        "blurhash": None,
    }


def _status_json(status: Status, now: float) -> dict[str, Any]:
    return {
        "id": status.id,
        "uri": status.uri,
        "url": status.url,
        "created_at": _iso(status.created_at),
        "edited_at": None,
        "content": _content_html(status.text),
        "spoiler_text": status.spoiler_text,
        "sensitive": status.sensitive,
        "visibility": status.visibility,
        "language": status.language,
        "in_reply_to_id": status.in_reply_to_id,
        "in_reply_to_account_id": status.in_reply_to_account_id,
        "reblog": None,
        "replies_count": status.replies_count,
        "reblogs_count": status.reblogs_count,
        "favourites_count": status.favourites_count,
        "quotes_count": status.quotes_count,
        "media_attachments": [_media_json(m, now) for m in status.media],
        "mentions": [],
        "tags": [],
        "emojis": [],
        "card": None,
        "poll": None,
        "account": _account_json(status.account, status.base),
    }


def _scheduled_json(scheduled: ScheduledStatus, now: float) -> dict[str, Any]:
    return {
        "id": scheduled.id,
        "scheduled_at": _iso(scheduled.scheduled_at),
        "params": scheduled.params,
        "media_attachments": [_media_json(m, now) for m in scheduled.media],
    }


_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


def _proxy_page(status: int) -> web.Response:
    """The HTML page a reverse proxy answers when the application behind it fails."""
    title = f"{status} {_REASONS.get(status, 'Error')}"
    body = f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
    return web.Response(
        status=status,
        text=body + "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
        content_type="text/html",
    )


# --- rate limiting -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Usage:
    window: Window
    count: int
    reset: float

    @property
    def remaining(self) -> int:
        return max(0, self.window.limit - self.count)

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.window.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": _iso6(self.reset),
        }


class _Counters:
    """Fixed-window counters aligned on the epoch, one slot per (name, subject): O(1), bounded memory."""

    def __init__(self) -> None:
        self._slots: dict[tuple[str, str], tuple[int, int]] = {}

    def peek(self, name: str, subject: str, window: Window, now: float) -> _Usage:
        index = int(now // window.period)
        slot_index, count = self._slots.get((name, subject), (index, 0))
        return _Usage(window, count if slot_index == index else 0, (index + 1) * window.period)

    def hit(self, name: str, subject: str, window: Window, now: float) -> _Usage:
        usage = self.peek(name, subject, window, now)
        self._slots[(name, subject)] = (int(now // window.period), usage.count + 1)
        return _Usage(window, usage.count + 1, usage.reset)


@dataclass
class _Remembered:
    kind: Literal["status", "scheduled"]
    target_id: str
    expires_at: float


@dataclass
class _StatusParams:
    text: str
    spoiler_text: str
    media_ids: list[str] | None
    language: str | None
    visibility: str | None
    scheduled_at: str | None
    sensitive: bool | None
    in_reply_to_id: str | None = None

    def as_scheduled_params(self, language: str) -> dict[str, Any]:
        """The ``params`` object of a ScheduledStatus."""
        return {
            "text": self.text,
            "spoiler_text": self.spoiler_text or None,
            "media_ids": self.media_ids,
            "sensitive": self.sensitive,
            "visibility": self.visibility or "public",
            "language": language,
            "scheduled_at": None,
            "poll": None,
            "idempotency": None,
            "in_reply_to_id": self.in_reply_to_id,
            "application_id": None,
            "with_rate_limit": False,
        }


_HEADERS_KEY = web.RequestKey("rate_limit_headers", dict)


def _route_key(request: web.Request) -> str:
    """What a fault's ``on`` names: the method and the route, ``"POST /api/v1/statuses"``."""
    route = request.match_info.route.resource
    return f"{request.method} {route.canonical if route is not None else request.path}"


def _truthy(value: object) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("1", "true", "t", "on", "yes")


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


async def _read_status_params(request: web.Request) -> _StatusParams:
    """Read a form (urlencoded or multipart) or JSON body the way Rails merges parameters."""
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(400, "Error occurred while parsing request parameters") from None
        if not isinstance(body, dict):
            raise ApiError(400, "Error occurred while parsing request parameters")
        ids = body.get("media_ids")
        media_ids = [str(i) for i in ids] if isinstance(ids, list) else None
        return _params_from(body, media_ids)
    form: MultiDictProxy[Any] = await request.post()
    # Rails only reads an array from "media_ids[]"; a plain "media_ids" string is ignored upstream.
    media_ids = [str(i) for i in form.getall("media_ids[]", [])] or None
    return _params_from(form, media_ids)


def _params_from(source: Mapping[str, Any], media_ids: list[str] | None) -> _StatusParams:
    return _StatusParams(
        text=str(source.get("status") or ""),
        spoiler_text=str(source.get("spoiler_text") or ""),
        media_ids=media_ids,
        language=_optional_str(source.get("language")),
        visibility=_optional_str(source.get("visibility")),
        scheduled_at=_optional_str(source.get("scheduled_at")),
        sensitive=_truthy(source.get("sensitive")),
        in_reply_to_id=_optional_str(source.get("in_reply_to_id")) or None,
    )


def _limit_param(value: str | None, *, default: int) -> int:
    """Upstream's ``limit_param``: the default when absent, else ``|to_i|`` capped at twice the default."""
    if value is None:
        return default
    digits = regex.match(r"\s*[+-]?\d+", value)
    return min(abs(int(digits.group())) if digits else 0, default * 2)


def _id_param(query: Mapping[str, str], name: str) -> int | None:
    value = query.get(name, "")
    return int(value) if value.isdigit() else None


def _paginate_by_id(statuses: list[Status], query: Mapping[str, str], limit: int) -> list[Status]:
    """Upstream's ``to_a_paginated_by_id``: newest first, or the oldest after ``min_id`` (shown newest first)."""
    max_id, since_id, min_id = (_id_param(query, name) for name in ("max_id", "since_id", "min_id"))
    chosen = [
        s
        for s in statuses
        if (max_id is None or int(s.id) < max_id)
        and (since_id is None or int(s.id) > since_id)
        and (min_id is None or int(s.id) > min_id)
    ]
    chosen.sort(key=lambda s: int(s.id))
    page = chosen[:limit] if min_id is not None else chosen[max(0, len(chosen) - limit) :]
    return page[::-1]


def _pagination_links(request: web.Request, page: list[Status], limit: int) -> dict[str, str]:
    """The ``Link`` header: ``next`` (older) when the page is full, ``prev`` (newer) when it is not empty."""
    if not page:
        return {}
    base = f"{request.scheme}://{request.host}{request.path}"
    links = []
    if len(page) == limit:
        links.append(f'<{base}?limit={limit}&max_id={page[-1].id}>; rel="next"')
    links.append(f'<{base}?limit={limit}&min_id={page[0].id}>; rel="prev"')
    return {"Link": ", ".join(links)}


def _parse_instant(value: str) -> datetime:
    """Read ``scheduled_at`` leniently; an offset-less time is UTC, as Ruby's ``to_datetime`` reads it."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ApiError(422, "Record invalid") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _sniff(head: bytes, declared: str | None) -> str:
    if declared and declared != "application/octet-stream":
        return declared.split(";")[0].strip().lower()
    if head[4:8] == b"ftyp":
        return "video/mp4"
    if head[:4] == b"RIFF":
        return {b"WEBP": "image/webp", b"WAVE": "audio/wav"}.get(head[8:12], "application/octet-stream")
    return next((kind for magic, kind in _MAGIC if head.startswith(magic)), "application/octet-stream")


def _media_kind(content_type: str) -> str:
    if content_type == "image/gif":
        return "gifv"
    return content_type.split("/")[0] if content_type.split("/")[0] in ("video", "audio") else "image"


def _parse_focus(value: str | None) -> tuple[float, float] | None:
    try:
        x, y = (float(part) for part in (value or "").split(","))
    except ValueError:
        return None
    return (max(-1.0, min(1.0, x)), max(-1.0, min(1.0, y)))


@dataclass
class _Upload:
    content_type: str
    size: int
    description: str | None
    focus: tuple[float, float] | None


async def _measure(part: BodyPartReader) -> tuple[bytes, int]:
    """The first bytes (to sniff the type) and the size of a file part, read in chunks, never stored."""
    head, size = b"", 0
    while chunk := await part.read_chunk():
        if len(head) < 16:
            head = (head + chunk)[:16]
        size += len(chunk)
    return head, size


async def _read_upload(request: web.Request) -> _Upload:
    """Stream the multipart body, keeping only the file's size and first bytes."""
    if not request.content_type.startswith("multipart/"):
        raise ApiError(400, "param is missing or the value is empty: file")
    reader = await request.multipart()
    fields: dict[str, str] = {}
    file_type, size, head = None, -1, b""
    async for part in reader:
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        if part.name == "file":
            file_type = part.headers.get("Content-Type")
            head, size = await _measure(part)
        else:
            fields[part.name] = await part.text()
    if size <= 0:
        raise ApiError(400, "param is missing or the value is empty: file")
    return _Upload(_sniff(head, file_type), size, fields.get("description"), _parse_focus(fields.get("focus")))


# --- the double --------------------------------------------------------------------------------------


class MastodonDouble(FaultInjection):
    """An in-memory Mastodon API server for tests, benchmarks and the demo (see the module docstring).

    Create accounts and tokens with :meth:`add_account` and :meth:`issue_token`, start it with ``async with
    double.serve() as base_url``, read what was really posted with :meth:`statuses`, move its clock with
    :meth:`advance`, and inject faults with :meth:`inject`. All settings are plain attributes and may be
    changed while it runs.
    """

    def __init__(
        self,
        *,
        max_characters: int = 500,
        max_media_attachments: int = 4,
        max_pinned_statuses: int = 5,
        characters_reserved_per_url: int = 23,
        description_limit: int = 1500,
        image_size_limit: int | None = None,
        video_size_limit: int | None = None,
        media_processing_seconds: float = 1.0,
        status_create_seconds: float = 0.0,
        rate_limits: RateLimits | None = None,
        idempotency_ttl: float = 3600.0,
        scheduled_daily_limit: int = 25,
        scheduled_total_limit: int = 300,
        minimum_schedule_offset: float = 300.0,
        scheduler_interval: float = 1.0,
        seed: int | None = None,
        personality: Personality = MASTODON,
    ) -> None:
        """Size limits left out are the personality's (Mastodon: 16 MiB images, 99 MiB others)."""
        self.personality = personality
        self.max_characters = max_characters
        self.max_media_attachments = max_media_attachments
        self.max_pinned_statuses = max_pinned_statuses
        self.characters_reserved_per_url = characters_reserved_per_url
        self.description_limit = description_limit
        self.image_size_limit = personality.image_size_limit if image_size_limit is None else image_size_limit
        self.video_size_limit = personality.video_size_limit if video_size_limit is None else video_size_limit
        self.media_processing_seconds = media_processing_seconds
        # Time spent "creating" a status while its idempotency lock is held, to make races observable.
        self.status_create_seconds = status_create_seconds
        self.rate_limits = rate_limits or RateLimits()
        self.idempotency_ttl = idempotency_ttl
        self.scheduled_daily_limit = scheduled_daily_limit
        self.scheduled_total_limit = scheduled_total_limit
        self.minimum_schedule_offset = minimum_schedule_offset
        self.scheduler_interval = scheduler_interval
        #: A test knob: True, due scheduled statuses wait (a server whose job queue is stuck); False, they are
        #: published at the next request or sweep.
        self.scheduler_stuck = False
        super().__init__(seed)
        self._offset = 0.0
        self._last_id = 0
        #: False: the server answers anonymous API reads 401 (``DISALLOW_UNAUTHENTICATED_API_ACCESS``).
        self.anonymous_api = True
        self._accounts: dict[str, Account] = {}
        self._tokens: dict[str, Token] = {}
        self._statuses: dict[str, Status] = {}
        #: Boosts: (account id, status id) → the boost's own id.
        self._reblogs: dict[tuple[str, str], str] = {}
        self._by_account: dict[str, list[Status]] = {}
        #: The ids of the replies to each status (its ``replies_count`` counts those not deleted).
        self._replies: dict[str, list[str]] = {}
        #: Each account's pinned statuses, oldest pin first.
        self._pins: dict[str, list[str]] = {}
        self._scheduled: dict[str, ScheduledStatus] = {}
        self._due: list[tuple[datetime, str]] = []
        self._media: dict[str, MediaAttachment] = {}
        self._remembered: dict[tuple[str, str], _Remembered] = {}
        self._locks: KeyedLocks[tuple[str, str]] = KeyedLocks()
        self._counters = _Counters()
        #: Apps, consent, codes and revocation (see :mod:`sandbox.mastodon_oauth`).
        self.oauth = OAuthProvider(self)

    # --- clock and ids -------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The double's current time (real time, moved by :meth:`advance`)."""
        return datetime.fromtimestamp(self._epoch(), UTC)

    def _epoch(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float, *, publish: bool = True) -> None:
        """Move the double's clock forward (idempotency expiry, schedules, windows, media processing).

        With ``publish=False`` due scheduled statuses wait for the next request or the background sweep,
        as they would on a server whose scheduler has not run yet.
        """
        self._offset += seconds
        if publish:
            self.publish_due()

    def _new_id(self) -> str:
        # Snowflake-like, as upstream: milliseconds shifted left 16 bits, strictly increasing.
        self._last_id = max(self._last_id + 1, int(self._epoch() * 1000) << 16)
        return str(self._last_id)

    # --- accounts and tokens -------------------------------------------------------------------------

    def add_account(self, username: str, *, display_name: str | None = None, language: str | None = None) -> Account:
        """Create a local account; ``language`` is its default posting language."""
        if username in self._accounts:
            raise ValueError(f"account {username!r} already exists")
        account = Account(self._new_id(), username, display_name or username, self.now(), language)
        self._accounts[username] = account
        self._by_account[account.id] = []
        return account

    def issue_token(self, username: str, scopes: Iterable[str] = ("read", "write"), *, value: str | None = None) -> str:
        """A user token for ``username`` with ``scopes``; ``value`` fixes the token string (demo configs)."""
        return self._store_token(self._accounts[username], scopes, value)

    def issue_app_token(self, scopes: Iterable[str] = ("read",), *, value: str | None = None) -> str:
        """An app-only token (client credentials grant), which user endpoints refuse with 422."""
        return self._store_token(None, scopes, value)

    def _store_token(self, account: Account | None, scopes: Iterable[str], value: str | None) -> str:
        token = Token(value or secrets.token_urlsafe(32), account, frozenset(scopes))
        self._tokens[token.value] = token
        return token.value

    def revoke_token(self, token: str) -> None:
        """Revoke a token: later requests get 401 "The access token was revoked"."""
        self._tokens[token].revoked = True

    def disable_account(self, username: str, disabled: bool = True) -> None:
        """Disable (or enable again) an account's login: its requests get 403."""
        self._accounts[username].disabled = disabled

    def account(self, username: str) -> Account:
        """The account named ``username``."""
        return self._accounts[username]

    # --- server-side truth ---------------------------------------------------------------------------

    def statuses(self, username: str, *, include_deleted: bool = False) -> list[Status]:
        """Every status ``username`` really published, oldest first (deleted ones on request)."""
        posted = self._by_account[self._accounts[username].id]
        return [s for s in posted if include_deleted or s.deleted_at is None]

    def scheduled_statuses(self, username: str) -> list[ScheduledStatus]:
        """The scheduled statuses of ``username`` still waiting."""
        account_id = self._accounts[username].id
        return [s for s in self._scheduled.values() if s.account.id == account_id and s.pending]

    def media(self, media_id: str) -> MediaAttachment:
        """An uploaded media attachment by id."""
        return self._media[media_id]

    # --- faults --------------------------------------------------------------------------------------

    def _server_error(self, status: int) -> web.Response:
        return _proxy_page(status)

    def _rate_limited(self, key: str) -> web.Response:
        usage = _Usage(self.rate_limits.per_token, self.rate_limits.per_token.limit, self._window_end())
        response = ApiError(429, TOO_MANY_REQUESTS, usage.headers()).response()
        self._without_pace(response)
        return response

    def _without_pace(self, response: web.StreamResponse) -> web.StreamResponse:
        """The response without ``X-RateLimit-*`` headers on a personality that sends none."""
        if not self.personality.rate_limit_headers:
            for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
                response.headers.pop(name, None)
        return response

    def _window_end(self) -> float:
        period = self.rate_limits.per_token.period
        return (int(self._epoch() // period) + 1) * period

    # --- serving -------------------------------------------------------------------------------------

    def app(self) -> web.Application:
        """The aiohttp application of the double."""
        app = web.Application(middlewares=[self._middleware])
        routes = [
            web.get("/api/v2/instance", self._instance),
            web.get("/.well-known/nodeinfo", self._nodeinfo_links),
            web.get("/nodeinfo/2.0", self._nodeinfo),
            web.get("/api/v1/accounts/verify_credentials", self._verify_credentials),
            web.get("/api/v1/accounts/{id}/statuses", self._account_statuses),
            web.post("/api/v1/statuses", self._post_status),
            web.get("/api/v1/statuses", self._get_statuses),
            web.get("/api/v1/statuses/{id}", self._get_status),
            web.get("/@{username}/{id}", self._status_page),
            web.delete("/api/v1/statuses/{id}", self._delete_status),
            web.post("/api/v1/statuses/{id}/reblog", self._reblog),
            web.post("/api/v1/statuses/{id}/unreblog", self._unreblog),
            web.post("/api/v1/statuses/{id}/pin", self._pin),
            web.post("/api/v1/statuses/{id}/unpin", self._unpin),
            web.post("/api/v2/media", self._upload_v2),
            web.post("/api/v1/media", self._upload_v1),
            web.get("/api/v1/media/{id}", self._get_media),
            web.get("/api/v1/scheduled_statuses", self._list_scheduled),
            web.get("/api/v1/scheduled_statuses/{id}", self._get_scheduled),
            web.delete("/api/v1/scheduled_statuses/{id}", self._delete_scheduled),
        ]
        app.add_routes([*routes, *self.oauth.routes()])
        return app

    @contextlib.asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Run the double on ``host`` (a free port by default) and give its base URL."""
        async with self._serving(self.app(), host, port) as base_url:
            sweeper = asyncio.create_task(self._sweep_forever())
            try:
                yield base_url
            finally:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.scheduler_interval)
            self.publish_due()

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        self.publish_due()
        key = _route_key(request)
        failed = await self._before(request, key)
        if failed is not None:
            return failed
        try:
            response = await handler(request)
        except ApiError as error:
            response = error.response()
        response.headers.update(request.get(_HEADERS_KEY, {}))
        return await self._after(request, key, self._without_pace(response))

    # --- authentication and rate limits --------------------------------------------------------------

    def _token(self, request: web.Request) -> Token:
        header = request.headers.get("Authorization", "")
        value = header[7:].strip() if header[:7].lower() == "bearer " else request.query.get("access_token", "")
        if not value and not self.personality.mastodon_errors:
            raise ApiError(401, TAKAHE_TOKEN_REQUIRED)
        token = self._tokens.get(value)
        if token is None or token.revoked:
            raise self._refused_token(INVALID_TOKEN if token is None else REVOKED_TOKEN)
        return token

    def _refused_token(self, message: str) -> ApiError:
        if self.personality.mastodon_errors:
            return ApiError(401, message)
        return ApiError(400, TAKAHE_BAD_TOKEN, html=True)

    def _out_of_scope(self) -> ApiError:
        return ApiError(403, OUT_OF_SCOPE if self.personality.mastodon_errors else TAKAHE_OUT_OF_SCOPE)

    def _not_found(self) -> ApiError:
        if self.personality.mastodon_errors:
            return ApiError(404, NOT_FOUND)
        return ApiError(404, DJANGO_NOT_FOUND, html=True)

    def _authenticate(self, request: web.Request, scope: str, extra: tuple[str, Window] | None = None) -> Account:
        """Check token, rate limits, scope, then user, in upstream's order; return the caller's account."""
        token = self._token(request)
        self._throttle(request, token, extra)
        if not token.allows(scope):
            raise self._out_of_scope()
        if token.account is None:
            raise ApiError(422, USER_REQUIRED)
        if token.account.disabled:
            raise ApiError(403, LOGIN_DISABLED)
        return token.account

    def _throttle(self, request: web.Request, token: Token, extra: tuple[str, Window] | None) -> None:
        limits = self.rate_limits
        if not limits.enabled:
            return
        now = self._epoch()
        usages = [self._counters.hit("token", token.value, limits.per_token, now)]
        subject = token.account.id if token.account is not None else token.value
        if token.account is not None:
            usages.append(self._counters.hit("user", subject, limits.per_user, now))
        if extra is not None:
            usages.append(self._counters.hit(extra[0], subject, extra[1], now))
        exceeded = [u for u in usages if u.count > u.window.limit]
        if exceeded:
            raise ApiError(429, TOO_MANY_REQUESTS, exceeded[0].headers())
        request[_HEADERS_KEY] = min(usages, key=lambda u: u.remaining).headers()

    def _count_status(self, request: web.Request, account: Account) -> None:
        """Counts one status (a post or a boost) in the account's 300 per 3 hours; 429 past them."""
        if not self.rate_limits.enabled:
            return
        usage = self._statuses_usage(account)
        if usage.count >= usage.window.limit:
            raise ApiError(429, TOO_MANY_REQUESTS, usage.headers())
        usage = self._counters.hit("statuses", account.id, self.rate_limits.statuses, self._epoch())
        request[_HEADERS_KEY] = usage.headers()

    def _statuses_usage(self, account: Account) -> _Usage:
        return self._counters.peek("statuses", account.id, self.rate_limits.statuses, self._epoch())

    # --- endpoints: instance and account -------------------------------------------------------------

    async def _instance(self, request: web.Request) -> web.Response:
        return web.json_response(self.instance_json(f"{request.scheme}://{request.host}", request.host))

    def instance_json(self, base: str, domain: str) -> dict[str, Any]:
        """The ``/api/v2/instance`` document."""
        document = self._instance_document(base, domain)
        if not self.personality.lists_description_limit:
            del document["configuration"]["media_attachments"]["description_limit"]
        return document

    def _instance_document(self, base: str, domain: str) -> dict[str, Any]:
        return {
            "domain": domain,
            "title": "Unisson sandbox",
            "version": self.personality.version,
            "source_url": self.personality.source_url,
            "description": "A test double of the Mastodon API.",
            "languages": ["fr", "en"],
            "configuration": {
                "urls": {"streaming": base.replace("http", "ws", 1)},
                "accounts": {"max_featured_tags": 10, "max_pinned_statuses": self.max_pinned_statuses},
                "statuses": {
                    "max_characters": self.max_characters,
                    "max_media_attachments": self.max_media_attachments,
                    "characters_reserved_per_url": self.characters_reserved_per_url,
                },
                "media_attachments": {
                    "supported_mime_types": [*STILL_IMAGE_TYPES, *PROCESSED_TYPES],
                    "description_limit": self.description_limit,
                    "image_size_limit": self.image_size_limit,
                    "image_matrix_limit": 33_177_600,
                    "video_size_limit": self.video_size_limit,
                    "video_frame_rate_limit": 120,
                    "video_matrix_limit": 8_294_400,
                },
                "polls": {"max_options": 4, "max_characters_per_option": 50},
                "translation": {"enabled": False},
            },
            "registrations": {"enabled": False, "approval_required": False, "message": None},
        }

    async def _nodeinfo_links(self, request: web.Request) -> web.Response:
        href = f"{request.scheme}://{request.host}/nodeinfo/2.0"
        return web.json_response({"links": [{"rel": "http://nodeinfo.diaspora.software/ns/schema/2.0", "href": href}]})

    async def _nodeinfo(self, request: web.Request) -> web.Response:
        personality = self.personality
        return web.json_response(
            {
                "version": "2.0",
                "software": {"name": personality.software, "version": personality.software_version},
                "protocols": ["activitypub"],
                "services": {"outbound": [], "inbound": []},
                "usage": {"users": {"total": len(self._accounts)}, "localPosts": len(self._statuses)},
                "openRegistrations": False,
                "metadata": {},
            }
        )

    async def _verify_credentials(self, request: web.Request) -> web.Response:
        # Mastodon 4.3 lets the ``profile`` scope read one's own account here, and nothing else.
        account = self._authenticate(request, "profile|read:accounts")
        body = _account_json(account, f"{request.scheme}://{request.host}")
        body["statuses_count"] = len(self.statuses(account.username))
        body["source"] = {
            "privacy": "public",
            "sensitive": False,
            "language": account.default_language,
            "note": "",
            "fields": [],
        }
        return web.json_response(body)

    # --- endpoints: statuses -------------------------------------------------------------------------

    async def _post_status(self, request: web.Request) -> web.Response:
        account = self._authenticate(request, "write:statuses")
        if self.rate_limits.enabled:
            request[_HEADERS_KEY] = self._statuses_usage(account).headers()
        params = await _read_status_params(request)
        self._thread(account, params.in_reply_to_id)  # upstream checks it first, before the key's replay
        key = request.headers.get("Idempotency-Key", "").strip() if self.personality.honours_idempotency else ""
        base = f"{request.scheme}://{request.host}"
        if not key:
            return web.json_response(await self._create(request, account, params, base, None))
        async with self._locks.hold((account.id, key)):
            replay = self._replay(account, key)
            if replay is not None:
                return web.json_response(replay)
            return web.json_response(await self._create(request, account, params, base, key))

    def _replay(self, account: Account, key: str) -> dict[str, Any] | None:
        """The original answer for a known key, or None; raises 404 if the original is gone."""
        remembered = self._remembered.get((account.id, key))
        if remembered is None or remembered.expires_at <= self._epoch():
            self._remembered.pop((account.id, key), None)
            return None
        if remembered.kind == "scheduled":
            scheduled = self._scheduled.get(remembered.target_id)
            if scheduled is None or not scheduled.pending:
                raise ApiError(404, NOT_FOUND)
            return _scheduled_json(scheduled, self._epoch())
        status = self._statuses.get(remembered.target_id)
        if status is None or status.deleted_at is not None:
            raise ApiError(404, NOT_FOUND)
        return self._status_view(status)

    async def _create(
        self, request: web.Request, account: Account, params: _StatusParams, base: str, key: str | None
    ) -> dict[str, Any]:
        if self.status_create_seconds > 0:
            await asyncio.sleep(self.status_create_seconds)
        # From here on nothing awaits: validation and commit are atomic, as in upstream's transaction.
        media = self._validate_media(account, params.media_ids)
        scheduled_at = self._scheduled_at(params)
        if params.text.strip() == "" and params.spoiler_text.strip():
            params.text, params.spoiler_text = params.spoiler_text, ""
        if scheduled_at is not None:
            return self._schedule(account, params, media, scheduled_at, base, key)
        return self._publish_now(request, account, params, media, base, key)

    def _thread(self, account: Account, in_reply_to_id: str | None) -> Status | None:
        """The status replied to: it must exist, not be deleted, and be visible to ``account``."""
        if in_reply_to_id is None:
            return None
        parent = self._statuses.get(in_reply_to_id)
        visible = parent is not None and parent.deleted_at is None
        if parent is not None and parent.visibility in ("private", "direct") and parent.account.id != account.id:
            visible = False
        if parent is None or not visible:
            raise ApiError(404, REPLY_NOT_FOUND) if self.personality.mastodon_errors else self._not_found()
        return parent

    def _validate_media(self, account: Account, media_ids: list[str] | None) -> list[MediaAttachment]:
        if not media_ids:
            return []
        if len(media_ids) > self.max_media_attachments:
            raise ApiError(422, f"Cannot attach more than {self.max_media_attachments} files")
        media = [self._media.get(i) for i in media_ids]
        missing = [
            i for i, m in zip(media_ids, media, strict=True) if m is None or m.account_id != account.id or m.attached
        ]
        if missing and not self.personality.mastodon_errors:
            raise self._not_found()
        if missing:
            raise ApiError(422, f"Media {', '.join(missing)} not found or already attached to another post")
        found = [m for m in media if m is not None]
        if len(found) > 1 and any(m.kind in ("video", "audio", "gifv") for m in found):
            raise ApiError(422, "Cannot attach a video to a post that already contains images")
        if not all(m.processed(self._epoch()) for m in found):
            raise ApiError(422, MEDIA_NOT_READY)
        return found

    def _scheduled_at(self, params: _StatusParams) -> datetime | None:
        if not params.scheduled_at or not self.personality.honours_scheduled_at:
            return None
        moment = _parse_instant(params.scheduled_at)
        return None if moment <= self.now() else moment

    def _status_errors(self, params: _StatusParams, media: list[MediaAttachment]) -> list[str]:
        errors = []
        if not params.text.strip() and not media:
            errors.append("Text can't be blank")
        length = status_length(params.text, params.spoiler_text, self.characters_reserved_per_url)
        if length > self.max_characters:
            errors.append(f"Text character limit of {self.max_characters} exceeded")
        if params.visibility is not None and params.visibility not in VISIBILITIES:
            errors.append("Visibility is not included in the list")
        return errors

    def _language(self, account: Account, requested: str | None) -> str:
        # Upstream keeps a known ISO 639 code and otherwise falls back to the account's, then "en".
        if requested and _LANGUAGE_RE.fullmatch(requested):
            return requested
        return account.default_language or "en"

    def _publish_now(
        self,
        request: web.Request,
        account: Account,
        params: _StatusParams,
        media: list[MediaAttachment],
        base: str,
        key: str | None,
    ) -> dict[str, Any]:
        errors = self._status_errors(params, media)
        if errors and not self.personality.mastodon_errors and any("character limit" in e for e in errors):
            raise ApiError(400, TAKAHE_TOO_LONG)
        if errors:
            raise _invalid(*errors)
        self._count_status(request, account)
        status = self._commit_status(account, params, media, base, key)
        self._remember(account, key, "status", status.id)
        return self._status_view(status)

    def _commit_status(
        self,
        account: Account,
        params: _StatusParams,
        media: list[MediaAttachment],
        base: str,
        key: str | None,
    ) -> Status:
        status = Status(
            id=self._new_id(),
            account=account,
            text=params.text,
            spoiler_text=params.spoiler_text,
            visibility=params.visibility or "public",
            language=self._language(account, params.language),
            sensitive=bool(params.sensitive) or bool(params.spoiler_text),
            media=media,
            created_at=self.now(),
            base=base,
            idempotency_key=key,
        )
        parent = self._statuses.get(params.in_reply_to_id or "")
        if parent is not None:
            status.in_reply_to_id, status.in_reply_to_account_id = parent.id, parent.account.id
            self._replies.setdefault(parent.id, []).append(status.id)
        for attachment in media:
            attachment.status_id, attachment.scheduled_status_id = status.id, None
        self._statuses[status.id] = status
        self._by_account[account.id].append(status)
        return status

    def _remember(self, account: Account, key: str | None, kind: Literal["status", "scheduled"], target: str) -> None:
        if key is not None:
            self._remembered[(account.id, key)] = _Remembered(kind, target, self._epoch() + self.idempotency_ttl)

    def _schedule(
        self,
        account: Account,
        params: _StatusParams,
        media: list[MediaAttachment],
        scheduled_at: datetime,
        base: str,
        key: str | None,
    ) -> dict[str, Any]:
        if self._status_errors(params, media):
            # Upstream validates a throw-away status and raises a bare RecordInvalid.
            raise ApiError(422, "Record invalid")
        self._check_schedule(account, scheduled_at)
        language = self._language(account, params.language)
        scheduled = ScheduledStatus(
            self._new_id(), account, scheduled_at, params.as_scheduled_params(language), media, base, key
        )
        for attachment in media:
            attachment.scheduled_status_id = scheduled.id
        self._scheduled[scheduled.id] = scheduled
        heapq.heappush(self._due, (scheduled_at, scheduled.id))
        self._remember(account, key, "scheduled", scheduled.id)
        return _scheduled_json(scheduled, self._epoch())

    def _check_schedule(self, account: Account, scheduled_at: datetime) -> None:
        errors = []
        if scheduled_at <= self.now() + timedelta(seconds=self.minimum_schedule_offset):
            errors.append("Scheduled at must be at least 5 minutes in the future")
        pending = self.scheduled_statuses(account.username)
        if len(pending) >= self.scheduled_total_limit:
            errors.append(f"You have exceeded the limit of {self.scheduled_total_limit} scheduled posts")
        same_day = [s for s in pending if s.scheduled_at.date() == scheduled_at.date()]
        if len(same_day) >= self.scheduled_daily_limit:
            errors.append(f"You have exceeded the limit of {self.scheduled_daily_limit} scheduled posts for today")
        if errors:
            raise _invalid(*errors)

    def publish_due(self) -> int:
        """Publish every scheduled status that is due; return how many were published (none while
        :attr:`scheduler_stuck`)."""
        if self.scheduler_stuck:
            return 0
        published, now = 0, self.now()
        while self._due and self._due[0][0] <= now:
            _, scheduled_id = heapq.heappop(self._due)
            scheduled = self._scheduled[scheduled_id]
            if scheduled.pending:
                self._publish_scheduled(scheduled)
                published += 1
        return published

    def _publish_scheduled(self, scheduled: ScheduledStatus) -> None:
        stored = scheduled.params
        params = _StatusParams(
            text=stored["text"],
            spoiler_text=stored["spoiler_text"] or "",
            media_ids=stored["media_ids"],
            language=stored["language"],
            visibility=stored["visibility"],
            scheduled_at=None,
            sensitive=stored["sensitive"],
            in_reply_to_id=stored.get("in_reply_to_id"),
        )
        status = self._commit_status(scheduled.account, params, scheduled.media, scheduled.base, None)
        status.scheduled_status_id = scheduled.id
        scheduled.published_status_id = status.id

    def _own_status(self, account: Account, status_id: str) -> Status:
        status = self._statuses.get(status_id)
        if status is None or status.deleted_at is not None or status.account.id != account.id:
            raise self._not_found()
        return status

    def _reader(self, request: web.Request) -> Account | None:
        """Who reads statuses: a token's account (which must allow ``read:statuses``), else anonymous, where the
        server allows anonymous API reads."""
        if "Authorization" in request.headers or "access_token" in request.query:
            return self._authenticate(request, "read:statuses")
        if not self.anonymous_api:
            raise ApiError(401, API_REQUIRES_USER)
        return None

    async def _get_status(self, request: web.Request) -> web.Response:
        viewer = self._reader(request)
        status = self._statuses.get(request.match_info["id"])
        visible = (
            status is not None
            and status.deleted_at is None
            and (status.visibility in ("public", "unlisted") or (viewer is not None and viewer.id == status.account.id))
        )
        if status is None or not visible:
            raise self._not_found()
        return web.json_response(self._status_view(status, viewer))

    async def _pin(self, request: web.Request) -> web.Response:
        account = self._authenticate(request, "write:accounts")
        status = self._visible_status(account, request.match_info["id"])
        pins = self._pins.setdefault(account.id, [])
        if status.account.id != account.id:
            raise _invalid("Someone else's post cannot be pinned")
        if status.visibility == "direct":
            raise _invalid("Posts that are only visible to mentioned users cannot be pinned")
        if status.id in pins:
            raise ApiError(422, "Duplicate record")
        if len(pins) >= self.max_pinned_statuses:
            raise _invalid("You have already pinned the maximum number of posts")
        pins.append(status.id)
        return web.json_response(self._status_view(status, account))

    async def _unpin(self, request: web.Request) -> web.Response:
        account = self._authenticate(request, "write:accounts")
        status = self._visible_status(account, request.match_info["id"])
        pins = self._pins.setdefault(account.id, [])
        if status.id in pins:
            pins.remove(status.id)
        return web.json_response(self._status_view(status, account))

    def _visible_status(self, viewer: Account, status_id: str) -> Status:
        status = self._statuses.get(status_id)
        if status is None or status.deleted_at is not None:
            raise self._not_found()
        if status.visibility not in ("public", "unlisted") and status.account.id != viewer.id:
            raise self._not_found()
        return status

    def pinned(self, username: str) -> list[Status]:
        """The account's pinned statuses, newest pin first (server-side truth for tests)."""
        account = self.account(username)
        return [self._statuses[i] for i in reversed(self._pins.get(account.id, []))]

    async def _get_statuses(self, request: web.Request) -> web.Response:
        """Mastodon 4.3's batch read: the visible statuses among ``id[]``, the others left out; at most
        :data:`BATCH_STATUSES` ids (422 past it). A server without it routes the path nowhere: 404."""
        if not self.personality.batch_statuses:
            raise self._not_found()
        self._reader(request)
        ids = request.query.getall("id[]", [])
        if len(ids) > BATCH_STATUSES:
            raise ApiError(422, f"Validation failed: ids exceeds the limit of {BATCH_STATUSES}")
        shown = [self._statuses.get(i) for i in ids]
        visible = [
            s for s in shown if s is not None and s.deleted_at is None and s.visibility in ("public", "unlisted")
        ]
        return web.json_response([self._status_view(s) for s in visible])

    def set_counts(
        self, status_id: str, *, likes: int = 0, reposts: int = 0, replies: int = 0, quotes: int = 0
    ) -> None:
        """Sets what people did with a status (favourites, reblogs, replies, quotes)."""
        status = self._statuses[status_id]
        status.favourites_count, status.reblogs_count = likes, reposts
        status.replies_count, status.quotes_count = replies, quotes

    async def _status_page(self, request: web.Request) -> web.Response:
        """The status's public web page (its ``url``): what a person who follows a link from a recap sees."""
        status = self._statuses.get(request.match_info["id"])
        if (
            status is None
            or status.deleted_at is not None
            or status.visibility not in ("public", "unlisted")
            or status.account.username != request.match_info["username"]
        ):
            return web.Response(status=404, text="<!doctype html><title>404</title>", content_type="text/html")
        author = html.escape(status.account.display_name)
        page = (
            f'<!doctype html><html lang="{html.escape(status.language)}"><head><meta charset="utf-8">'
            f"<title>{author}</title></head><body><article><h1>{author} (@{status.account.username})</h1>"
            f"{_content_html(status.text)}<time>{_iso(status.created_at)}</time></article></body></html>"
        )
        return web.Response(text=page, content_type="text/html")

    async def _delete_status(self, request: web.Request) -> web.Response:
        account = self._authenticate(request, "write:statuses", ("deletes", self.rate_limits.deletes))
        status = self._own_status(account, request.match_info["id"])
        status.deleted_at = self.now()
        if status.id in self._pins.get(account.id, []):
            self._pins[account.id].remove(status.id)
        body = self._status_view(status)
        if not self.personality.html_in_text:
            body["text"] = status.text
        return web.json_response(body)

    async def _reblog(self, request: web.Request) -> web.Response:
        """A boost: one per account and status (again: the same boost back, not counted); it counts towards the
        300 statuses per 3 hours of the account, as upstream's rate limiter does."""
        account = self._authenticate(request, "write:statuses")
        target = self._statuses.get(request.match_info["id"])
        if target is None or target.deleted_at is not None or target.visibility not in ("public", "unlisted"):
            raise self._not_found()
        key = (account.id, target.id)
        if key not in self._reblogs:
            self._count_status(request, account)
            self._reblogs[key] = self._new_id()
            target.reblogs_count += 1
        return web.json_response({"id": self._reblogs[key], "reblog": self._status_view(target)})

    async def _unreblog(self, request: web.Request) -> web.Response:
        """Undoes a boost (none: nothing to undo, not an error); counted with the deletes (30 per 30 minutes)."""
        account = self._authenticate(request, "write:statuses", ("deletes", self.rate_limits.deletes))
        target = self._statuses.get(request.match_info["id"])
        if target is None:
            raise self._not_found()
        if self._reblogs.pop((account.id, target.id), None) is not None:
            target.reblogs_count -= 1
        return web.json_response(self._status_view(target))

    def reblogged(self, username: str) -> list[str]:
        """The ids of the statuses ``username`` boosts now."""
        account_id = self._accounts[username].id
        return sorted(status for who, status in self._reblogs if who == account_id)

    async def _account_statuses(self, request: web.Request) -> web.Response:
        viewer = self._optional_viewer(request, "read:statuses")
        account = next((a for a in self._accounts.values() if a.id == request.match_info["id"]), None)
        if account is None:
            raise self._not_found()
        query = request.query
        limit = _limit_param(query.get("limit"), default=20)
        visible = [
            s
            for s in self._by_account[account.id]
            if s.deleted_at is None
            and (s.visibility in ("public", "unlisted") or (viewer is not None and viewer.id == account.id))
            and (not _truthy(query.get("only_media")) or s.media)
            and not (_truthy(query.get("exclude_replies")) and s.in_reply_to_account_id not in (None, account.id))
        ]
        pinned = [s for s in reversed([self._statuses[i] for i in self._pins.get(account.id, [])]) if s in visible]
        page = pinned if _truthy(query.get("pinned")) else _paginate_by_id(visible, query, limit)
        headers = _pagination_links(request, page, limit)
        return web.json_response([self._status_view(s) for s in page], headers=headers)

    def _status_view(self, status: Status, viewer: Account | None = None) -> dict[str, Any]:
        """A status as the personality shows it (``text``, ``language``); its author also sees ``pinned``."""
        body = _status_json(status, self._epoch())
        if viewer is not None and viewer.id == status.account.id:
            body["pinned"] = status.id in self._pins.get(viewer.id, [])
        # Replies made here, on top of those a test set with set_counts (made elsewhere, as far as we know).
        made_here = sum(self._statuses[r].deleted_at is None for r in self._replies.get(status.id, ()))
        body["replies_count"] = status.replies_count + made_here
        if self.personality.html_in_text:
            body["text"] = body["content"]
        if not self.personality.keeps_language:
            body["language"] = None
        return body

    def _optional_viewer(self, request: web.Request, scope: str) -> Account | None:
        """Upstream's ``authorize_if_got_token!``: a token, when given, must be valid and hold ``scope``.
        Takahē requires one."""
        if "Authorization" not in request.headers and "access_token" not in request.query:
            if not self.personality.mastodon_errors:
                raise ApiError(401, TAKAHE_TOKEN_REQUIRED)
            return None
        token = self._token(request)
        self._throttle(request, token, None)
        if not token.allows(scope):
            raise self._out_of_scope()
        return token.account

    # --- endpoints: media ----------------------------------------------------------------------------

    async def _upload_v2(self, request: web.Request) -> web.Response:
        media = await self._upload(request)
        processed = media.processed(self._epoch())
        return web.json_response(_media_json(media, self._epoch()), status=200 if processed else 202)

    async def _upload_v1(self, request: web.Request) -> web.Response:
        return web.json_response(_media_json(await self._upload(request), self._epoch()))

    async def _upload(self, request: web.Request) -> MediaAttachment:
        account = self._authenticate(request, "write:media", ("media", self.rate_limits.media))
        upload = await _read_upload(request)
        self._check_upload(upload)
        still = upload.content_type in STILL_IMAGE_TYPES
        if still and self.personality.converts_images_to:
            upload.content_type = self.personality.converts_images_to
        media = MediaAttachment(
            id=self._new_id(),
            account_id=account.id,
            kind=_media_kind(upload.content_type),
            content_type=upload.content_type,
            size=upload.size,
            description=upload.description,
            focus=upload.focus,
            ready_at=self._epoch() + (0.0 if still else self.media_processing_seconds),
            base=f"{request.scheme}://{request.host}",
        )
        self._media[media.id] = media
        return media

    def _check_upload(self, upload: _Upload) -> None:
        if upload.content_type not in STILL_IMAGE_TYPES + PROCESSED_TYPES:
            raise _invalid("File content type is invalid", "File is invalid")
        still = upload.content_type in STILL_IMAGE_TYPES
        limit = self.image_size_limit if still else self.video_size_limit
        if upload.size > limit:
            raise _invalid(f"File file size must be less than {limit // MiB} MB")
        if upload.description is not None and len(upload.description) > self.description_limit:
            raise _invalid(f"Description is too long (maximum is {self.description_limit} characters)")

    async def _get_media(self, request: web.Request) -> web.Response:
        account = self._authenticate(request, "write:media")
        media = self._media.get(request.match_info["id"])
        if media is None or media.account_id != account.id:
            raise ApiError(404, NOT_FOUND)
        processed = media.processed(self._epoch())
        return web.json_response(_media_json(media, self._epoch()), status=200 if processed else 206)

    # --- endpoints: scheduled statuses ---------------------------------------------------------------

    def _check_scheduling(self) -> None:
        if not self.personality.honours_scheduled_at:
            raise self._not_found()

    def _own_scheduled(self, account: Account, scheduled_id: str) -> ScheduledStatus:
        self._check_scheduling()
        scheduled = self._scheduled.get(scheduled_id)
        if scheduled is None or not scheduled.pending or scheduled.account.id != account.id:
            raise ApiError(404, NOT_FOUND)
        return scheduled

    async def _list_scheduled(self, request: web.Request) -> web.Response:
        account = self._authenticate(request, "read:statuses")
        self._check_scheduling()
        pending = sorted(self.scheduled_statuses(account.username), key=lambda s: s.id, reverse=True)
        return web.json_response([_scheduled_json(s, self._epoch()) for s in pending])

    async def _get_scheduled(self, request: web.Request) -> web.Response:
        account = self._authenticate(request, "read:statuses")
        scheduled = self._own_scheduled(account, request.match_info["id"])
        return web.json_response(_scheduled_json(scheduled, self._epoch()))

    async def _delete_scheduled(self, request: web.Request) -> web.Response:
        account = self._authenticate(request, "write:statuses")
        scheduled = self._own_scheduled(account, request.match_info["id"])
        scheduled.cancelled = True
        for attachment in scheduled.media:
            attachment.scheduled_status_id = None
        return web.json_response({})


# --- running it alone ------------------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sandbox.mastodon", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000, help="0 picks a free port")
    parser.add_argument("--max-characters", type=int, default=500)
    parser.add_argument("--personality", choices=sorted(PERSONALITIES), default="mastodon")
    parser.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="NAME[:TOKEN]",
        help="create an account and a read+write token (random unless given); repeatable",
    )
    return parser.parse_args(argv)


async def _run(args: argparse.Namespace) -> None:
    double = MastodonDouble(max_characters=args.max_characters, personality=PERSONALITIES[args.personality])
    tokens = {}
    for spec in args.account:
        name, _, value = spec.partition(":")
        double.add_account(name)
        tokens[name] = double.issue_token(name, value=value or None)
    async with double.serve(args.host, args.port) as base_url:
        print(json.dumps({"base_url": base_url, "tokens": tokens}), flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    """Run the double alone until interrupted; print its base URL and tokens as one JSON line."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(_parse_args(argv)))


if __name__ == "__main__":
    main()
