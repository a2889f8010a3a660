"""Mastodon pre-staging: the posts go out at the instant while no dispatcher runs, exactly once.

The Mastodon double schedules for real (its point 4: the 25-a-day and 300-pending limits, publication by its
own timer); only its minimum lead, five minutes on Mastodon, is brought down to one second (a test knob), and
the hub's to two, so that an instant a few seconds ahead can be pre-staged. Each test runs against both of
the double's personalities: Mastodon, which schedules, and a server that ignores ``scheduled_at`` (point T3),
which the hub must detect; and on SQLite and PostgreSQL.

"The hub down" is no dispatcher running: the pre-flight's dispatcher is stopped before the instant, and
another is started after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
import sqlalchemy as sa

from hub.core import Hub, utc_now
from hub.crypto import SecretBox, generate_key
from hub.dispatch.gateway import StoreGateway
from hub.domain import prestage
from hub.domain.model import AnnouncementState, Platform, ReportKind
from hub.publishers.mastodon import MastodonPublisher
from hub.settings import Settings
from hub.store import Store
from hub.store.models import DeliveryRow
from sandbox.dispatchers import Dispatchers
from sandbox.fleet import COORDINATOR, Fleet, build_fleet, officer_of, token_of, username_of
from sandbox.mastodon import CREATE_STATUS, MASTODON, TAKAHE, MastodonDouble, Personality
from tests.conftest import ADMIN
from tests.integration.dispatcher_kills import dispatcher_env
from tests.integration.test_dispatcher import running, settled

CODES = [
    ("93055", "Pantin"),
    ("94043", "Le Kremlin-Bicêtre"),
    ("78575", "Saint-Rémy-lès-Chevreuse"),
    ("35238", "Rennes"),
    ("86194", "Poitiers"),
]
#: The instant, this long after the announcement is locked: room for the pre-flight, above the hub's lead.
INSTANT = timedelta(seconds=6)
#: A server that ignores ``scheduled_at`` and that the hub cannot name (Takahē's behaviour, an unknown name):
#: only the answer to the first post tells.
UNNAMED = replace(TAKAHE, software="fediverse-server", version="4.0.0")


@pytest.fixture(params=[MASTODON, TAKAHE, UNNAMED], ids=["mastodon", "takahe", "ignores-scheduled-at"])
def personality(request: pytest.FixtureRequest) -> Personality:
    return request.param  # type: ignore[no-any-return]


@dataclass
class Scene:
    hub: Hub
    fleet: Fleet
    double: MastodonDouble
    base: str

    @property
    def schedules(self) -> Awaitable[list[dict[str, object] | None]]:
        return _schedules(self.hub, self.fleet.announcement.id)

    async def staged(self) -> list[dict[str, object] | None]:
        """Waits until the pre-flight has recorded every post's staging; returns the records."""
        for _ in range(200):
            found = await self.schedules
            if all(s is not None and s.get("state") != prestage.SENDING for s in found):
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(f"not staged in time: {await self.schedules}")

    async def past_instant(self, seconds: float = 1.5) -> None:
        instant = self.fleet.announcement.publish_at
        assert instant is not None
        await asyncio.sleep(max(0.0, (instant - utc_now()).total_seconds()) + seconds)

    def posts(self) -> dict[int, int]:
        return self.fleet.mastodon_posts()

    def scheduled(self) -> dict[int, int]:
        return {t.id: len(self.double.scheduled_statuses(username_of(t.code or ""))) for t in self.fleet.towns}


async def _schedules(hub: Hub, announcement_id: int) -> list[dict[str, object] | None]:
    """Each delivery's pre-staging record, in the order of the deliveries."""
    query = sa.select(DeliveryRow.schedule).where(DeliveryRow.announcement_id == announcement_id)
    async with hub.store.unit() as uow:
        return [r for (r,) in (await uow.session.execute(query.order_by(DeliveryRow.id))).tuples()]


async def _forget_preflight(hub: Hub, announcement_id: int) -> None:
    """As after a crash before the pre-flight's outcomes were written: its deliveries are prepared again."""
    async with hub.store.unit() as uow:
        await uow.session.execute(
            sa.update(DeliveryRow).where(DeliveryRow.announcement_id == announcement_id).values(prepared_at=None)
        )


