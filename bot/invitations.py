"""Inviting many people to a room at the pace the homeserver allows, reporting progress as it goes.

Homeservers limit invitations: Synapse's defaults allow a bot 5 in a burst and then about one every few minutes
(operators raise it for a bot), and Tchap asks bots for about one call per second. The :class:`Inviter` makes at
most one invitation call per :attr:`Pace.interval`, shared by every run of the bot (the limit is per account);
when the homeserver answers ``M_LIMIT_EXCEEDED`` it waits the ``retry_after_ms`` it was given and asks again for
the same person, a few times at most. It reports progress at most once per :attr:`Pace.progress_every`.

Who to invite is decided from the room's membership, read once (:meth:`Inviter.plan`): people already joined or
invited are skipped. Nothing about a run is stored, so running it again invites only those still missing; that
is how invitations resume after the bot restarts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from nio import AsyncClient, RoomGetStateResponse, RoomInviteResponse

from hub.errors import InvalidInput

#: Memberships that need no invitation.
PRESENT = frozenset({"join", "invite"})
LIMIT_EXCEEDED = "M_LIMIT_EXCEEDED"


@dataclass(frozen=True, slots=True)
class Pace:
    """How fast invitations go."""

    #: Seconds between the starts of two invitation calls (Tchap: about one call per second).
    interval: float = 1.0
    #: Seconds between two progress reports (each one edits a message, itself rate-limited).
    progress_every: float = 5.0
    #: How many times one person is asked for again after ``M_LIMIT_EXCEEDED``.
    retries: int = 5
    #: Seconds to wait after ``M_LIMIT_EXCEEDED`` when the homeserver does not say how long.
    backoff: float = 5.0


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the homeserver did not invite someone: its error code and message, and how long to wait if it asks."""

    errcode: str
    message: str
    #: Seconds, from ``retry_after_ms``.
    retry_after: float | None = None


class Homeserver(Protocol):
    """The two calls the inviter makes."""

    async def memberships(self, room_id: str) -> dict[str, str]:
        """Every user the room has a membership for (``join``, ``invite``, ``leave``, ``ban``…), with it."""
        ...

    async def invite(self, room_id: str, user_id: str) -> Refusal | None:
        """Invites ``user_id``; None when done, else the homeserver's refusal."""
        ...


class NioHomeserver:
    """:class:`Homeserver` through a matrix-nio client.

    A nio client whose configuration leaves ``max_limit_exceeded`` unset (the bot's) waits ``retry_after_ms``
    and retries by itself, inside the call; otherwise the refusal comes back here and the inviter waits.
    """

    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    async def memberships(self, room_id: str) -> dict[str, str]:
        response = await self.client.room_get_state(room_id)
        if not isinstance(response, RoomGetStateResponse):
            raise InvalidInput("bot.towns.invite.members")
        return {
            str(event["state_key"]): str(event.get("content", {}).get("membership", ""))
            for event in response.events
            if event.get("type") == "m.room.member" and "state_key" in event
        }

    async def invite(self, room_id: str, user_id: str) -> Refusal | None:
        response = await self.client.room_invite(room_id, user_id)
        if isinstance(response, RoomInviteResponse):
            return None
        wait = response.retry_after_ms / 1000 if response.retry_after_ms else None
        return Refusal(str(response.status_code or "M_UNKNOWN"), str(response.message or ""), wait)


@dataclass(frozen=True, slots=True)
class Plan:
    """Whom to invite to a room: the people given, less those already there or invited."""

    room_id: str
    invite: tuple[str, ...]
    #: How many of the people given were already joined or invited.
    present: int


@dataclass(frozen=True, slots=True)
class Failure:
    user_id: str
    refusal: Refusal


@dataclass
class Progress:
    """How far a run has gone."""

    total: int
    sent: int = 0
    failures: list[Failure] = field(default_factory=list)
    finished: bool = False

    @property
    def done(self) -> int:
        return self.sent + len(self.failures)


Report = Callable[[Progress], Awaitable[None]]


class Inviter:
    """Invites people at :class:`Pace`; one per bot, so that concurrent runs share the homeserver's budget."""

    def __init__(
        self,
        homeserver: Homeserver,
        pace: Pace | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.homeserver = homeserver
        self.pace = pace or Pace()
        self._clock = clock
        self._sleep = sleep
        #: One call at a time, never before this instant.
        self._turn = asyncio.Lock()
        self._next_call = 0.0

    async def plan(self, room_id: str, people: Iterable[str]) -> Plan:
        """Whom of ``people`` to invite, from the room's membership read now (each person once)."""
        wanted = list(dict.fromkeys(people))
        memberships = await self.homeserver.memberships(room_id)
        invite = tuple(user for user in wanted if memberships.get(user) not in PRESENT)
        return Plan(room_id, invite, len(wanted) - len(invite))

    async def run(self, plan: Plan, report: Report) -> Progress:
        """Invites everyone in ``plan``; ``report`` is called every :attr:`Pace.progress_every` and at the end."""
        progress = Progress(len(plan.invite))
        reported = self._clock()
        for user_id in plan.invite:
            refusal = await self._invite(plan.room_id, user_id)
            if refusal is None:
                progress.sent += 1
            else:
                progress.failures.append(Failure(user_id, refusal))
            if self._clock() - reported >= self.pace.progress_every:
                await report(progress)
                reported = self._clock()
        progress.finished = True
        await report(progress)
        return progress

    async def _invite(self, room_id: str, user_id: str) -> Refusal | None:
        refusal: Refusal | None = None
        for _ in range(self.pace.retries + 1):
            async with self._turn:
                await self._wait_turn()
                started = self._clock()
                refusal = await self.homeserver.invite(room_id, user_id)
                self._next_call = started + self.pace.interval
                if refusal is None or refusal.errcode != LIMIT_EXCEEDED:
                    return refusal
                # The homeserver's word on when to call again overrides the pace, for every run.
                wait = refusal.retry_after if refusal.retry_after is not None else self.pace.backoff
                self._next_call = max(self._next_call, self._clock() + wait)
        return refusal

    async def _wait_turn(self) -> None:
        delay = self._next_call - self._clock()
        if delay > 0:
            await self._sleep(delay)
