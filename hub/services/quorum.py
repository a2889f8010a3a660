"""The quorum of an announcement: a coordinator sets, changes or removes it; the dispatcher judges it at the
sign-on deadline and, when it is missed, has the coordinators asked once what to do.

The rules are in :mod:`hub.domain.quorum`; the lock refuses an announcement short of its quorum
(:meth:`AnnouncementService.lock <hub.services.announcements.AnnouncementService.lock>`), so a missed quorum
never publishes anything.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, replace
from datetime import datetime

from hub.domain import lifecycle
from hub.domain.lifecycle import Action
from hub.domain.model import Announcement, AnnouncementState, Failure, ReportKind, SignOnState
from hub.domain.quorum import Quorum, QuorumTally, judged, parse_quorum
from hub.services.context import ServiceContext
from hub.services.dispatch import DISPATCHER
from hub.services.editing import coordinated_announcement, get_announcement, record_decision
from hub.store import UnitOfWork

#: The report's problem key: the room is told the counts it carries (see :class:`QuorumTally.as_details`).
MISSED = "quorum.missed"


@dataclass(frozen=True, slots=True)
class QuorumChange:
    announcement: Announcement
    #: Where the signatures stand against the new quorum (None when it was removed).
    tally: QuorumTally | None
    #: Whether the quorum has been judged already (the deadline passed): the tally is then the verdict.
    judged: bool


class QuorumService:
    def __init__(self, context: ServiceContext) -> None:
        self.context = context

    async def set(self, actor_id: str, announcement_id: int, typed: str) -> QuorumChange:
        """Sets the quorum a coordinator typed (``800``, ``50%``, ``aucun`` to remove it), before the lock.

        After the deadline the answer is the verdict: a quorum now reached lets the announcement be locked; one
        still missed keeps it waiting, and the room is not asked again (the coordinator has the answer).
        """
        now = self.context.clock()
        async with self.context.store.unit() as uow:
            announcement = await coordinated_announcement(self.context, uow, actor_id, announcement_id, for_update=True)
            lifecycle.apply(Action.QUORUM, announcement.state)
            counts = await uow.signons.counts(announcement.id, announcement.coalition_id)
            members = sum(counts.values())
            quorum = parse_quorum(typed, members)
            tally = quorum.tally(counts[SignOnState.SIGNED], members) if quorum else None
            verdict = judged(replace(announcement, quorum=quorum), now)
            missed_at = (announcement.quorum_missed_at or now) if verdict and tally and not tally.met else None
            await uow.announcements.update(announcement.id, quorum=quorum, quorum_missed_at=missed_at)
            details = {"quorum": _typed(quorum), "previous": _typed(announcement.quorum), **_counts(tally)}
            await record_decision(uow, actor_id, "announcement.quorum", announcement, details=details)
            return QuorumChange(await get_announcement(uow, announcement.id), tally, verdict)

    async def tally(self, announcement_id: int) -> QuorumTally | None:
        """Where the signatures stand against the announcement's quorum, if it has one."""
        async with self.context.store.unit() as uow:
            announcement = await get_announcement(uow, announcement_id)
            return await _tally(uow, announcement)

    async def ask_when_missed(self, now: datetime) -> builtins.list[int]:
        """The dispatcher's step: for each open announcement whose quorum is missed at its deadline, notes it and
        has the room told (a report), in one transaction, so that the room is asked once, even across a crash.

        Returns the ids of the announcements whose coordinators are to be asked."""
        asked: list[int] = []
        async with self.context.store.unit() as uow:
            for candidate in await uow.announcements.quorum_judged(now):
                announcement = await uow.announcements.get(candidate, for_update=True)
                if announcement is None or not _still_to_judge(announcement, now):
                    continue  # another worker got there first, or a coordinator changed it meanwhile
                tally = await _tally(uow, announcement)
                if tally is None or tally.met:
                    continue
                await self._ask(uow, announcement, tally, now)
                asked.append(announcement.id)
        return asked

    async def _ask(self, uow: UnitOfWork, announcement: Announcement, tally: QuorumTally, now: datetime) -> None:
        await uow.announcements.update(announcement.id, quorum_missed_at=now)
        params = {name: str(value) for name, value in tally.as_details().items()}
        problem = Failure(MISSED, params)
        await uow.reports.add(ReportKind.QUORUM_MISSED, announcement.coalition_id, announcement.id, problem=problem)
        await record_decision(uow, DISPATCHER, "announcement.quorum_missed", announcement, details=tally.as_details())


def _still_to_judge(announcement: Announcement, now: datetime) -> bool:
    return (
        announcement.state is AnnouncementState.OPEN
        and announcement.quorum_missed_at is None
        and judged(announcement, now)
    )


async def _tally(uow: UnitOfWork, announcement: Announcement) -> QuorumTally | None:
    if announcement.quorum is None:
        return None
    counts = await uow.signons.counts(announcement.id, announcement.coalition_id)
    return announcement.quorum.tally(counts[SignOnState.SIGNED], sum(counts.values()))


def _typed(quorum: Quorum | None) -> str | None:
    return quorum.typed() if quorum else None


def _counts(tally: QuorumTally | None) -> dict[str, int]:
    return tally.as_details() if tally else {}