@contextlib.asynccontextmanager
async def scene(
    hub: Hub, tmp_path: Path, personality: Personality, instant: timedelta = INSTANT
) -> AsyncIterator[Scene]:
    """Five towns on one Mastodon double, their announcement locked for ``instant`` from now, pre-staged."""
    mastodon = MastodonDouble(seed=3, personality=personality, minimum_schedule_offset=1.0, scheduler_interval=0.1)
    hub.clock = utc_now
    settings = hub.settings
    settings.mastodon_prestage, settings.mastodon_prestage_lead_seconds = True, 2.0
    settings.preflight_minutes = 1.0
    settings.retry_initial_seconds, settings.retry_max_seconds = 0.1, 0.5
    settings.worker_timeout_seconds, settings.worker_heartbeat_seconds = 2.0, 0.2
    async with mastodon.serve() as base:
        publisher = MastodonPublisher(StoreGateway(hub), timeout=5, staging_grace=timedelta(seconds=3))
        hub.publishers = {Platform.MASTODON: publisher}
        fleet = await build_fleet(hub, tmp_path, CODES, instant, mastodon=(mastodon, base))
        yield Scene(hub, fleet, mastodon, base)


async def test_prestaged_posts_go_out_while_the_hub_is_down_and_are_confirmed_once(
    hub: Hub, tmp_path: Path, personality: Personality
) -> None:
    async with scene(hub, tmp_path, personality) as s:
        async with running(hub):
            schedules = await s.staged()
        none = {t.id: 0 for t in s.fleet.towns}
        once = {t.id: 1 for t in s.fleet.towns}
        if personality is MASTODON:
            assert [x and x["state"] for x in schedules] == [prestage.STAGED] * len(CODES)
            assert s.scheduled() == once and s.posts() == none
        elif personality is TAKAHE:  # named by NodeInfo: not even asked
            assert [x and x.get("reason") for x in schedules] == [prestage.UNSUPPORTED] * len(CODES)
            assert [r for r in await hub.dispatch.reports() if r.kind is ReportKind.PREFLIGHT_FAILED] == []
        else:  # the first post told the hub: published at once, deleted at once, reported; the others not tried
            reasons = sorted(str(x and x.get("reason")) for x in schedules)
            assert reasons == [prestage.PUBLISHED_EARLY] + [prestage.UNSUPPORTED] * (len(CODES) - 1), schedules
            made = [
                st for t in s.fleet.towns for st in s.double.statuses(username_of(t.code or ""), include_deleted=True)
            ]
            assert s.posts() == none and len(made) == 1 and made[0].deleted_at is not None
            reports = [r for r in await hub.dispatch.reports() if r.kind is ReportKind.PREFLIGHT_FAILED]
            assert [r.problem.key for r in reports if r.problem] == ["publish.mastodon.published_early"]

        await s.past_instant()  # no dispatcher runs
        if personality is MASTODON:
            assert s.posts() == once and s.scheduled() == none
        else:
            assert s.posts() == none

        async with running(hub):
            state = await settled(hub, s.fleet.announcement.id, within=30)
        assert state is AnnouncementState.PUBLISHED
        assert s.posts() == once
        outcomes = await hub.dispatch.outcomes(s.fleet.announcement.id)
        for outcome in outcomes:  # the URL recorded is the status the server made
            town = next(t for t in s.fleet.towns if t.id == outcome.delivery.town_id)
            (status,) = s.double.statuses(username_of(town.code or ""))
            assert (outcome.delivery.remote_id, outcome.delivery.remote_url) == (status.id, status.url)

        await hub.dispatch.retract(COORDINATOR, s.fleet.announcement.id)
        async with running(hub):
            assert await settled(hub, s.fleet.announcement.id, within=30) is AnnouncementState.RETRACTED
        assert s.posts() == none


