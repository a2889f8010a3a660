"""Reminding the towns that have not answered an announcement before its sign-on deadline.

At each configured offset before the deadline (``UNISSON_MATRIX_REMINDERS=48h,24h,2h``) the bot posts one
message in the coalition's room that mentions the officers of every town still pending (several messages for
a long list, each under the size limit). Each reminder is claimed in the hub
(:meth:`AnnouncementService.remember_message`, purpose ``reminder:24h``) *before* it is sent, so a restart
never sends it twice; a failed first send gives the claim back, to be tried again at the next check. When the
bot was down through several offsets, only the latest one due is sent: two reminders at once would say the
same thing twice.

The time comes from the hub's clock, so tests move it by hand; :meth:`Reminders.poke` runs a check at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from babel.dates import format_timedelta

from bot.polling import every
from bot.quorum import add_quorum, tally_of
from bot.render import Reply, Rich, paginate_list
from bot.settings import BotSettings
from hub.core import Hub
from hub.domain.model import Announcement, AnnouncementMessage, AnnouncementState, SignOnState, Town
from hub.i18n import format_instant, translate
from hub.services.announcements import Board

log = logging.getLogger(__name__)

#: ``send(room_id, reply, in_reply_to=...)`` → the event id (``Bot.send``).
Send = Callable[..., Awaitable[str]]
#: The purpose under which the front ends note an announcement's card (a reminder answers it).
CARD_PURPOSE = "card"


def label(offset: timedelta) -> str:
    """``timedelta(hours=24)`` → ``"24h"``; ``timedelta(minutes=90)`` → ``"90m"`` (stable, for the claims)."""
    minutes = int(offset.total_seconds() // 60)
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"


def purpose(offset: timedelta) -> str:
    return f"reminder:{label(offset)}"


def due_offset(deadline: datetime, now: datetime, offsets: Sequence[timedelta]) -> timedelta | None:
    """The shortest offset whose moment has come, if the deadline has not passed yet."""
    if now >= deadline:
        return None
    due = [o for o in offsets if deadline - o <= now]
    return min(due) if due else None


class Reminders:
    """The background task that sends the reminders; one per bot."""

    def __init__(self, hub: Hub, send: Send, settings: BotSettings) -> None:
        self.hub = hub
        self.send = send
        self.offsets = tuple(sorted(settings.reminders, reverse=True))
        self.interval = settings.reminder_check_seconds
        self.prefix = settings.command_prefix
        self._wake = asyncio.Event()

    def poke(self) -> None:
        """Runs a check now rather than at the next interval (after the clock moved, in tests)."""
        self._wake.set()

    async def run(self) -> None:
        """Checks every ``interval`` seconds until cancelled; a failed check is logged and the loop goes on."""
        if self.offsets:
            await every(self.interval, self._wake, self.check, "reminder")

    async def check(self) -> int:
        """Sends the reminders that are due now; returns how many were sent."""
        now = self.hub.clock()
        sent = 0
        for announcement in await self.hub.announcements.list(states=[AnnouncementState.OPEN]):
            if announcement.deadline is None:
                continue
            offset = due_offset(announcement.deadline, now, self.offsets)
            if offset is not None and await self._remind(announcement, offset):
                sent += 1
        return sent

    async def _remind(self, announcement: Announcement, offset: timedelta) -> bool:
        board = await self.hub.announcements.board(announcement.id)
        pending = board.with_state(SignOnState.PENDING)
        if not pending:
            return False
        claim = AnnouncementMessage(
            announcement.id, board.coalition.room_id, f"reminder:{announcement.id}:{label(offset)}", purpose(offset)
        )
        if not await self.hub.announcements.remember_message(claim):
            return False  # sent before (possibly by this bot before a restart)
        cards = await self.hub.announcements.messages(announcement.id, CARD_PURPOSE)
        card = cards[-1].message_id if cards else None
        what = f"the {label(offset)} reminder of announcement {announcement.id}"
        if not await self._send(board.coalition.room_id, self.messages(board, offset), card, what):
            # Nothing went out: the claim is given back, to be tried again at the next check.
            await self.hub.announcements.forget_message(claim.message_id, claim.purpose)
            return False
        return True

    async def _send(self, room_id: str, pages: list[Reply], card: str | None, what: str) -> int:
        """Sends the reminder's messages in order, in reply to the card; returns how many went out.

        A failed send stops the rest; once one message went out, the claim stays (better a part missed than
        the whole reminder twice). Not CancelledError: cancelled mid-send, the claim stays too.
        """
        for sent, page in enumerate(pages):
            try:
                await self.send(room_id, page, in_reply_to=card)
            except Exception:
                log.exception("Could not send %s (message %s of %s)", what, sent + 1, len(pages))
                return sent
        return len(pages)

    def messages(self, board: Board, offset: timedelta) -> list[Reply]:
        """The reminder: what is due when, then each pending town with its officers mentioned.

        A long list goes over several messages, each under the size limit, each saying what to do.
        """
        lang = board.coalition.language
        announcement = board.announcement
        assert announcement.deadline is not None
        deadline = format_instant(announcement.deadline, announcement.timezone, lang)
        head = translate(
            "bot.remind.heading",
            lang,
            title=announcement.title,
            left=format_timedelta(offset, locale=lang, threshold=2),
            deadline=deadline,
        )
        lines = [
            self._line(signon.town, board.officers.get(signon.town.id, []), lang)
            for signon in board.with_state(SignOnState.PENDING)
        ]

        def continued() -> Rich:
            return Rich().strong(translate("bot.remind.continued", lang, title=announcement.title, deadline=deadline))

        how = translate("bot.remind.how", lang, prefix=self.prefix)
        tally = tally_of(announcement, len(board.with_state(SignOnState.SIGNED)), len(board.signons))
        return paginate_list(add_quorum(Rich().strong(head), announcement, tally, lang), lines, continued, how)

    def _line(self, town: Town, officers: list[str], lang: str) -> Rich:
        line = Rich().strong(town.name).text(" — ")
        for position, officer in enumerate(officers):
            line.text(", " if position else "").mention(officer)
        if not officers:
            line.text(translate("bot.remind.no_officer", lang, prefix=self.prefix))
        return line
