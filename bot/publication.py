"""Telling each coalition's room how its publications go, from the hub's reports.

One background task (:class:`PublicationReports`, started and stopped with the bot) reads
:meth:`DispatchService.reports` about once a second and tells each report in its coalition's room, in the
room's language (the texts are in :mod:`bot.publication_text`):

* a pre-flight or delivery failure mentions the town's officers, with the reason and what to do; failures of
  one announcement read in the same pass make one message, not one per town;
* an announcement held after an outage asks the coordinators what to do: publish now, cancel, reschedule; so
  does one whose quorum was missed at its deadline: lower the quorum, move the dates, cancel;
* a publication or a retraction that starts gets one status message, kept current by edits (at most every
  ``edit_every`` seconds, and only when the numbers changed); the hub remembers it (purposes ``progress`` and
  ``progress.retract``), so a restarted bot edits the same message;
* one that ends gets its final count, then a recap (every post's link by town and network; the towns whose
  post failed, their officers mentioned), split over several messages for a large coalition.

A report is marked told only once its messages are sent: a crash before that tells it again after the
restart, with the same Matrix transaction ids, so the homeserver answers with the messages it already has
rather than posting them twice. A room that cannot be reached is tried again after growing pauses, without
holding up the other coalitions; a coalition's reports are always told in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass

from bot.card import CARD, refresh_cards
from bot.context import Messenger
from bot.pages import public_page
from bot.publication_text import (
    Problem,
    Stage,
    Tally,
    overdue_question,
    posted_tally,
    problems_message,
    progress_reply,
    publication_recap,
    publication_tally,
    retraction_recap,
    retraction_tally,
)
from bot.quorum import quorum_question, reported_tally
from bot.reach_reports import packs_reply, tell_reach_reports, tell_repost_news
from bot.render import Reply
from hub.core import Hub
from hub.domain.model import Announcement, AnnouncementMessage, AnnouncementState, Platform, Report, ReportKind

log = logging.getLogger(__name__)

#: Purposes under which the hub remembers the status messages of a publication and of a retraction.
PROGRESS = "progress"
RETRACT_PROGRESS = "progress.retract"
#: Reports about one town's post; those of one announcement read together are told in one message.
TOWN_REPORTS = frozenset({ReportKind.PREFLIGHT_FAILED, ReportKind.DELIVERY_FAILED})
_RETRACTION_STATES = frozenset({AnnouncementState.RETRACTING, AnnouncementState.RETRACTED})
#: Pauses (seconds) before trying a room again after a failed send, growing with each failure in a row.
_PAUSES = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


def group_reports(reports: Sequence[Report]) -> list[list[Report]]:
    """The reports in the order to tell them, the town reports of one announcement and kind gathered.

    A town report joins the group of the previous one of the same announcement and kind unless another
    report of that announcement came between them, so an announcement's story is still told in order.
    """
    groups: list[list[Report]] = []
    gathering: dict[tuple[int, ReportKind], list[Report]] = {}
    for report in reports:
        if report.kind not in TOWN_REPORTS:
            for key in [k for k in gathering if k[0] == report.announcement_id]:
                del gathering[key]
            groups.append([report])
            continue
        key = (report.announcement_id, report.kind)
        if key in gathering:
            gathering[key].append(report)
        else:
            gathering[key] = [report]
            groups.append(gathering[key])
    return groups


@dataclass(frozen=True, slots=True)
class _Shown:
    """What a status message says now (so that it is only edited when that changes)."""

    tally: Tally
    running: bool


class PublicationReports:
    """The background task that tells the rooms what the dispatcher did; one per bot."""

    def __init__(
        self,
        hub: Hub,
        messenger: Messenger,
        prefix: str,
        *,
        interval: float = 1.0,
        edit_every: float = 2.0,
        batch: int = 500,
    ) -> None:
        self.hub = hub
        self.messenger = messenger
        self.prefix = prefix
        self.interval = interval
        self.edit_every = edit_every
        self.batch = batch
        self._shown: dict[tuple[int, str], _Shown] = {}
        self._next_edit = 0.0
        #: Coalitions whose room could not be reached: failures in a row, and when to try again.
        self._failures: dict[int, int] = {}
        self._paused_until: dict[int, float] = {}

    async def run(self) -> None:
        """Checks every ``interval`` seconds until cancelled; a failed check is logged and the loop goes on."""
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("The publication report check failed; trying again in %s s", self.interval)
            await asyncio.sleep(self.interval)

    async def check(self) -> int:
        """Tells the reports waiting, then brings the status messages up to date; returns how many were told."""
        told = await self.tell_reports()
        told += await tell_reach_reports(self.hub, self.messenger)
        told += await tell_repost_news(self.hub, self.messenger, self.prefix)
        now = asyncio.get_running_loop().time()
        if now >= self._next_edit:
            self._next_edit = now + self.edit_every
            await self.refresh_progress()
        return told

    async def tell_reports(self) -> int:
        """Tells every report not told yet (except in rooms paused after a failure); returns how many."""
        told = 0
        for group in group_reports(await self.hub.dispatch.reports(self.batch)):
            coalition_id = group[0].coalition_id
            if self._paused(coalition_id):
                continue  # and so are its later reports, which must not overtake this one
            if await self._attempt(coalition_id, self._tell(group)):
                await self.hub.dispatch.reported([r.id for r in group])
                told += len(group)
                if group[0].kind not in TOWN_REPORTS:  # the announcement's state changed: so does its card
                    await refresh_cards(self.hub, self.messenger, group[0].announcement_id, self.prefix)
        return told

    async def refresh_progress(self) -> None:
        """Edits the status message of every publication and retraction under way whose numbers changed."""
        states = [AnnouncementState.PUBLISHING, AnnouncementState.RETRACTING]
        for announcement in await self.hub.announcements.list(states=states):
            if self._paused(announcement.coalition_id):
                continue
            purpose = PROGRESS if announcement.state is AnnouncementState.PUBLISHING else RETRACT_PROGRESS
            await self._attempt(announcement.coalition_id, self._show_progress(announcement, purpose, create=False))

    # --- one report -----------------------------------------------------------------------------------

    async def _tell(self, group: list[Report]) -> None:
        first = group[0]
        if first.kind in TOWN_REPORTS:
            await self._tell_problems(group)
            return
        announcement = await self.hub.announcements.get(first.announcement_id)
        if first.kind in (ReportKind.OVERDUE, ReportKind.QUORUM_MISSED):
            await self._ask_coordinators(announcement, first)
        elif first.kind is ReportKind.PUBLISHING:
            await self._show_progress(announcement, PROGRESS, create=True)
        elif first.kind is ReportKind.RETRACTING:
            await self._show_progress(announcement, RETRACT_PROGRESS, create=True)
        else:
            await self._recap(announcement, first)

    async def _tell_problems(self, group: list[Report]) -> None:
        """One message (or more, for many towns) per stage, mentioning the officers of every town concerned."""
        board = await self.hub.announcements.board(group[0].announcement_id)
        towns = {s.town.id: s.town.name for s in board.signons}
        online = await self._online(board.announcement) if group[0].kind is ReportKind.DELIVERY_FAILED else {}
        stages: dict[Stage, list[Problem]] = {}
        for report in group:
            key = (report.town_id, report.platform)
            stage = _stage(report.kind, key in online)
            town = towns.get(report.town_id or 0, f"#{report.town_id}")
            officers = board.officers.get(report.town_id or 0, [])
            problem = Problem(town, report.platform, report.problem, officers, online.get(key))
            stages.setdefault(stage, []).append(problem)
        lang = board.coalition.language
        for stage, problems in stages.items():
            pages = problems_message(board.announcement, problems, stage, lang, self.prefix)
            tx = f"unisson-report-{group[0].id}-{group[-1].id}-{len(group)}-{stage.value}"
            await self._send_pages(board.coalition.room_id, pages, tx)

    async def _online(self, announcement: Announcement) -> dict[tuple[int | None, Platform | None], str | None]:
        """During a retraction, the posts still online (town, network → link): their deletion failed."""
        if announcement.state not in _RETRACTION_STATES:
            return {}
        outcomes = await self.hub.dispatch.outcomes(announcement.id)
        return {(o.town.id, o.delivery.platform): o.delivery.remote_url for o in outcomes if o.delivery.remote_id}

    async def _ask_coordinators(self, announcement: Announcement, report: Report) -> None:
        coalition = await self.hub.coalitions.get(announcement.coalition_id)
        coordinators = await self.hub.coalitions.coordinators(coalition.id)
        lang = coalition.language
        if report.kind is ReportKind.QUORUM_MISSED:
            question = quorum_question(announcement, reported_tally(report), coordinators, lang, self.prefix)
        else:
            progress = await self.hub.dispatch.progress(announcement.id)
            prestaged = await self.hub.dispatch.prestaged(announcement.id)
            question = overdue_question(announcement, progress, coordinators, lang, self.prefix, prestaged)
        cards = await self.hub.announcements.messages(announcement.id, CARD)
        await self.messenger.send(
            coalition.room_id,
            question,
            in_reply_to=cards[-1].message_id if cards else None,
            tx_id=f"unisson-report-{report.id}",
        )

    async def _recap(self, announcement: Announcement, report: Report) -> None:
        """The status message's final count, then the recap."""
        retraction = report.kind is ReportKind.RETRACTED
        await self._show_progress(announcement, RETRACT_PROGRESS if retraction else PROGRESS, create=False)
        board = await self.hub.announcements.board(announcement.id)
        outcomes = await self.hub.dispatch.outcomes(announcement.id)
        lang = board.coalition.language
        if retraction:
            pages = retraction_recap(announcement, outcomes, board.officers, lang, self.prefix)
        else:
            page = public_page(self.hub.settings, board.announcement)
            pages = publication_recap(announcement, outcomes, board.officers, lang, self.prefix, page)
            if (packs := await packs_reply(self.hub, board.coalition, lang)) is not None:
                pages.append(packs)
        await self._send_pages(board.coalition.room_id, pages, f"unisson-report-{report.id}")

    # --- the status message -------------------------------------------------------------------------------

    async def _show_progress(self, announcement: Announcement, purpose: str, *, create: bool) -> None:
        """Edits the status message if what it would say changed; posts it first if ``create`` and it is missing."""
        running = announcement.state is (
            AnnouncementState.PUBLISHING if purpose == PROGRESS else AnnouncementState.RETRACTING
        )
        shown = _Shown(await self._tally(announcement, purpose, running), running)
        key = (announcement.id, purpose)
        messages = await self.hub.announcements.messages(announcement.id, purpose)
        if messages and self._shown.get(key) == shown:
            return
        if not messages and not create:
            return
        coalition = await self.hub.coalitions.get(announcement.coalition_id)
        reply = progress_reply(
            announcement, shown.tally, coalition.language, retraction=purpose == RETRACT_PROGRESS, running=running
        )
        if messages:
            await self.messenger.edit(messages[-1].channel, messages[-1].message_id, reply)
        else:
            tx = f"unisson-{purpose}-{announcement.id}"
            event_id = await self.messenger.send(coalition.room_id, reply, tx_id=tx)
            message = AnnouncementMessage(announcement.id, coalition.room_id, event_id, purpose)
            await self.hub.announcements.remember_message(message)
        self._shown[key] = shown

    async def _tally(self, announcement: Announcement, purpose: str, running: bool) -> Tally:
        if purpose == PROGRESS and running:
            return publication_tally(await self.hub.dispatch.progress(announcement.id))
        outcomes = await self.hub.dispatch.outcomes(announcement.id)
        return posted_tally(outcomes) if purpose == PROGRESS else retraction_tally(outcomes)

    # --- sending ---------------------------------------------------------------------------------------

    async def _send_pages(self, room_id: str, pages: Sequence[Reply], tx: str) -> None:
        for number, page in enumerate(pages, start=1):
            await self.messenger.send(room_id, page, tx_id=f"{tx}-{number}")

    async def _attempt(self, coalition_id: int, work: Awaitable[None]) -> bool:
        """Runs ``work``; on failure logs it and pauses the coalition's room. True when it went through."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            failures = self._failures[coalition_id] = self._failures.get(coalition_id, 0) + 1
            pause = _PAUSES[min(failures, len(_PAUSES)) - 1]
            self._paused_until[coalition_id] = asyncio.get_running_loop().time() + pause
            log.exception(
                "Could not tell the room of coalition %s about a publication; again in %s s", coalition_id, pause
            )
            return False
        self._failures.pop(coalition_id, None)
        return True

    def _paused(self, coalition_id: int) -> bool:
        until = self._paused_until.get(coalition_id)
        return until is not None and asyncio.get_running_loop().time() < until


def _stage(kind: ReportKind, online: bool) -> Stage:
    if kind is ReportKind.PREFLIGHT_FAILED:
        return Stage.PREFLIGHT
    return Stage.DELETE if online else Stage.PUBLISH
