"""Reading a Mastodon-API server's answers: the JSON, the objects and lists it must hold, a status's id and URL."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hub.domain.model import Account
from hub.publishers.base import Published
from hub.publishers.mastodon_errors import bad_answer


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any


def parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
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