@pytest.mark.parametrize("first", ["kept", "cancelled"])
async def test_a_server_found_to_publish_at_once_is_not_asked_again_after_a_restart(
    hub: Hub, tmp_path: Path, first: str
) -> None:
    """The hub learnt from one early post that the server ignores ``scheduled_at``; a new dispatcher process
    (nothing in memory) preparing the next announcement asks it nothing: no second town posts early. Also when
    the first announcement was cancelled meanwhile (its pending deliveries, the early post's among them, dropped)."""
    async with scene(hub, tmp_path, UNNAMED) as s:
        async with running(hub):
            await s.staged()
        assert len(_made(s)) == 1
        if first == "cancelled":
            await hub.announcements.cancel(COORDINATOR, s.fleet.announcement.id)
            assert await _schedules(hub, s.fleet.announcement.id) == []
        await hub.publisher(Platform.MASTODON).close()
        hub.publishers = {Platform.MASTODON: MastodonPublisher(StoreGateway(hub), timeout=5)}  # a new process
        second = await hub.announcements.propose(COORDINATOR, s.fleet.coalition_id, "Deuxième", "{ville} : suite")
        for town in s.fleet.towns:
            await hub.announcements.sign(officer_of(town.code or ""), second.id, town.id)
        async with hub.store.unit() as uow:
            await uow.announcements.update(second.id, publish_at=utc_now() + INSTANT)
        await hub.announcements.lock(COORDINATOR, second.id)
        async with running(hub):
            for _ in range(200):
                schedules = await _schedules(hub, second.id)
                if all(x is not None for x in schedules):
                    break
                await asyncio.sleep(0.05)
        assert [x and x.get("reason") for x in schedules] == [prestage.UNSUPPORTED] * len(CODES)
        assert len(_made(s)) == 1  # the first announcement's early post, and no other


def _made(s: Scene) -> list[object]:
    """Every status the double made for the towns, deleted ones included."""
    return [st for t in s.fleet.towns for st in s.double.statuses(username_of(t.code or ""), include_deleted=True)]


@pytest.mark.parametrize("action", ["unlock", "cancel"])
async def test_unlock_and_cancel_take_the_scheduled_statuses_back(hub: Hub, tmp_path: Path, action: str) -> None:
    async with scene(hub, tmp_path, MASTODON) as s:
        async with running(hub):
            await s.staged()
            assert s.scheduled() == {t.id: 1 for t in s.fleet.towns}
            await getattr(hub.announcements, action)(COORDINATOR, s.fleet.announcement.id)
            for _ in range(100):
                async with hub.store.unit() as uow:
                    waiting = await uow.unstagings.waiting()
                if not waiting:
                    break
                await asyncio.sleep(0.05)
        assert waiting == 0
        assert s.scheduled() == {t.id: 0 for t in s.fleet.towns}
        await s.past_instant()
        assert s.posts() == {t.id: 0 for t in s.fleet.towns}


async def test_a_town_that_links_its_account_again_keeps_its_scheduled_status(hub: Hub, tmp_path: Path) -> None:
    """A new token for the same account forgets the post's pre-flight, not its scheduled status (it belongs to
    the account): the next pre-flight finds it again rather than make another; one post at the instant."""
    async with scene(hub, tmp_path, MASTODON, instant=timedelta(seconds=8)) as s:
        town = s.fleet.towns[0]
        code = town.code or ""
        async with running(hub):
            first = await s.staged()
            identifier = f"@{username_of(code)}@mastodon.test"
            await hub.accounts.link(officer_of(code), town.id, Platform.MASTODON, identifier, token_of(code), s.base)
            for _ in range(100):  # prepared again by the next pre-flight
                async with hub.store.unit() as uow:
                    prepared = await uow.outbox.to_prepare(s.fleet.announcement.id, retry_transient=True)
                if not prepared:
                    break
                await asyncio.sleep(0.05)
            assert not prepared
            again = await s.schedules
        assert again == first and s.scheduled() == {t.id: 1 for t in s.fleet.towns}
        await s.past_instant()
        async with running(hub):
            assert await settled(hub, s.fleet.announcement.id, within=30) is AnnouncementState.PUBLISHED
        assert s.posts() == {t.id: 1 for t in s.fleet.towns}


