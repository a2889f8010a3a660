"""What the room reads about an announcement's quorum: the line of its card and of its preview, and the question
the coordinators are asked when it was missed at the deadline (told once, from the hub's report).

Pure functions of the hub's values, like :mod:`bot.publication_text`.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.render import Reply, Rich
from hub.domain.model import Announcement, AnnouncementState, Report
from hub.domain.quorum import QuorumTally, check_moment
from hub.i18n import format_instant, translate


def quorum_lines(announcement: Announcement, tally: QuorumTally, lang: str) -> list[str]:
    """``Quorum : 412/800 signatures requises``, with the share it stands for and whether it is reached; then,
    when it was missed at the deadline, that nothing will go out without the coordinators."""
    quorum = announcement.quorum
    percent = quorum.percent if quorum else None
    key = "bot.quorum.line" if percent is None else "bot.quorum.line.share"
    line = translate(key, lang, signed=tally.signed, required=tally.required, percent=percent, members=tally.members)
    if tally.met:
        return [line + translate("bot.quorum.met", lang)]
    if announcement.quorum_missed_at is not None and announcement.state is AnnouncementState.OPEN:
        return [line, translate("bot.quorum.missed", lang)]
    return [line]


def tally_of(announcement: Announcement, signed: int, members: int) -> QuorumTally | None:
    """Where ``signed`` signatures out of ``members`` towns stand against the announcement's quorum, if any."""
    return announcement.quorum.tally(signed, members) if announcement.quorum else None


def add_quorum(rich: Rich, announcement: Announcement, tally: QuorumTally | None, lang: str) -> Rich:
    """``rich`` with the quorum's lines below it, if the announcement has a quorum."""
    for line in quorum_lines(announcement, tally, lang) if tally is not None else []:
        rich.line().text(line)
    return rich


def reported_tally(report: Report) -> QuorumTally:
    """The counts a missed-quorum report carries: those at the deadline, not the ones of the moment it is told."""
    params = report.problem.params if report.problem else {}
    return QuorumTally(*(int(params.get(name, 0)) for name in ("signed", "required", "members")))


def quorum_question(
    announcement: Announcement, tally: QuorumTally, coordinators: Sequence[str], lang: str, prefix: str
) -> Reply:
    """Asks the coordinators what to do with an announcement whose quorum was missed: lower it, move the dates,
    or cancel — each choice as the exact command to type."""
    moment = check_moment(announcement)
    key = "bot.quorum.question.deadline" if announcement.deadline else "bot.quorum.question.publish"
    when = format_instant(moment, announcement.timezone, lang) if moment else ""
    about = {"id": str(announcement.id), "title": announcement.title, "prefix": prefix}
    counts = {"signed": tally.signed, "required": tally.required, "missing": tally.missing}
    rich = Rich().strong(translate(key, lang, when=when, **about, **counts)).line()
    for position, coordinator in enumerate(coordinators):
        rich.text(", " if position else "").mention(coordinator)
    if not coordinators:
        rich.text(translate("bot.publication.overdue.nobody", lang))
    rich.text(translate("bot.publication.overdue.ask", lang))
    choices = ["bot.quorum.choice.lower"] if tally.signed else []
    choices += ["bot.quorum.choice.reschedule", "bot.quorum.choice.cancel"]
    return rich.items(Rich().text(translate(k, lang, signed=tally.signed, **about)) for k in choices).build()
