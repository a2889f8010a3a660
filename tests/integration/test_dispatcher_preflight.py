"""Two workers on one PostgreSQL database while the leader's pre-flight takes longer than the worker timeout.

A pre-flight of thousands of accounts takes about a minute, far longer than the worker timeout. It must not
silence the leader's heartbeat: the other worker would then take back the leader's claims (and send those posts
a second time) and its leadership (and check every account again) while the leader still works.

The first announcement is under way, its Mastodon posts slow, so the leader holds their claims; meanwhile the
pre-flight of the second one stalls on each Bluesky account check, longer than the worker timeout.

A side task that ends anyway (a bug) stops the worker, which leaves as on a stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from hub.core import Hub, utc_now
from hub.dispatch.side_tasks import SideTaskStopped
from hub.dispatch.worker import Dispatcher
from hub.domain.model import Announcement, AnnouncementState, DeliveryState, Platform
from hub.store.outbox import OutboxRepository
from sandbox.bluesky import CREATE_RECORD, GET_SESSION, BlueskyDouble
from sandbox.fleet import COORDINATOR, Fleet, build_fleet, officer_of, use_servers
from sandbox.mastodon import CREATE_STATUS, MastodonDouble
from tests.integration.test_dispatcher import CODES, running, settled

TIMEOUT = 2.0
#: The pre-flight begins this long before an announcement's instant.
LEAD = 4.0
#: Each Bluesky account check of the second pre-flight: longer than the worker timeout.
STALL = 5.0
#: Each Mastodon post: the leader still holds the first announcement's claims while its pre-flight stalls.
POSTING = 6.0
LEADER, OTHER = "a-leader", "b-other"
SECOND_TEXT = "{ville} ne publie plus sur X : retrouvez-la ici. #AuRevoirX"


@pytest.fixture
async def doubles() -> AsyncIterator[tuple[BlueskyDouble, str, MastodonDouble, str]]:
    bluesky, mastodon = BlueskyDouble(seed=4), MastodonDouble(seed=4)
    async with bluesky.serve() as blue, mastodon.serve() as masto:
        yield bluesky, blue, mastodon, masto


async def _second_announcement(fleet: Fleet, instant: datetime) -> Announcement:
    """Another announcement of the same towns, locked for ``instant``."""
    hub = fleet.hub
    announcement = await hub.announcements.propose(COORDINATOR, fleet.coalition_id, "Suite", SECOND_TEXT)
    for town in fleet.towns:
        await hub.announcements.sign(officer_of(town.code or ""), announcement.id, town.id)
    async with hub.store.unit() as uow:
        await uow.announcements.update(announcement.id, publish_at=instant)
    return (await hub.announcements.lock(COORDINATOR, announcement.id)).announcement


async def _claimed_by_the_leader(hub: Hub, announcement_id: int) -> None:
    """Waits until the announcement's Mastodon posts are claimed (only the leader runs yet)."""
    while True:
        outcomes = await hub.dispatch.outcomes(announcement_id)
        if all(o.delivery.state is DeliveryState.CLAIMED for o in outcomes if o.delivery.platform is Platform.MASTODON):
            return
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def leaders(hub: Hub) -> AsyncIterator[list[str | None]]:
    """Records, every 0.1 s, which worker the others see as leading (the oldest id alive)."""
    seen: list[str | None] = []

    async def watch() -> None:
        while True:
            async with hub.store.unit() as uow:
                alive = await uow.workers.alive(utc_now() - timedelta(seconds=TIMEOUT))
            seen.append(alive[0] if alive else None)
            await asyncio.sleep(0.1)

    watching = asyncio.create_task(watch())
    try:
        yield seen
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching


