"""A reach report as people read it: a few lines for the room and the terminal, or CSV (one row per post)."""

from __future__ import annotations

import csv
import io

from hub.domain.reach import Counts
from hub.i18n import format_instant, translate
from hub.services.reach import ReachReport

ZONE = "Europe/Paris"
CSV_COLUMNS = ("delivery_id", "town_id", "town", "network", "likes", "reposts", "replies", "quotes", "deleted")


def _counts(counts: Counts) -> dict[str, int]:
    return {"likes": counts.likes, "reposts": counts.reposts, "replies": counts.replies, "quotes": counts.quotes}


def report_lines(report: ReachReport, lang: str, zone: str = ZONE) -> list[str]:
    """The short report: totals per network and overall, the ten towns with the most reach, posts deleted."""
    when = translate("reach.report.round", lang, number=report.round_number, at=_at(report, lang, zone))
    lines = [translate("reach.report.title", lang, id=report.announcement_id, title=report.title, when=when)]
    if not report.posts:
        return [*lines, translate("reach.report.none", lang)]
    for platform, counts in sorted(report.totals.items()):
        network = platform.value.capitalize()
        posts = report.posts.get(platform, 0)
        lines.append(translate("reach.report.network", lang, network=network, posts=posts, **_counts(counts)))
    lines.append(translate("reach.report.total", lang, **_counts(report.total)))
    if report.top:
        towns = ", ".join(f"{t.town} ({t.counts.reach})" for t in report.top)
        lines.append(translate("reach.report.top", lang, towns=towns))
    if report.deleted:
        lines.append(translate("reach.report.deleted", lang, count=report.deleted))
    return lines


def report_csv(report: ReachReport) -> str:
    """Every post's counts at the reading, one row each (for a spreadsheet)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for shot in report.snapshots:
        c = shot.counts
        town = report.towns.get(shot.town_id, "")
        row = (shot.delivery_id, shot.town_id, town, shot.platform.value, c.likes, c.reposts, c.replies, c.quotes)
        writer.writerow((*row, int(c.deleted)))
    return out.getvalue()


def page_totals(report: ReachReport, lang: str, zone: str = ZONE) -> str:
    """One sentence of totals for the public campaign page."""
    posts = sum(report.posts.values())
    return translate("web.reach.totals", lang, posts=posts, at=_at(report, lang, zone), **_counts(report.total))


def _at(report: ReachReport, lang: str, zone: str) -> str:
    return format_instant(report.read_at, zone, lang) if report.read_at else "-"
