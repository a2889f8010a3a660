"""The dispatcher against the Bluesky and Mastodon doubles, on SQLite and on PostgreSQL, in real time.

The reliability tests run against both personalities of the Mastodon double (Mastodon, and Takahē, which
ignores ``Idempotency-Key``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hub.core import Hub, utc_now
from hub.dispatch.worker import AnotherDispatcher, Dispatcher
from hub.domain.model import AnnouncementState, DeliveryState, Platform, Progress, Report, ReportKind
from hub.errors import InvalidTransition, PermissionDenied
from hub.store.outbox import Claimed, OutboxRepository
from sandbox import bluesky, mastodon
from sandbox.bluesky import CREATE_RECORD, GET_RECORD, BlueskyDouble
from sandbox.fleet import COORDINATOR, Fleet, build_fleet, officer_of, use_servers, username_of
from sandbox.mastodon import MASTODON, TAKAHE, MastodonDouble, Personality
from tests.tools.communes_csv import pick_communes

CODES = [("93055", "Pantin"), ("94043", "Le Kremlin-Bicêtre"), ("78575", "Saint-Rémy-lès-Chevreuse")]
MORE = [*CODES, ("35238", "Rennes"), ("86194", "Poitiers"), ("37261", "Tours")]

MakeFleet = Callable[..., Awaitable[Fleet]]
#: Runs a test against both personalities of the Mastodon double; the test takes a ``personality`` argument.
BOTH = pytest.mark.parametrize("personality", [MASTODON, TAKAHE], ids=["mastodon", "takahe"])
TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"


def tid_time(tid: str) -> datetime:
    """When a TID record key was made (its first 53 bits count microseconds since 1970)."""
    value = 0
    for char in tid:
        value = value << 5 | TID_ALPHABET.index(char)
    return datetime.fromtimestamp((value >> 10) / 1e6, UTC)


@pytest.fixture
async def make_fleet(hub: Hub, tmp_path: Path) -> AsyncIterator[MakeFleet]:
    """Starts both doubles and builds a locked announcement due ``lead`` seconds from now (real time)."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(
            codes: list[tuple[str, str]] = CODES,
            lead: float = 1.5,
            *,
            bluesky_options: dict[str, Any] | None = None,
            mastodon_options: dict[str, Any] | None = None,
            fleet_options: dict[str, Any] | None = None,
            **settings: Any,
        ) -> Fleet:
            hub.clock = utc_now
            for name, value in settings.items():
                setattr(hub.settings, name, value)
            bluesky = BlueskyDouble(seed=3, **(bluesky_options or {}))
            mastodon = MastodonDouble(seed=3, **(mastodon_options or {}))
            blue = await stack.enter_async_context(bluesky.serve())
            masto = await stack.enter_async_context(mastodon.serve())
            use_servers(hub, plc_url=blue, timeout=2.0)
            instant = timedelta(seconds=lead)  # from the lock, once the coalition is built
            servers = {"bluesky": (bluesky, blue), "mastodon": (mastodon, masto)}
            return await build_fleet(hub, tmp_path, codes, instant, **servers, **(fleet_options or {}))

        yield make


@contextlib.asynccontextmanager
async def running(hub: Hub, **options: Any) -> AsyncIterator[Dispatcher]:
    dispatcher = Dispatcher(hub, **options)
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        yield dispatcher
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def settled(hub: Hub, announcement_id: int, within: float = 20.0) -> AnnouncementState:
    """Waits until the announcement leaves the publishing (or retracting) states."""
    busy = {AnnouncementState.LOCKED, AnnouncementState.PUBLISHING, AnnouncementState.RETRACTING}
    deadline = asyncio.get_running_loop().time() + within
    while True:
        state = (await hub.announcements.get(announcement_id)).state
        if state not in busy or asyncio.get_running_loop().time() > deadline:
            return state
        await asyncio.sleep(0.05)


async def _registered(hub: Hub) -> None:
    """Waits until a dispatcher has registered."""
    alive: list[str] = []
    while not alive:
        await asyncio.sleep(0.02)
        async with hub.store.unit() as uow:
            alive = await uow.workers.alive(utc_now() - timedelta(minutes=1))


async def _reports_of(hub: Hub, kind: ReportKind) -> list[Report]:
    """The unsent reports of ``kind``, once there is at least one."""
    found: list[Report] = []
    while not found:
        await asyncio.sleep(0.05)
        found = [r for r in await hub.dispatch.reports() if r.kind is kind]
    return found


