"""Reading a Mastodon-API server's answers: the JSON, the objects and lists it must hold, a status's id and URL,
the server's limits and the rate-limit headers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from hub.domain.model import Account
from hub.publishers.base import Published, RateLimit
from hub.publishers.mastodon_errors import bad_answer

#: What a server that publishes no limits is assumed to allow (stock Mastodon's values).
DEFAULT_LIMITS: dict[str, Any] = {
    "max_characters": 500,
    "max_media_attachments": 4,
    "characters_reserved_per_url": 23,
    "description_limit": 1500,
    "image_size_limit": 16 * 1024 * 1024,
}


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any


def parse_json(raw: bytes, charset: str | None = None) -> Any:
    """The answer's JSON (read from its bytes: no text decoded first), else its text: an error page, perhaps a
    proxy's in the ``charset`` its headers declare, perhaps not even that (then undecodable bytes are replaced)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        text = raw.decode(charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        text = raw.decode("utf-8", errors="replace")
    try:
        return orjson.loads(text)  # JSON, but in another charset than the UTF-8 JSON must be in
    except orjson.JSONDecodeError:
        return text


def answer_object(answer: Answer, account: Account, *required: str) -> dict[str, Any]:
    """The answer's JSON object, which must hold the ``required`` fields."""
    if not isinstance(answer.body, dict) or any(name not in answer.body for name in required):
        raise bad_answer(account, f"HTTP {answer.status}")
    return answer.body


def answer_list(answer: Answer, account: Account) -> list[dict[str, Any]]:
    if not isinstance(answer.body, list) or not all(isinstance(s, dict) and "id" in s for s in answer.body):
        raise bad_answer(account, f"HTTP {answer.status}")
    return answer.body


def published_of(status: dict[str, Any], account: Account) -> Published:
    url = status.get("url") or status.get("uri")
    if not isinstance(url, str):
        raise bad_answer(account, "status without url")
    return Published(remote_id=str(status["id"]), url=url)


def created_at_of(status: dict[str, Any]) -> datetime:
    try:
        moment = datetime.fromisoformat(str(status.get("created_at")))
    except ValueError:
        return datetime.max.replace(tzinfo=UTC)  # undated: never a reason to stop looking
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def instance_limits(instance: dict[str, Any]) -> dict[str, Any]:
    """The limits the hub keeps, from ``/api/v2/instance`` (or v1), with stock defaults for what is missing."""
    configuration = instance.get("configuration") or {}
    statuses = configuration.get("statuses") or {}
    media = configuration.get("media_attachments") or {}
    limits = dict(DEFAULT_LIMITS)
    limits.update({k: v for k, v in statuses.items() if k in DEFAULT_LIMITS and isinstance(v, int)})
    wanted = ("description_limit", "image_size_limit", "image_matrix_limit", "video_size_limit")
    limits.update({k: v for k, v in media.items() if k in wanted and isinstance(v, int)})
    if isinstance(media.get("supported_mime_types"), list):
        limits["supported_mime_types"] = [str(t) for t in media["supported_mime_types"]]
    return limits


def rate_limit_of(headers: Mapping[str, str]) -> RateLimit | None:
    """The ``X-RateLimit-*`` headers; Reset is ISO 8601 on Mastodon, seconds since the epoch on some forks."""
    try:
        limit = int(headers["X-RateLimit-Limit"])
        remaining = int(headers["X-RateLimit-Remaining"])
        reset_text = headers["X-RateLimit-Reset"].strip()
        if reset_text.isdigit():
            reset = datetime.fromtimestamp(int(reset_text), UTC)
        else:
            reset = datetime.fromisoformat(reset_text)
            reset = reset if reset.tzinfo is not None else reset.replace(tzinfo=UTC)
    except (KeyError, ValueError):
        return None
    return RateLimit(limit, remaining, reset)