async def test_a_scheduled_status_published_before_it_was_taken_back_is_deleted(hub: Hub, tmp_path: Path) -> None:
    """The hub was down over the instant: the posts went out; the coordinator then cancels (the publication was
    held): the cancel deletes the posts the servers made."""
    async with scene(hub, tmp_path, MASTODON) as s:
        async with running(hub):
            await s.staged()
        await s.past_instant()
        assert s.posts() == {t.id: 1 for t in s.fleet.towns}
        async with hub.store.unit() as uow:  # held, as after a long outage
            await uow.announcements.update(s.fleet.announcement.id, state=AnnouncementState.OVERDUE)
        await hub.announcements.cancel(COORDINATOR, s.fleet.announcement.id)
        async with running(hub):
            for _ in range(100):
                if s.posts() == {t.id: 0 for t in s.fleet.towns}:
                    break
                await asyncio.sleep(0.05)
        assert s.posts() == {t.id: 0 for t in s.fleet.towns}


async def test_a_scheduled_status_still_waiting_after_the_grace_is_taken_back_and_posted_once(
    hub: Hub, tmp_path: Path
) -> None:
    """The server's queue is stuck over the instant: the dispatcher waits the grace (3 s here), deletes each
    scheduled status and posts it itself; when the queue moves again, nothing more goes out."""
    async with scene(hub, tmp_path, MASTODON) as s:
        async with running(hub):
            await s.staged()
            s.double.scheduler_stuck = True
            assert await settled(hub, s.fleet.announcement.id, within=30) is AnnouncementState.PUBLISHED
        once = {t.id: 1 for t in s.fleet.towns}
        assert s.posts() == once and s.scheduled() == {t.id: 0 for t in s.fleet.towns}
        s.double.scheduler_stuck = False
        s.double.publish_due()
        assert s.posts() == once


async def test_an_account_at_its_daily_limit_is_posted_at_the_instant(hub: Hub, tmp_path: Path) -> None:
    async with scene(hub, tmp_path, MASTODON) as s:
        instant = s.fleet.announcement.publish_at
        assert instant is not None
        full = s.fleet.towns[0]
        await _schedule_others(s.base, token_of(full.code or ""), instant.isoformat(), prestage.DAILY_LIMIT)
        async with running(hub):
            schedules = await s.staged()
        reasons = sorted(str(x and (x.get("reason") or x.get("state"))) for x in schedules)
        assert reasons == [prestage.OVER_LIMIT] + [prestage.STAGED] * (len(CODES) - 1)
        await s.past_instant()
        expected = {t.id: 1 for t in s.fleet.towns} | {full.id: prestage.DAILY_LIMIT}  # its others, not ours
        assert s.posts() == expected
        async with running(hub):
            assert await settled(hub, s.fleet.announcement.id, within=30) is AnnouncementState.PUBLISHED
        assert s.posts() == expected | {full.id: prestage.DAILY_LIMIT + 1}


async def test_answers_lost_while_staging_leave_one_scheduled_status_each(hub: Hub, tmp_path: Path) -> None:
    """Every staging request is made, then its answer lost; the pre-flight dispatcher stops at once (as killed)
    and another pre-flight runs: it finds each scheduled status instead of making another."""
    async with scene(hub, tmp_path, MASTODON) as s:
        lost = s.double.inject("commit_then_reset", count=len(CODES), on=CREATE_STATUS)
        async with running(hub):
            for _ in range(100):
                if lost.fired == len(CODES):
                    break
                await asyncio.sleep(0.05)
        assert s.scheduled() == {t.id: 1 for t in s.fleet.towns}
        assert {str(x and x["state"]) for x in await s.schedules} == {prestage.SENDING}
        await _forget_preflight(hub, s.fleet.announcement.id)
        async with running(hub):
            schedules = await s.staged()
        assert [x and x["state"] for x in schedules] == [prestage.STAGED] * len(CODES)
        assert s.scheduled() == {t.id: 1 for t in s.fleet.towns}
        await s.past_instant()
        async with running(hub):
            assert await settled(hub, s.fleet.announcement.id, within=30) is AnnouncementState.PUBLISHED
        assert s.posts() == {t.id: 1 for t in s.fleet.towns}


async def _schedule_others(base: str, token: str, at: str, count: int) -> None:
    """``count`` other scheduled statuses of one account, for the same instant."""
    async with aiohttp.ClientSession() as http:
        for n in range(count):
            form = {"status": f"Autre message n°{n}", "scheduled_at": at}
            headers = {"Authorization": f"Bearer {token}"}
            async with http.post(f"{base}/api/v1/statuses", data=form, headers=headers) as response:
                assert response.status == 200, await response.text()


