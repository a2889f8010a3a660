"""Checks of the identifiers people type: Matrix user ids, handles, web addresses, time zones."""

from __future__ import annotations

import re
from functools import cache
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from hub.errors import InvalidInput

# Matrix spec, "User Identifiers": @localpart:server_name, at most 255 bytes.
_MATRIX_USER = re.compile(r"^@[a-z0-9._=\-/+]+:[A-Za-z0-9.\-]+(:\d{1,5})?$")
# AT Protocol handle syntax: dot-separated DNS labels, at least two, TLD not starting with a digit.
_HANDLE = re.compile(r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$")
_MASTODON = re.compile(r"^@?([A-Za-z0-9_]+(?:[.\-][A-Za-z0-9_]+)*)@([A-Za-z0-9.\-]+\.[A-Za-z]{2,})$")


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def check_matrix_user_id(user_id: str) -> str:
    if not _MATRIX_USER.match(user_id) or len(user_id.encode()) > 255:
        raise InvalidInput("error.identifier.matrix_user", value=user_id)
    return user_id


def normalize_bluesky_handle(handle: str) -> str:
    """``@Mairie.bsky.social`` → ``mairie.bsky.social``."""
    cleaned = handle.strip().removeprefix("@").lower()
    if len(cleaned) > 253 or not _HANDLE.match(cleaned):
        raise InvalidInput("error.identifier.bluesky_handle", value=handle)
    return cleaned


def normalize_mastodon_handle(handle: str) -> str:
    """``mairie@mastodon.example`` → ``@mairie@mastodon.example``."""
    match = _MASTODON.match(handle.strip())
    if not match:
        raise InvalidInput("error.identifier.mastodon_handle", value=handle)
    return f"@{match.group(1)}@{match.group(2).lower()}"


def check_web_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in url.strip():
        raise InvalidInput("error.identifier.url", value=url)
    return url.strip()


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput("error.identifier.timezone", value=name) from exc
    if name not in _zones():
        raise InvalidInput("error.identifier.timezone", value=name)
    return name
