"""The one place where a Mastodon-API server's failing answers become our publish errors.

Answers are mapped by HTTP status class and body shape first; the server's exact wording only refines the
choice, because servers that are not Mastodon word (and sometimes number) the same failures differently:

============================  ==================================================  ===========================
failure                       Mastodon                                            Takahē 0.11
============================  ==================================================  ===========================
invalid or revoked token      401 ``{"error": "The access token is invalid"}``    400 text/html "Invalid
                                                                                  Bearer token"
missing scope                 403 "This action is outside the authorized scopes"  403 "out_of_scope_for_token"
text too long                 422 "Validation failed: Text character limit …"     400 "Status is too long"
unknown media id on a post    422                                                 404, an HTML page
============================  ==================================================  ===========================
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

from hub.domain.model import Account
from hub.publishers.base import PermanentPublishError, PublishError, RateLimit, TransientPublishError

_DETAIL_LENGTH = 300
#: Words of a refused token in the answers of the servers we know ("access token", "Bearer token",
#: "identity_token_required").
_TOKEN_WORDS = ("token", "unauthorized", "not authenticated")
_USER_REQUIRED = "requires an authenticated user"


def failure(status: int, body: Any, account: Account, pace: RateLimit | None) -> PublishError:
    """The publish error for a failing HTTP answer (``body`` parsed JSON, or the raw text)."""
    if status == 429:
        return transient("publish.mastodon.rate_limited", account, retry_at=pace.reset if pace else None)
    if status >= 500 or status == 408:
        return transient("publish.mastodon.server_error", account, status=status)
    detail = _detail(status, body)
    if 400 <= status < 500:
        return _client_failure(status, detail, _words(body), account)
    return permanent("publish.mastodon.unexpected", account, status=status, detail=detail)


def _client_failure(status: int, detail: str, words: str, account: Account) -> PermanentPublishError:
    """A 4xx: the request (token, rights, content) is at fault, so retrying it unchanged will not help."""
    if status == 401 or (status == 400 and any(w in words for w in _TOKEN_WORDS)):
        return permanent("publish.mastodon.token_invalid", account, reconnect=True, detail=detail)
    if status == 403:
        key = "publish.mastodon.scope" if "scope" in words else "publish.mastodon.forbidden"
        return permanent(key, account, reconnect=key.endswith("scope"), detail=detail)
    if status == 410:  # the account is gone from its server
        return permanent("publish.mastodon.forbidden", account, detail=detail)
    if status == 422 and _USER_REQUIRED in words:
        return permanent("publish.mastodon.app_token", account, reconnect=True, detail=detail)
    if status in (400, 413, 422):  # the post itself: too long, an image too large, a refused attachment...
        return permanent("publish.mastodon.refused", account, detail=detail)
    if status == 404:
        return permanent("publish.mastodon.not_found", account, detail=detail)
    return permanent("publish.mastodon.unexpected", account, status=status, detail=detail)


def post_not_found(body: Any, account: Account, *, replayed: bool) -> PermanentPublishError:
    """A 404 to ``POST /api/v1/statuses``: the key's replay found its status deleted (``replayed``), or
    something the post names is unknown (Takahē answers an unknown media id so)."""
    if replayed:
        return permanent("publish.mastodon.deleted_since", account)
    return permanent("publish.mastodon.refused", account, detail=_detail(404, body))


def transient(
    key: str, account: Account, *, retry_at: datetime | None = None, **params: object
) -> TransientPublishError:
    """Every message names the account and its server (never a secret)."""
    return TransientPublishError(
        key, retry_at=retry_at, identifier=account.identifier, host=host_of(account.server), **params
    )


def permanent(key: str, account: Account, *, reconnect: bool = False, **params: object) -> PermanentPublishError:
    return PermanentPublishError(
        key, reconnect=reconnect, identifier=account.identifier, host=host_of(account.server), **params
    )


def bad_answer(account: Account, detail: str) -> TransientPublishError:
    return transient("publish.mastodon.bad_answer", account, detail=detail)


@lru_cache(maxsize=4096)  # asked at every answer, for the same few servers
def host_of(server: str) -> str:
    return urlsplit(server).netloc or server


def pin_failure(status: int, body: Any, account: Account) -> PermanentPublishError | None:
    """What a refused pin means (None: the status is pinned already, Mastodon's "Duplicate record"). A missing
    scope asks the town to link again with ``write:accounts``; the limit (5 pins by default) to unpin one."""
    words = _words(body)
    if status == 403 and ("scope" in words or "out_of_scope" in words):
        return permanent("publish.pin.scope", account, reconnect=True, detail=_detail(status, body))
    if status == 422 and "duplicate" in words:
        return None
    if status == 422 and "maximum" in words:
        return permanent("publish.pin.limit", account, detail=_detail(status, body))
    return permanent("publish.pin.refused", account, detail=_detail(status, body))


def is_json_error(body: Any) -> bool:
    """True for Mastodon's error shape, ``{"error": "..."}`` (a proxy's or a framework's page is not)."""
    return isinstance(body, dict) and isinstance(body.get("error"), str)


def _detail(status: int, body: Any) -> str:
    """The server's own words: ``{"error": ...}``, else the visible text of a short page, else the status."""
    if is_json_error(body):
        return str(body["error"])[:_DETAIL_LENGTH]
    text = visible_text(body) if isinstance(body, str) else ""
    return f"HTTP {status}: {text[:_DETAIL_LENGTH]}" if text else f"HTTP {status}"


def _words(body: Any) -> str:
    return (str(body["error"]) if is_json_error(body) else str(body)).lower()


_HIDDEN = ("head", "script", "style")


class _Visible(HTMLParser):
    """Collects the text of an HTML page, leaving out what a browser would not show."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN and self._hidden > 0:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible_text(page: str) -> str:
    """What a browser shows of ``page`` (an HTML page or plain text), on one line."""
    parser = _Visible()
    parser.feed(page)
    parser.close()
    return " ".join("".join(parser.parts).split())