async def kinds(hub: Hub) -> list[ReportKind]:
    return [r.kind for r in await hub.dispatch.reports()]


@BOTH
async def test_every_signed_town_is_posted_once_on_each_network_at_the_instant(
    make_fleet: MakeFleet, personality: Personality
) -> None:
    # Time for the pre-flight before the instant: the first one of a process also loads the Bluesky SDK's
    # facet detection (a second or more on a busy machine), and this test checks it prepared every post.
    fleet = await make_fleet(lead=3.0, mastodon_options={"personality": personality})
    hub, announcement = fleet.hub, fleet.announcement

    async with running(hub):
        state = await settled(hub, announcement.id)

    assert state is AnnouncementState.PUBLISHED
    assert fleet.bluesky_posts() == {t.id: 1 for t in fleet.towns}
    assert fleet.mastodon_posts() == {t.id: 1 for t in fleet.towns}
    outcomes = await hub.dispatch.outcomes(announcement.id)
    assert {(o.town.name, o.delivery.platform) for o in outcomes} == {
        (name, platform) for _, name in CODES for platform in Platform
    }
    assert all(o.delivery.state is DeliveryState.PUBLISHED and o.delivery.remote_url for o in outcomes)
    pantin = next(o for o in outcomes if o.town.code == "93055" and o.delivery.platform is Platform.MASTODON)
    [status] = fleet.mastodon.statuses(username_of("93055")) if fleet.mastodon else []
    assert "Pantin quitte X" in status.text and pantin.delivery.remote_id == status.id
    assert announcement.publish_at is not None
    first = min(o.delivery.published_at for o in outcomes if o.delivery.published_at)
    assert announcement.publish_at <= first < announcement.publish_at + timedelta(seconds=1)
    assert await kinds(hub) == [ReportKind.PUBLISHING, ReportKind.PUBLISHED]
    assert await hub.dispatch.progress(announcement.id) == Progress(len(CODES) * 2, len(CODES) * 2, 0, 0, 0)
    # At the instant each post was one request: the rkeys were chosen by the pre-flight, before the instant.
    assert fleet.bluesky is not None and fleet.bluesky.calls[CREATE_RECORD] == len(CODES)
    assert fleet.bluesky.calls[GET_RECORD] == 0
    rkeys = [
        (o.delivery.remote_id or "").rsplit("/", 1)[-1] for o in outcomes if o.delivery.platform is Platform.BLUESKY
    ]
    assert all(tid_time(rkey) < announcement.publish_at for rkey in rkeys if rkey)


async def test_nothing_leaves_before_the_instant(make_fleet: MakeFleet) -> None:
    fleet = await make_fleet(lead=30.0)

    async with running(fleet.hub):
        await asyncio.sleep(1.0)

    assert (await fleet.hub.announcements.get(fleet.announcement.id)).state is AnnouncementState.LOCKED
    assert fleet.bluesky is not None and fleet.bluesky.calls[CREATE_RECORD] == 0
    assert sum(fleet.mastodon_posts().values()) == 0


@BOTH
async def test_transient_failures_timeouts_and_429s_are_retried_until_each_post_exists_once(
    make_fleet: MakeFleet, personality: Personality
) -> None:
    # Windows of two seconds, so that the 429s' reset times (which are honoured) come soon.
    fleet = await make_fleet(
        MORE,
        bluesky_options={
            "rate_limits": bluesky.RateLimits(sessions=(bluesky.Window(30, 2),), writes=(bluesky.Window(5000, 2),))
        },
        mastodon_options={
            "rate_limits": mastodon.RateLimits(per_token=mastodon.Window(300, 2)),
            "personality": personality,
        },
        retry_initial_seconds=0.05,
        retry_max_seconds=0.3,
    )
    assert fleet.bluesky is not None and fleet.mastodon is not None
    for double in (fleet.bluesky, fleet.mastodon):
        for kind in ("server_error", "rate_limit", "commit_then_reset", "commit_then_502"):
            double.inject(kind, count=None, fraction=0.05)  # type: ignore[arg-type]
        double.inject("timeout", count=None, fraction=0.05, seconds=1.0)

    async with running(fleet.hub):
        state = await settled(fleet.hub, fleet.announcement.id, within=60)

    assert state is AnnouncementState.PUBLISHED
    assert fleet.bluesky_posts() == {t.id: 1 for t in fleet.towns}
    assert fleet.mastodon_posts() == {t.id: 1 for t in fleet.towns}
    assert sum(f.fired for d in (fleet.bluesky, fleet.mastodon) for f in d.faults) > 0


