"""Telling a coalition's room what its towns' posts achieved, once the hub has read their counts, and where to
follow every town at once (the starter packs, under the publication's recap).

The publication reports' loop (:class:`bot.publication.PublicationReports`) calls :func:`tell_reach_reports`
each pass. A reading is marked told once its message is sent; a crash before that sends it again with the same
Matrix transaction id, so the homeserver does not post it twice.
"""

from __future__ import annotations

from bot.context import Messenger
from bot.pages import add_packs
from bot.render import Reply, Rich
from hub.core import Hub
from hub.domain.model import Coalition
from hub.services.reach_report import report_lines


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
