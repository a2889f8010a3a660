"""Claims a worker hands back and claims it keeps: after its database was out of reach, and when its own
heartbeat looks dead (the database came back after longer than the worker timeout)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from hub.core import Hub
from hub.domain.model import DeliveryState
from tests.integration.helpers import KREMLIN, PANTIN, RENNES, build_coalition, deliveries, link_bluesky, propose

WORKER, OTHER = "worker-a", "worker-b"


async def _claimed(hub: Hub, tmp_path: Path) -> tuple[int, list[int], datetime]:
    """An announcement of three towns under way, its deliveries all claimed by :data:`WORKER`: the announcement,
    the deliveries and the moment of the claim."""
    setup = await build_coalition(hub, tmp_path, (PANTIN, KREMLIN, RENNES))
    announcement = await propose(hub, setup)
    for code in setup.towns:
        await link_bluesky(hub, setup, code)
        await hub.announcements.sign(setup.officer(code), announcement.id)
    await hub.announcements.schedule(setup.coordinator, announcement.id, "20/01/2026 9h")
    locked = (await hub.announcements.lock(setup.coordinator, announcement.id)).announcement
    assert locked.publish_at is not None
    now = locked.publish_at + timedelta(seconds=1)
    await hub.dispatch.start_due(now)
    async with hub.store.unit() as uow:
        await uow.workers.beat(WORKER, "host", 1, now)
        claimed = await uow.outbox.claim(WORKER, now, 10)
    return announcement.id, [c.delivery.id for c in claimed], now


async def _states(hub: Hub, announcement_id: int) -> dict[int, DeliveryState]:
    return {d.id: d.state for d in await deliveries(hub, announcement_id)}


async def test_a_worker_hands_back_the_claims_it_does_not_work_on(hub: Hub, tmp_path: Path) -> None:
    announcement_id, claimed, _ = await _claimed(hub, tmp_path)
    working, *stray = claimed

    async with hub.store.unit() as uow:
        assert await uow.outbox.release_idle(WORKER, busy={working}) == len(stray) == 2

    assert await _states(hub, announcement_id) == {working: DeliveryState.CLAIMED} | dict.fromkeys(
        stray, DeliveryState.PENDING
    )


async def test_the_recovery_spares_the_worker_that_runs_it(hub: Hub, tmp_path: Path) -> None:
    announcement_id, claimed, claimed_at = await _claimed(hub, tmp_path)
    later = claimed_at + timedelta(minutes=5)  # the worker's heartbeat is older than the timeout

    async with hub.store.unit() as uow:
        assert await uow.outbox.recover(later, sparing=WORKER) == 0
        assert await uow.workers.holding() == {WORKER: claimed_at}  # still registered
    assert set((await _states(hub, announcement_id)).values()) == {DeliveryState.CLAIMED}

    async with hub.store.unit() as uow:  # another worker's recovery takes them back
        assert await uow.outbox.recover(later, sparing=OTHER) == len(claimed)
        assert await uow.workers.holding() == {}
    assert set((await _states(hub, announcement_id)).values()) == {DeliveryState.PENDING}