@pytest.mark.parametrize("migrated_database_url", ["postgresql"], indirect=True)
async def test_a_preflight_longer_than_the_worker_timeout_keeps_the_leaders_claims_and_leadership(
    hub: Hub,
    tmp_path: Path,
    doubles: tuple[BlueskyDouble, str, MastodonDouble, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    bluesky, blue, mastodon, masto = doubles
    hub.clock = utc_now
    settings = hub.settings
    settings.worker_timeout_seconds, settings.worker_heartbeat_seconds = TIMEOUT, 0.2
    settings.preflight_minutes = LEAD / 60
    use_servers(hub, plc_url=blue, timeout=3 * POSTING)
    first = await build_fleet(
        hub, tmp_path, CODES, timedelta(seconds=2.5), bluesky=(bluesky, blue), mastodon=(mastodon, masto)
    )
    assert first.announcement.publish_at is not None
    # Its pre-flight begins 2 s after the first instant, once the leader holds the first Mastodon posts.
    second = await _second_announcement(first, first.announcement.publish_at + timedelta(seconds=LEAD + 2))
    posting = mastodon.inject("latency", count=None, on=CREATE_STATUS, seconds=POSTING)
    caplog.set_level(logging.INFO, logger="hub.dispatch")

    async with running(hub, worker_id=LEADER):
        await _claimed_by_the_leader(hub, first.announcement.id)
        stall = bluesky.inject("latency", count=None, on=GET_SESSION, seconds=STALL)
        async with leaders(hub) as seen, running(hub, worker_id=OTHER):
            states = [await settled(hub, a.id, within=40) for a in (first.announcement, second)]

    assert states == [AnnouncementState.PUBLISHED] * 2
    assert set(seen) == {LEADER}, "the other worker took the leadership while the leader was alive"
    assert not [r.message for r in caplog.records if "took back" in r.message]
    # Each post was sent once: no claim was taken back and sent again by the other worker.
    assert first.bluesky_posts() == first.mastodon_posts() == {t.id: 2 for t in first.towns}
    assert posting.fired == bluesky.calls[CREATE_RECORD] == 2 * len(CODES)
    # The second pre-flight checked each account once, in the leader alone.
    assert stall.fired == len(CODES)
    for announcement in (first.announcement, second):
        outcomes = await hub.dispatch.outcomes(announcement.id)
        assert [o.delivery.attempts for o in outcomes] == [1] * 2 * len(CODES)


class Fatal(BaseException):
    """Not an exception: no round of a side task recovers from it (as a bug in the loop itself would end it)."""


@pytest.mark.parametrize("migrated_database_url", ["sqlite"], indirect=True)
async def test_a_side_task_that_ends_stops_the_worker_which_leaves_cleanly(hub: Hub) -> None:
    async def broken() -> None:
        raise Fatal

    dispatcher = Dispatcher(hub)
    dispatcher.side.every("broken", lambda: 0.1, broken)
    with pytest.raises(SideTaskStopped) as stopped:
        await asyncio.wait_for(dispatcher.run(asyncio.Event()), 10)

    assert stopped.value.params["task"] == "broken"
    async with hub.store.unit() as uow:  # it left as on a stop: unregistered, its heartbeat stopped with it
        assert await uow.workers.alive(hub.clock() - timedelta(minutes=1)) == []
    assert [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("dispatcher-")] == []


@pytest.mark.parametrize("migrated_database_url", ["sqlite"], indirect=True)
async def test_a_stop_whose_hand_back_fails_still_stops_and_says_recovery_will_take_the_claims(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The claims handed back at a stop are a courtesy (the others' recovery takes them after the worker
    timeout): a database that refuses that last transaction (SQLite busy, a lost connection) does not make the
    stop fail."""
    stop = asyncio.Event()
    dispatcher = Dispatcher(hub)
    running_worker = asyncio.create_task(dispatcher.run(stop))
    await asyncio.sleep(0.3)

    async def refused(self: object, worker_id: str) -> int:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(OutboxRepository, "release", refused)
    stop.set()
    with caplog.at_level(logging.WARNING, logger="hub.dispatch.worker"):
        await asyncio.wait_for(running_worker, 10)  # returns: no exception
    assert any("recovery will" in r.message for r in caplog.records)
