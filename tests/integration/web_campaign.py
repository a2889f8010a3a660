"""A published campaign served over HTTP, for the tests of the web pages in a browser.

Five real communes, four of which sign and Orléans declines with its reason (as in the demo); each signatory
posts on the Bluesky and Mastodon doubles, run by a real dispatcher, so the pages link to eight real posts
that open on 127.0.0.1 (the Bluesky double serves each post's page, ``UNISSON_BLUESKY_APP_URL``). Then the
hub's own HTTP endpoint serves the pages, and a coordinator's status link is issued as ``!lien N`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from hub.core import Hub, utc_now
from hub.dispatch.worker import Dispatcher
from hub.domain.model import AnnouncementState
from hub.urls import coalition_path, feed_path, public_path
from hub.web.app import HttpEndpoint, Monitoring
from sandbox.bluesky import BlueskyDouble
from sandbox.fleet import COORDINATOR, Fleet, build_fleet, use_servers
from sandbox.mastodon import MastodonDouble

TOWNS = [
    ("94043", "Le Kremlin-Bicêtre"),
    ("25056", "Besançon"),
    ("45234", "Orléans"),
    ("42218", "Saint-Étienne"),
    ("93055", "Pantin"),
]
ORLEANS = "45234"
REASON = "Le conseil municipal doit d'abord en délibérer."
SIGNATORIES = [name for code, name in TOWNS if code != ORLEANS]
TEXT = "{ville} quitte X et vous donne rendez-vous ici. #AuRevoirX"
#: From the lock to the publication instant: enough for the pre-flight checks to run first.
LEAD = timedelta(seconds=1.0)


@dataclass(frozen=True)
class Campaign:
    """The published announcement and the addresses of its pages on the hub's endpoint."""

    hub: Hub
    fleet: Fleet
    base: str
    status: str

    @property
    def number(self) -> int:
        return self.fleet.announcement.id

    @property
    def public(self) -> str:
        return self.base + public_path(self.fleet.coalition_id, self.number)

    @property
    def coalition(self) -> str:
        return self.base + coalition_path(self.fleet.coalition_id)

    @property
    def feed(self) -> str:
        return self.base + feed_path(self.fleet.coalition_id)


async def publish(hub: Hub, announcement_id: int, within: float = 30.0) -> AnnouncementState:
    """Runs a dispatcher until the announcement's publication is over; its final state."""
    stop = asyncio.Event()
    dispatcher = asyncio.create_task(Dispatcher(hub).run(stop))
    busy = {AnnouncementState.LOCKED, AnnouncementState.PUBLISHING}
    try:
        for _ in range(int(within / 0.05)):
            state = (await hub.announcements.get(announcement_id)).state
            if state not in busy:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(dispatcher, 15)
    return state


@contextlib.asynccontextmanager
async def serving(hub: Hub) -> AsyncIterator[str]:
    """The hub's HTTP endpoint (the one ``unisson run`` serves) on a free port; its base URL."""
    endpoint = HttpEndpoint(Monitoring(hub, asyncio.Event(), ()))
    await endpoint.start("127.0.0.1", 0)
    try:
        yield endpoint.url
    finally:
        await endpoint.stop()


@contextlib.asynccontextmanager
async def published_campaign(hub: Hub, tmp_path: Path) -> AsyncIterator[Campaign]:
    """The campaign, published, its pages served while in the block."""
    hub.clock = utc_now  # the dispatcher publishes in real time
    bluesky, mastodon = BlueskyDouble(seed=5), MastodonDouble(seed=5)
    async with bluesky.serve() as blue, mastodon.serve() as masto, serving(hub) as base:
        use_servers(hub, plc_url=blue, app_url=blue, timeout=5.0)
        fleet = await build_fleet(
            hub,
            tmp_path,
            TOWNS,
            LEAD,
            bluesky=(bluesky, blue),
            mastodon=(mastodon, masto),
            text=TEXT,
            declined={ORLEANS: REASON},
        )
        assert await publish(hub, fleet.announcement.id) is AnnouncementState.PUBLISHED
        issued = await hub.links.issue(COORDINATOR, fleet.coalition_id, fleet.announcement.id)
        yield Campaign(hub, fleet, base, base + issued.path)
