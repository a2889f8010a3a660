"""The quorum: how many member towns must sign an announcement before it may go out — all or nothing.

A joint announcement carried by three towns out of 1,600 does not speak "d'une même voix". A quorum is a number
of towns (``800``) or a share of the coalition's members (``50%``), counted against the members at the moment
of the check. Until it is reached the lock is refused; missed at the sign-on deadline (at the publication
instant when there is no deadline), nothing is published and the coordinators are asked, once, what to do.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from hub.errors import InvalidInput

#: What removes a quorum, in either language.
NONE_WORDS = frozenset({"aucun", "none"})
_SPACES = re.compile(r"[\s\u00a0\u202f]+")
_COUNT = re.compile(r"\d+")
_SHARE = re.compile(r"(\d+)%")


@dataclass(frozen=True, slots=True)
class Quorum:
    """A number of towns, or a share (in whole percent) of the coalition's members; exactly one of them."""

    towns: int | None = None
    percent: int | None = None

    def __post_init__(self) -> None:
        if (self.towns is None) == (self.percent is None):
            raise ValueError("a quorum is a number of towns or a share, not both")

    def required(self, members: int) -> int:
        """How many signatures it takes among ``members`` towns (a share is rounded up, and never below one)."""
        if self.towns is not None:
            return self.towns
        assert self.percent is not None
        return max(1, math.ceil(members * self.percent / 100))

    def tally(self, signed: int, members: int) -> QuorumTally:
        return QuorumTally(signed, self.required(members), members)

    def typed(self) -> str:
        """The quorum as a coordinator types it (``800``, ``50%``), as the audit log keeps it."""
        return f"{self.percent}%" if self.percent is not None else str(self.towns)


class Dated(Protocol):
    """What the moment of the check depends on (an :class:`~hub.domain.model.Announcement` is one)."""

    @property
    def quorum(self) -> Quorum | None: ...
    @property
    def deadline(self) -> datetime | None: ...
    @property
    def publish_at(self) -> datetime | None: ...


@dataclass(frozen=True, slots=True)
class QuorumTally:
    """Where the signatures stand against the quorum."""

    signed: int
    required: int
    members: int

    @property
    def met(self) -> bool:
        return self.signed >= self.required

    @property
    def missing(self) -> int:
        return max(0, self.required - self.signed)

    def as_details(self) -> dict[str, int]:
        """The counts, for the audit log and the room's report."""
        return {"signed": self.signed, "required": self.required, "members": self.members}


def parse_quorum(text: str, members: int) -> Quorum | None:
    """The quorum a coordinator typed for a coalition of ``members`` towns: ``800``, ``1 600``, ``50%``,
    ``50 %``; ``aucun`` or ``none`` for none. Raises :class:`InvalidInput` saying what is accepted."""
    typed = _SPACES.sub("", text).casefold()
    if typed in NONE_WORDS:
        return None
    if share := _SHARE.fullmatch(typed):
        percent = int(share.group(1))
        if 1 <= percent <= 100:
            return Quorum(percent=percent)
    elif _COUNT.fullmatch(typed):
        towns = int(typed)
        if towns > members >= 1:
            raise InvalidInput("error.quorum.too_many", towns=towns, members=members)
        if 1 <= towns <= members:
            return Quorum(towns=towns)
    raise InvalidInput("error.quorum.invalid", text=text.strip(), members=members)


def check_moment(announcement: Dated) -> datetime | None:
    """When the quorum is judged: at the sign-on deadline, else at the publication instant."""
    return announcement.deadline or announcement.publish_at


def judged(announcement: Dated, now: datetime) -> bool:
    """Whether the announcement has a quorum whose moment has come (see :func:`check_moment`)."""
    moment = check_moment(announcement)
    return announcement.quorum is not None and moment is not None and moment <= now


def require_quorum(announcement_id: int, quorum: Quorum | None, signed: int, members: int) -> None:
    """Refuses, with the count and what to do, to lock an announcement whose quorum is not reached."""
    if quorum is None:
        return
    tally = quorum.tally(signed, members)
    if not tally.met:
        raise InvalidInput(
            "error.lock.quorum", id=str(announcement_id), signed=signed, required=tally.required, missing=tally.missing
        )