async def test_a_revoked_token_fails_at_once_and_the_towns_officers_are_told(make_fleet: MakeFleet) -> None:
    fleet = await make_fleet(preflight_minutes=0)
    assert fleet.mastodon is not None
    pantin = fleet.town("93055")
    fleet.mastodon.revoke_token(fleet.tokens[pantin.id])

    async with running(fleet.hub):
        state = await settled(fleet.hub, fleet.announcement.id)

    assert state is AnnouncementState.PARTIALLY_FAILED
    reports = await fleet.hub.dispatch.reports()
    [failed] = [r for r in reports if r.kind is ReportKind.DELIVERY_FAILED]
    assert (failed.town_id, failed.platform) == (pantin.id, Platform.MASTODON)
    assert failed.problem is not None and failed.problem.reconnect and failed.problem.permanent
    outcome = next(
        o
        for o in await fleet.hub.dispatch.outcomes(fleet.announcement.id)
        if o.town.id == pantin.id and o.delivery.platform is Platform.MASTODON
    )
    assert outcome.delivery.state is DeliveryState.FAILED and outcome.delivery.attempts == 1
    assert fleet.mastodon_posts()[pantin.id] == 0 and fleet.bluesky_posts()[pantin.id] == 1


async def test_two_workers_never_claim_one_delivery_twice(make_fleet: MakeFleet) -> None:
    fleet = await make_fleet(MORE)
    hub = fleet.hub
    if hub.store.dialect == "sqlite":
        async with running(hub):
            await _registered(hub)
            with pytest.raises(AnotherDispatcher):
                await Dispatcher(hub).run(asyncio.Event())
        return
    async with running(hub), running(hub):
        state = await settled(hub, fleet.announcement.id)

    assert state is AnnouncementState.PUBLISHED
    assert fleet.bluesky is not None and fleet.mastodon is not None
    assert fleet.bluesky.calls[CREATE_RECORD] == len(MORE)
    assert fleet.bluesky.calls[GET_RECORD] == 0
    assert fleet.mastodon_posts() == {t.id: 1 for t in fleet.towns}
    outcomes = await hub.dispatch.outcomes(fleet.announcement.id)
    assert [o.delivery.attempts for o in outcomes] == [1] * 2 * len(MORE)


async def test_preflight_reports_a_revoked_token_and_runs_again_once_the_town_relinks(make_fleet: MakeFleet) -> None:
    fleet = await make_fleet(lead=4.0, preflight_minutes=15)
    hub = fleet.hub
    assert fleet.mastodon is not None
    pantin = fleet.town("93055")
    fleet.mastodon.revoke_token(fleet.tokens[pantin.id])

    async with running(hub):  # the instant is within the lead time: pre-flight runs at once
        [warned] = await _reports_of(hub, ReportKind.PREFLIGHT_FAILED)
        assert (warned.town_id, warned.platform) == (pantin.id, Platform.MASTODON)
        assert warned.problem is not None and warned.problem.reconnect
        await hub.dispatch.reported([r.id for r in await hub.dispatch.reports()])
        token = fleet.mastodon.issue_token(username_of("93055"))
        [account] = [a for a in await hub.accounts.of_town(pantin.id) if a.platform is Platform.MASTODON]
        await hub.accounts.link(
            officer_of("93055"), pantin.id, Platform.MASTODON, account.identifier, token, account.server
        )
        state = await settled(hub, fleet.announcement.id)

    assert state is AnnouncementState.PUBLISHED
    assert fleet.mastodon_posts() == {t.id: 1 for t in fleet.towns}
    outcomes = await hub.dispatch.outcomes(fleet.announcement.id)
    assert all(o.delivery.preflight_error is None for o in outcomes)