async def test_kill_9_during_pre_staging_leaves_one_scheduled_status_per_post(
    migrated_database_url: str, tmp_path: Path
) -> None:
    """Dispatcher processes killed again and again while they pre-stage (each staging request slow, some answers
    lost): never two scheduled statuses for one post, and each post goes out once."""
    key = generate_key()
    settings = Settings(data_dir=tmp_path, database_url=migrated_database_url, admins=[ADMIN], _env_file=None)  # type: ignore[call-arg]
    hub = Hub(Store.from_url(migrated_database_url), SecretBox([key]), settings, clock=utc_now)
    try:
        async with scene(hub, tmp_path, MASTODON, instant=timedelta(seconds=25)) as s:
            s.double.inject("latency", count=None, on=CREATE_STATUS, seconds=0.5)
            s.double.inject("commit_then_reset", count=None, on=CREATE_STATUS, fraction=0.3)
            env = dispatcher_env(tmp_path, migrated_database_url, key, s.base) | PRESTAGE_ENV
            log, chance, partial = tmp_path / "dispatcher.log", random.Random(8), 0
            dispatchers = Dispatchers(env, log)
            for n in range(KILLS):
                async with dispatchers.running() as (process,):
                    if n % 2 == 0:  # aimed: as soon as some posts are staged and others not yet
                        for _ in range(500):
                            if 0 < sum(s.scheduled().values()) < len(CODES):
                                break
                            await asyncio.sleep(0.02)
                    else:
                        await asyncio.sleep(chance.uniform(0.3, 1.2))
                    process.kill()
                assert max(s.scheduled().values()) <= 1, s.scheduled()
                staged = [x for x in await s.schedules if x is not None and x.get("state") == prestage.STAGED]
                partial += 0 < len(staged) < len(CODES) or 0 < sum(s.scheduled().values()) < len(CODES)
            assert partial > 0, "no kill landed during the pre-staging"
            async with dispatchers.running():
                assert await settled(hub, s.fleet.announcement.id, within=60) is AnnouncementState.PUBLISHED, (
                    log.read_text(encoding="utf-8")[-3000:]
                )
            assert s.posts() == {t.id: 1 for t in s.fleet.towns}
            assert s.scheduled() == {t.id: 0 for t in s.fleet.towns}
    finally:
        await hub.close()


#: What the dispatcher processes of the kill test are given beyond :func:`dispatcher_env`.
PRESTAGE_ENV = {
    "UNISSON_MASTODON_PRESTAGE": "true",
    "UNISSON_MASTODON_PRESTAGE_LEAD_SECONDS": "2",
    "UNISSON_MASTODON_PRESTAGE_GRACE_SECONDS": "3",
    "UNISSON_PREFLIGHT_MINUTES": "1",
}
#: Dispatchers killed during the pre-staging.
KILLS = 4


async def test_a_pre_flight_write_that_fails_loses_nothing(hub: Hub, tmp_path: Path) -> None:
    """The pre-flight's first write fails (the database drops the connection): what it found is written at the
    next try, not found again; on a server that ignores ``scheduled_at``, the early post stays reported as such
    rather than be taken for "unsupported" by a second staging."""
    async with scene(hub, tmp_path, UNNAMED) as s:
        record, failed = hub.accounts.record, []

        async def record_once_failing(checks: list[object]) -> None:
            if not failed:
                failed.append(len(checks))
                raise sa.exc.OperationalError("UPDATE accounts", {}, ConnectionResetError("connection lost"))
            await record(checks)  # type: ignore[arg-type]

        hub.accounts.record = record_once_failing  # type: ignore[method-assign]
        async with running(hub):
            schedules = await s.staged()
        assert failed
        reasons = sorted(str(x and x.get("reason")) for x in schedules)
        assert reasons == [prestage.PUBLISHED_EARLY] + [prestage.UNSUPPORTED] * (len(CODES) - 1), schedules
        reports = [r for r in await hub.dispatch.reports() if r.kind is ReportKind.PREFLIGHT_FAILED]
        assert [r.problem.key for r in reports if r.problem] == ["publish.mastodon.published_early"]
