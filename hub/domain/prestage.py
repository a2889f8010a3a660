"""Pre-staging Mastodon posts: the rules, without I/O.

At the pre-flight a Mastodon post may be handed to its server as a scheduled status (``scheduled_at`` = the
instant): the server then publishes it at the minute even if the hub is down. Mastodon accepts a scheduled
status only at least 5 minutes ahead, at most 25 per account on one UTC day and 300 pending per account; past
these the post waits for the instant, as without pre-staging.

A delivery's ``schedule`` records where its scheduled status stands:

- ``sending``: a scheduled status may exist (recorded before the request, so a crash cannot forget it); whoever
  meets this state looks on the server before doing anything else;
- ``staged``: the server holds scheduled status ``id`` for ``at``;
- ``declined``: nothing waits on the server (``reason`` says why); the post is made at the instant.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

#: Mastodon refuses a scheduled status less than this far ahead.
SERVER_MINIMUM = timedelta(minutes=5)
#: Mastodon's limits per account: scheduled statuses on one UTC day, and pending in all.
DAILY_LIMIT = 25
TOTAL_LIMIT = 300

SENDING, STAGED, DECLINED = "sending", "staged", "declined"
#: Why a post was not staged (``reason`` of a declined schedule).
UNSUPPORTED = "unsupported"  # the server's software ignores scheduled_at, or refused it
OVER_LIMIT = "over_limit"  # the account has too many scheduled statuses that day, or in all
PUBLISHED_EARLY = "published_early"  # the server published it at once: deleted, made again at the instant
REFUSED = "refused"  # the server refused the scheduled status (422 for another reason)


def wanted(choice: bool | None, default: bool) -> bool:
    """Whether an announcement's Mastodon posts are pre-staged: its own choice, else the deployment's."""
    return default if choice is None else choice


def in_time(instant: datetime, now: datetime, lead: timedelta) -> bool:
    """Whether a post for ``instant`` may still be staged at ``now``: ``lead`` (at least Mastodon's 5 minutes,
    plus a margin for clocks that disagree and for the pre-flight's own length) ahead."""
    return instant - now >= max(lead, timedelta(0))


def over_limit(
    pending: Iterable[datetime], instant: datetime, *, daily: int = DAILY_LIMIT, total: int = TOTAL_LIMIT
) -> bool:
    """Whether one more scheduled status for ``instant`` would pass the account's limits, given the instants of
    the scheduled statuses it already has."""
    moments = list(pending)
    day = instant.astimezone(UTC).date()
    same_day = sum(1 for m in moments if m.astimezone(UTC).date() == day)
    return len(moments) >= total or same_day >= daily


def staged(at: datetime, scheduled_id: str, images: int) -> dict[str, Any]:
    """The server holds scheduled status ``scheduled_id`` for ``at``, with ``images`` images."""
    return {"state": STAGED, "at": at.isoformat(), "id": scheduled_id, "images": images}


def sending(at: datetime, images: int) -> dict[str, Any]:
    """A scheduled status for ``at`` may exist (the request is about to be sent, or its answer was lost)."""
    return {"state": SENDING, "at": at.isoformat(), "images": images}


def declined(reason: str, **details: str) -> dict[str, Any]:
    return {"state": DECLINED, "reason": reason, **details}


def state_of(schedule: dict[str, Any] | None) -> str | None:
    return str(schedule.get("state")) if schedule else None


def instant_of(schedule: dict[str, Any] | None) -> datetime | None:
    """The instant a schedule was asked for (None if it has none)."""
    text = (schedule or {}).get("at")
    if not isinstance(text, str):
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def on_server(schedule: dict[str, Any] | None) -> bool:
    """Whether something may wait on the server for this delivery (to take back if it is dropped)."""
    return state_of(schedule) in (SENDING, STAGED)


def published_early(schedule: dict[str, Any] | None) -> bool:
    """Whether the server published the post at once when asked to schedule it (deleted since, unless
    ``deleted`` says no)."""
    return state_of(schedule) == DECLINED and (schedule or {}).get("reason") == PUBLISHED_EARLY