async def test_after_an_outage_a_late_publication_waits_for_the_coordinator(make_fleet: MakeFleet) -> None:
    fleet = await make_fleet(lead=30.0)
    hub = fleet.hub
    async with hub.store.unit() as uow:  # the instant passed an hour ago, while nothing ran
        await uow.announcements.update(fleet.announcement.id, publish_at=utc_now() - timedelta(hours=1))

    async with running(hub):
        await asyncio.sleep(1.0)
        assert (await hub.announcements.get(fleet.announcement.id)).state is AnnouncementState.OVERDUE
        assert await kinds(hub) == [ReportKind.OVERDUE]
        assert sum(fleet.mastodon_posts().values()) == 0
        with pytest.raises(PermissionDenied):
            await hub.dispatch.confirm_late(officer_of("93055"), fleet.announcement.id)
        await hub.dispatch.confirm_late(COORDINATOR, fleet.announcement.id)
        state = await settled(hub, fleet.announcement.id)

    assert state is AnnouncementState.PUBLISHED
    assert fleet.mastodon_posts() == {t.id: 1 for t in fleet.towns}


async def test_retracting_deletes_every_post_and_is_reported(make_fleet: MakeFleet) -> None:
    fleet = await make_fleet()
    hub = fleet.hub
    async with running(hub):
        assert await settled(hub, fleet.announcement.id) is AnnouncementState.PUBLISHED
        preview = await hub.dispatch.retract_preview(COORDINATOR, fleet.announcement.id)
        assert (preview.posts, preview.towns) == (2 * len(CODES), len(CODES))
        await hub.dispatch.retract(COORDINATOR, fleet.announcement.id)
        state = await settled(hub, fleet.announcement.id)

    assert state is AnnouncementState.RETRACTED
    assert fleet.bluesky_posts() == {t.id: 0 for t in fleet.towns}
    assert fleet.mastodon_posts() == {t.id: 0 for t in fleet.towns}
    assert await hub.dispatch.progress(fleet.announcement.id) == Progress(2 * len(CODES), 0, 0, 0, 2 * len(CODES))
    assert (await kinds(hub))[-2:] == [ReportKind.RETRACTING, ReportKind.RETRACTED]
    with pytest.raises(InvalidTransition):
        await hub.dispatch.retract(COORDINATOR, fleet.announcement.id)


async def test_a_stopped_worker_hands_back_what_it_had_not_finished(make_fleet: MakeFleet) -> None:
    fleet = await make_fleet(lead=0.5)
    hub = fleet.hub
    assert fleet.mastodon is not None
    fleet.mastodon.inject("latency", count=None, seconds=5.0)  # every Mastodon answer is slow

    async with running(hub, grace_seconds=0.2):
        await asyncio.sleep(2.0)

    outcomes = await hub.dispatch.outcomes(fleet.announcement.id)
    waiting = [o.delivery for o in outcomes if o.delivery.platform is Platform.MASTODON]
    assert {d.state for d in waiting} == {DeliveryState.PENDING}
    async with hub.store.unit() as uow:
        assert await uow.workers.alive(utc_now() - timedelta(minutes=1)) == []
    fleet.mastodon.clear_faults()
    async with running(hub):
        assert await settled(hub, fleet.announcement.id) is AnnouncementState.PUBLISHED
    assert fleet.mastodon_posts() == {t.id: 1 for t in fleet.towns}


async def test_a_fan_out_larger_than_the_room_is_claimed_in_whole_batches(
    make_fleet: MakeFleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 60 posts through a room of 16 and one request at a time per server: attempts end one at a time, and
    # each end frees room. Claims wait for a quarter of the room (4), never a row or two each time.
    codes = [(c.code, c.name) for c in pick_communes(30, seed=11)]
    fleet = await make_fleet(codes, lead=3.0, per_host_concurrency=1)
    hub = fleet.hub
    taken: list[int] = []
    claim = OutboxRepository.claim

    async def counted(self: OutboxRepository, worker_id: str, now: datetime, limit: int) -> list[Claimed]:
        claimed = await claim(self, worker_id, now, limit)
        taken.append(len(claimed))
        return claimed

    monkeypatch.setattr(OutboxRepository, "claim", counted)
    async with running(hub, max_in_flight=16, claim_batch=8) as dispatcher:
        assert dispatcher.refill == 4
        assert await settled(hub, fleet.announcement.id) is AnnouncementState.PUBLISHED

    assert fleet.bluesky_posts() == {t.id: 1 for t in fleet.towns}
    assert fleet.mastodon_posts() == {t.id: 1 for t in fleet.towns}
    claims = [count for count in taken if count]
    assert sum(claims) == 60
    assert len(claims) <= 60 // 4 + 1, f"claims of {claims}"
    assert min(claims[:-1]) >= 4, f"claims of {claims}"
