"""The coalition's reach: its own accounts, and what its towns' posts achieved (counts read after publication)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hub.domain.model import Account, Platform

#: When the counts are read, after the publication ended, by default: the day after and a week after (hours).
DEFAULT_ROUNDS_HOURS = (24, 168)
#: The towns named in a report, by reach.
TOP_TOWNS = 10
#: What the room hears of a repost request, in order: when it is planned (how long it will take), a quarter,
#: half and three quarters done (only when it takes long), then done, or stopped by a retraction. At most five
#: messages, whatever the coalition's size.
PLANNED, DONE, STOPPED = "planned", "done", "stopped"
REPOST_STAGES = (PLANNED, "25", "50", "75", DONE, STOPPED)
#: Reposts taking less than this are told when they start and when they end only.
LONG_REPOSTS = timedelta(minutes=30)


def repost_stage(done: int, total: int, *, finished: bool, stopped: bool, long: bool) -> str:
    """The furthest stage a repost request reached: ``done`` of ``total`` made (or failed for good)."""
    if stopped:
        return STOPPED
    if finished:
        return DONE
    share = 100 * done // total if total and long else 0
    reached = [stage for stage in REPOST_STAGES[1:4] if share >= int(stage)]
    return reached[-1] if reached else PLANNED


def repost_news_due(told: str | None, reached: str) -> bool:
    """Whether ``reached`` is further than what was told (a stage skipped meanwhile is not told late)."""
    return told not in (DONE, STOPPED) and REPOST_STAGES.index(reached) > (
        REPOST_STAGES.index(told) if told in REPOST_STAGES else -1
    )


@dataclass(frozen=True, slots=True)
class CoalitionAccount:
    """A coalition's own account on one network; secrets stay in the store, encrypted."""

    id: int
    coalition_id: int
    platform: Platform
    identifier: str
    server: str
    limits: dict[str, Any] = field(default_factory=dict)
    last_verified_at: datetime | None = None
    last_error: str | None = None

    def as_account(self) -> Account:
        """The same account as the publishers see one: they need its id (for the secrets), handle and server.
        It belongs to no town (``town_id`` 0)."""
        return Account(self.id, 0, self.platform, self.identifier, self.server, dict(self.limits))


@dataclass(frozen=True, slots=True)
class Counts:
    """What a post got, as a network counts it; ``deleted`` when the post is gone."""

    likes: int = 0
    reposts: int = 0
    replies: int = 0
    quotes: int = 0
    deleted: bool = False

    @property
    def reach(self) -> int:
        """One number to rank posts by: every interaction counts once."""
        return self.likes + self.reposts + self.replies + self.quotes

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.likes + other.likes,
            self.reposts + other.reposts,
            self.replies + other.replies,
            self.quotes + other.quotes,
        )


@dataclass(frozen=True, slots=True)
class PostToRead:
    """A published post whose counts are to be read."""

    delivery_id: int
    town_id: int
    platform: Platform
    remote_id: str
    server: str
    #: The town's account that posted it: its token reads the counts where a server hides them from strangers.
    account_id: int = 0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One post's counts at one reading."""

    delivery_id: int
    town_id: int
    platform: Platform
    counts: Counts


@dataclass(frozen=True, slots=True)
class Round:
    """A planned reading of an announcement's counts."""

    id: int
    announcement_id: int
    number: int
    due_at: datetime
    attempts: int
    read_at: datetime | None
    told_at: datetime | None
