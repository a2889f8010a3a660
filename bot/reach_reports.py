"""Telling a coalition's room what its towns' posts achieved, once the hub has read their counts; how far the
coalition's own accounts are in reposting them; and where to follow every town at once (the starter packs,
under the publication's recap).

The publication reports' loop (:class:`bot.publication.PublicationReports`) calls :func:`tell_reach_reports`
and :func:`tell_repost_news` each pass. A reading (a repost stage) is marked told once its message is sent; a
crash before that sends it again with the same Matrix transaction id, so the homeserver does not post it twice.
Reposts are told at most five times per request (see :data:`hub.domain.reach.REPOST_STAGES`), so that a
coalition of 1,600 towns does not fill its room with them.
"""

from __future__ import annotations

from datetime import timedelta

from bot.context import Messenger
from bot.pages import add_packs
from bot.render import Reply, Rich
from hub.core import Hub
from hub.domain.model import Coalition
from hub.domain.reach import DONE, PLANNED, STOPPED
from hub.i18n import format_instant, translate
from hub.services.reach_report import report_lines
from hub.services.reposts import RepostNews, RepostPlan


async def tell_reach_reports(hub: Hub, messenger: Messenger) -> int:
    """Sends every reach report read but not told; returns how many were told."""
    told = 0
    for round_, coalition_id in await hub.reach.untold():
        coalition = await hub.coalitions.get(coalition_id)
        report = await hub.reach.report(round_.announcement_id, round_.number)
        text = "\n".join(report_lines(report, coalition.language))
        await messenger.send(coalition.room_id, Reply.text(text), tx_id=f"unisson-reach-{round_.id}")
        await hub.reach.told(round_.id)
        told += 1
    return told


async def packs_reply(hub: Hub, coalition: Coalition, lang: str) -> Reply | None:
    """The coalition's starter packs, to follow every town at once, each named; None when it has none."""
    links = await hub.starter_packs.links(coalition.id)
    if not links:
        return None
    return add_packs(Rich(), links, coalition.name, lang).build()


async def tell_repost_news(hub: Hub, messenger: Messenger, prefix: str) -> int:
    """Tells each room how far its coalition's reposts are (planned, a quarter…, done); returns how many told."""
    told = 0
    for news in await hub.reposts.news():
        coalition = await hub.coalitions.get(news.coalition_id)
        announcement = await hub.announcements.get(news.announcement_id)
        text = repost_news_text(news, announcement.timezone, coalition.language, prefix)
        tx_id = f"unisson-repost-{news.announcement_id}-{news.stage}"
        await messenger.send(coalition.room_id, Reply.text(text), tx_id=tx_id)
        await hub.reposts.news_told(news.announcement_id, news.stage)
        told += 1
    return told


def repost_news_text(news: RepostNews, zone: str, lang: str, prefix: str) -> str:
    plan, number = news.plan, news.announcement_id
    if news.stage == STOPPED:
        return translate("bot.reach.repost.news.stopped", lang, id=number)
    if news.stage == DONE:
        done = translate(
            "bot.reach.repost.news.done", lang, id=number, done=plan.progress.get("done", 0), total=plan.total
        )
        failed = plan.progress.get("failed", 0)
        return (
            f"{done} {translate('bot.reach.repost.news.failed', lang, failed=failed, prefix=prefix)}"
            if failed
            else done
        )
    start, end = plan.starts_at, plan.ends_at
    if start is None or end is None:  # a request without reposts to make: it is done before it starts
        return translate("bot.reach.repost.news.done", lang, id=number, done=0, total=0)
    when = format_instant(end, zone, lang)
    if news.stage == PLANNED:
        duration = duration_text(end - start, lang)
        counts = counts_text(plan, lang)
        return translate("bot.reach.repost.news.planned", lang, id=number, counts=counts, when=when, duration=duration)
    return translate(
        "bot.reach.repost.news.share",
        lang,
        id=number,
        done=plan.finished,
        total=plan.total,
        share=news.stage,
        when=when,
    )


def counts_text(plan: RepostPlan, lang: str) -> str:
    """« 50 sur Bluesky, 50 sur Mastodon »."""
    return ", ".join(
        translate("bot.reach.repost.count", lang, count=n, network=p.value.capitalize())
        for p, n in sorted(plan.counts.items())
    )


def duration_text(length: timedelta, lang: str) -> str:
    """« 12 min », « 6 h 05 » (at least a minute)."""
    minutes = max(1, round(length.total_seconds() / 60))
    if minutes < 60:
        return translate("bot.reach.duration.minutes", lang, minutes=minutes)
    return translate("bot.reach.duration.hours", lang, hours=minutes // 60, minutes=f"{minutes % 60:02d}")
