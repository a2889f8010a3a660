"""The coalition's reach: its own accounts, and the posts' counts read after publication and reported.

The towns publish through the real dispatcher to the doubles; the doubles then hold the counts (the Bluesky
double answers ``app.bsky.feed.getPosts`` as an AppView would, the Mastodon double ``statuses?id[]=`` on its
Mastodon personality only), and the report's totals must equal the sums the servers hold.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner

from bot.card import card_now
from bot.reach_reports import packs_reply, repost_news_text
from hub.cli import main
from hub.core import Hub, utc_now
from hub.dispatch.worker import Dispatcher
from hub.domain.model import AnnouncementState, Platform
from hub.domain.reach import Counts, Round
from hub.errors import PermissionDenied
from hub.publishers.bluesky import BlueskyPublisher
from hub.publishers.mastodon import MastodonPublisher
from hub.publishers.reposting import REPOST
from hub.reference import communes
from hub.services.reach_report import report_csv, report_lines
from hub.services.reposts import RepostService, _times
from hub.store.models import RepostRow
from hub.urls import public_path
from hub.web.app import Monitoring, make_app
from sandbox.bluesky import BlueskyDouble
from sandbox.fleet import COORDINATOR, Fleet, build_fleet, officer_of, use_servers, username_of
from sandbox.mastodon import MASTODON, TAKAHE, MastodonDouble, Personality
from tests.conftest import ADMIN

CODES = [("93055", "Pantin"), ("94043", "Le Kremlin-Bicêtre"), ("78575", "Saint-Rémy-lès-Chevreuse")]


@contextlib.asynccontextmanager
async def published(
    hub: Hub, tmp_path: Path, personality: Personality = MASTODON, codes: list[tuple[str, str]] = CODES
) -> AsyncIterator[Fleet]:
    """Three towns posted on both doubles by the real dispatcher; the hub reads counts on the Bluesky double."""
    hub.clock = utc_now
    bluesky, mastodon = BlueskyDouble(seed=5), MastodonDouble(seed=5, personality=personality)
    async with bluesky.serve() as blue, mastodon.serve() as masto:
        use_servers(hub, plc_url=blue, timeout=2.0)
        hub.settings.bluesky_appview_url = blue
        fleet = await build_fleet(
            hub, tmp_path, codes, timedelta(seconds=1), bluesky=(bluesky, blue), mastodon=(mastodon, masto)
        )
        hub.reach.reader.pause = 0.0
        stop = asyncio.Event()
        task = asyncio.create_task(Dispatcher(hub).run(stop))
        try:
            await _settled(hub, fleet.announcement.id)
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
        yield fleet


async def _settled(hub: Hub, announcement_id: int) -> None:
    for _ in range(400):
        if (await hub.announcements.get(announcement_id)).state is AnnouncementState.PUBLISHED:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the announcement was not published")


def _set_counts(fleet: Fleet) -> Counts:
    """Gives every post its own counts on its server; returns their sum."""
    assert fleet.bluesky is not None and fleet.mastodon is not None
    total = Counts()
    for n, town in enumerate(fleet.towns, start=1):
        [post] = fleet.bluesky.posts(fleet.dids[town.id])
        fleet.bluesky.set_counts(post.uri, likes=10 * n, reposts=n, replies=2, quotes=1)
        [status] = fleet.mastodon.statuses(username_of(town.code or ""))
        fleet.mastodon.set_counts(status.id, likes=n, reposts=3 * n, replies=0, quotes=n)
        total = total + Counts(10 * n, n, 2, 1) + Counts(n, 3 * n, 0, n)
    return total


@pytest.mark.parametrize("personality", [MASTODON, TAKAHE], ids=["mastodon", "takahe"])
async def test_the_report_totals_equal_the_sums_the_servers_hold(
    hub: Hub, tmp_path: Path, personality: Personality
) -> None:
    async with published(hub, tmp_path, personality) as fleet:
        expected = _set_counts(fleet)
        hub.settings.reach_after_hours = [0.0, 168.0]
        assert await hub.reach.run() == 1  # the first round is due at once, the second a week later
        assert await hub.reach.run() == 0

        report = await hub.reach.report(fleet.announcement.id)
        assert report.total == expected
        assert report.posts == {Platform.BLUESKY: 3, Platform.MASTODON: 3}
        assert report.deleted == 0
        assert [t.town for t in report.top] == [t.name for t in reversed(fleet.towns)]  # the counts grow with n
        lines = report_lines(report, "fr")
        assert "Bluesky : 3 publications, 60 j'aime, 6 partages, 6 réponses, 3 citations." in lines
        assert len(report_csv(report).splitlines()) == 7


async def test_a_server_that_hides_statuses_from_strangers_is_read_with_the_towns_tokens(
    hub: Hub, tmp_path: Path
) -> None:
    async with published(hub, tmp_path) as fleet:
        assert fleet.mastodon is not None
        expected = _set_counts(fleet)
        fleet.mastodon.anonymous_api = False  # DISALLOW_UNAUTHENTICATED_API_ACCESS: anonymous reads get 401
        # Two towns' tokens were revoked since they posted: the third town's reads for all.
        for town in fleet.towns[:2]:
            fleet.mastodon.revoke_token(fleet.tokens[town.id])
        hub.settings.reach_after_hours = [0.0, 1.0]
        assert await hub.reach.run() == 1
        assert (await hub.reach.report(fleet.announcement.id)).total == expected

        # No token left that the server takes, and no anonymous reads: the second reading only waits.
        fleet.mastodon.revoke_token(fleet.tokens[fleet.towns[2].id])
        hub.clock = lambda: utc_now() + timedelta(hours=2)
        assert await hub.reach.run() == 0
        [_, second] = await _rounds(hub, fleet.announcement.id)
        assert second.read_at is None and second.attempts == 1
        # The server opens its API again: the reading is made anonymously, the last resort.
        fleet.mastodon.anonymous_api = True
        hub.clock = lambda: utc_now() + timedelta(hours=3)
        assert await hub.reach.run() == 1
        assert (await hub.reach.report(fleet.announcement.id, 2)).total == expected


async def _rounds(hub: Hub, announcement_id: int) -> list[Round]:
    async with hub.store.unit() as uow:
        return await uow.reach.rounds(announcement_id)


async def test_the_public_page_shows_the_totals_once_read(hub: Hub, tmp_path: Path) -> None:
    async with published(hub, tmp_path) as fleet:
        _set_counts(fleet)
        app = make_app(Monitoring(hub, asyncio.Event(), ()))
        async with TestClient(TestServer(app)) as client:
            path = public_path(fleet.coalition_id, fleet.announcement.id)
            before = await (await client.get(path)).text()
            assert "j&#39;aime" not in before
            hub.settings.reach_after_hours = [0.0]
            await hub.reach.run()
            after = await (await client.get(path)).text()
        assert "66 j&#39;aime, 24 partages, 6 réponses, 9 citations sur 6 publications" in after, after[-3000:]

        # Once the coalition has starter packs, the page links every one by its région, as do the recap and the
        # card in the room.
        async with hub.store.unit() as uow:
            for number, label in enumerate(("Bretagne", "Île-de-France (1/2)", "Île-de-France (2/2)"), 1):
                await uow.starter_packs.keep(fleet.coalition_id, number, f"3list{number}", f"3pack{number}")
                await uow.starter_packs.synced(
                    fleet.coalition_id, number, did="did:plc:c", handle="coalition.test", members_hash="h", label=label
                )
        async with TestClient(TestServer(app)) as client:
            page = await (await client.get(path)).text()
        for number, label in enumerate(("Bretagne", "Île-de-France (1/2)", "Île-de-France (2/2)"), 1):
            assert (
                f'href="https://bsky.app/starter-pack/coalition.test/3pack{number}" rel="noopener">{label}</a>' in page
            )
        coalition = await hub.coalitions.get(fleet.coalition_id)
        reply = await packs_reply(hub, coalition, "fr")
        assert reply is not None
        assert reply.plain.startswith("Suivre toutes les villes sur Bluesky : Bretagne https://bsky.app/starter-pack/")
        assert "Île-de-France (2/2) https://bsky.app/starter-pack/coalition.test/3pack3" in reply.plain
        _, card = await card_now(hub, fleet.announcement.id, "!")
        assert '<a href="https://bsky.app/starter-pack/coalition.test/3pack2">Île-de-France (1/2)</a>' in card.html


async def test_a_deleted_post_is_counted_as_deleted(hub: Hub, tmp_path: Path) -> None:
    async with published(hub, tmp_path) as fleet:
        assert fleet.mastodon is not None
        _set_counts(fleet)
        [status] = fleet.mastodon.statuses(username_of(fleet.towns[0].code or ""))
        status.deleted_at = fleet.mastodon.now()
        hub.settings.reach_after_hours = [0.0]
        await hub.reach.run()
        report = await hub.reach.report(fleet.announcement.id)
        assert report.deleted == 1
        assert "1 publication(s) supprimée(s) depuis." in report_lines(report, "fr")


async def test_a_failed_reading_only_delays_the_report(hub: Hub, tmp_path: Path) -> None:
    async with published(hub, tmp_path) as fleet:
        hub.reach.reader.appview_url = "http://127.0.0.1:9"  # nothing listens there
        hub.settings.reach_after_hours = [0.0]
        assert await hub.reach.run() == 0
        async with hub.store.unit() as uow:
            [round_] = await uow.reach.rounds(fleet.announcement.id)
        assert round_.read_at is None and round_.attempts == 1 and round_.due_at > utc_now()
        assert await hub.reach.untold() == []
        assert (await hub.announcements.get(fleet.announcement.id)).state is AnnouncementState.PUBLISHED


async def test_a_reading_is_told_once(hub: Hub, tmp_path: Path) -> None:
    async with published(hub, tmp_path) as fleet:
        hub.settings.reach_after_hours = [0.0]
        await hub.reach.run()
        [(round_, coalition_id)] = await hub.reach.untold()
        assert coalition_id == fleet.coalition_id and round_.number == 1
        await hub.reach.told(round_.id)
        assert await hub.reach.untold() == []


async def test_the_cli_prints_the_report_and_exports_it_as_csv(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with published(hub, tmp_path) as fleet:
        _set_counts(fleet)
        hub.settings.reach_after_hours = [0.0]
        await hub.reach.run()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("UNISSON_DATA_DIR", str(tmp_path / "cli"))
    monkeypatch.setenv("UNISSON_DATABASE_URL", str(hub.settings.database_url))
    number = str(fleet.announcement.id)
    # The command runs its own event loop: from a thread, as from a terminal.
    printed = await asyncio.to_thread(CliRunner().invoke, main, ["--lang", "en", "report", number])
    assert printed.exit_code == 0, printed.output
    assert "Total: 66 likes, 24 reposts, 6 replies, 9 quotes." in printed.output
    exported = await asyncio.to_thread(CliRunner().invoke, main, ["report", number, "--csv"])
    assert exported.output.splitlines()[0].startswith("delivery_id,town_id,town,network,likes")
    assert len(exported.output.splitlines()) == 7
    missing = await asyncio.to_thread(CliRunner().invoke, main, ["report", "999"])
    assert missing.exit_code == 1


# --- the coalition's own accounts ------------------------------------------------------------------------------


@pytest.fixture
async def doubles(hub: Hub) -> AsyncIterator[tuple[BlueskyDouble, str, MastodonDouble, str]]:
    bluesky, mastodon = BlueskyDouble(seed=7), MastodonDouble(seed=7, max_characters=1000)
    async with bluesky.serve() as blue, mastodon.serve() as masto:
        gateway = hub.coalition_accounts.gateway
        hub.coalition_accounts.publishers = {
            Platform.BLUESKY: BlueskyPublisher(gateway, plc_url=blue, timeout=2.0),
            Platform.MASTODON: MastodonPublisher(gateway, timeout=2.0),
        }
        yield bluesky, blue, mastodon, masto


async def test_a_coordinator_links_and_checks_the_coalitions_own_accounts(
    hub: Hub, tmp_path: Path, doubles: tuple[BlueskyDouble, str, MastodonDouble, str]
) -> None:
    bluesky, blue, mastodon, masto = doubles
    coalition = await hub.coalitions.create(ADMIN, "Petites villes", "!pv:unisson.test")
    await hub.coalitions.appoint_coordinator(ADMIN, coalition.id, COORDINATOR)
    bluesky.add_account("pvd.test", "aaaa-bbbb-cccc-dddd")
    mastodon.add_account("pvd")
    token = mastodon.issue_token("pvd")

    sky = await hub.coalition_accounts.connect(
        COORDINATOR, coalition.id, Platform.BLUESKY, "pvd.test", "aaaa-bbbb-cccc-dddd", blue
    )
    masto_health = await hub.coalition_accounts.connect(
        ADMIN, coalition.id, Platform.MASTODON, "@pvd@mastodon.test", token, masto
    )
    assert sky.problem is None and masto_health.problem is None
    assert masto_health.account.limits["max_characters"] == 1000
    accounts = await hub.coalition_accounts.of_coalition(coalition.id)
    assert [(a.platform, a.identifier) for a in accounts] == [
        (Platform.BLUESKY, "pvd.test"),
        (Platform.MASTODON, "@pvd@mastodon.test"),
    ]
    # The secret is kept encrypted, and the session the check opened is kept for the next use.
    async with hub.store.unit() as uow:
        stored = await uow.coalition_accounts.secrets(accounts[0].id)
    assert stored is not None and b"aaaa" not in stored.secret and stored.session is not None
    # The towns' accounts are untouched.
    assert await hub.accounts.all() == []


async def test_an_officer_cannot_link_the_coalitions_account(
    hub: Hub, tmp_path: Path, doubles: tuple[BlueskyDouble, str, MastodonDouble, str]
) -> None:
    coalition = await hub.coalitions.create(ADMIN, "Petites villes", "!pv:unisson.test")
    with pytest.raises(PermissionDenied):
        await hub.coalition_accounts.connect(
            officer_of("93055"), coalition.id, Platform.MASTODON, "@pvd@mastodon.test", "jeton", doubles[3]
        )
    assert await hub.coalition_accounts.find_coalition("petites VILLES") == coalition


async def test_a_wrong_password_is_reported_not_raised(
    hub: Hub, tmp_path: Path, doubles: tuple[BlueskyDouble, str, MastodonDouble, str]
) -> None:
    bluesky, blue, _, _ = doubles
    coalition = await hub.coalitions.create(ADMIN, "Petites villes", "!pv:unisson.test")
    bluesky.add_account("pvd.test", "aaaa-bbbb-cccc-dddd")
    health = await hub.coalition_accounts.connect(
        ADMIN, coalition.id, Platform.BLUESKY, "pvd.test", "zzzz-zzzz-zzzz-zzzz", blue
    )
    assert health.problem is not None
    [account] = await hub.coalition_accounts.of_coalition(coalition.id)
    assert account.last_error is not None and account.last_verified_at is None


# --- the coalition's reposts ------------------------------------------------------------------------------------


async def _coalition_accounts(hub: Hub, fleet: Fleet) -> tuple[str, str]:
    """The coalition's own accounts on the same doubles as the towns: (Bluesky DID, Mastodon username)."""
    assert fleet.bluesky is not None and fleet.mastodon is not None
    publisher = (hub.publishers or {})[Platform.BLUESKY]  # the fleet's: it knows the double's PLC
    assert isinstance(publisher, BlueskyPublisher)
    gateway = hub.coalition_accounts.gateway
    hub.coalition_accounts.publishers = {
        Platform.BLUESKY: BlueskyPublisher(gateway, plc_url=publisher.plc_url, timeout=2.0),
        Platform.MASTODON: MastodonPublisher(gateway, timeout=2.0),
    }
    did = fleet.bluesky.add_account("coalition.test", "cccc-dddd-eeee-ffff")
    fleet.mastodon.add_account("coalition")
    token = fleet.mastodon.issue_token("coalition")
    servers = {a.platform: a.server for a in await hub.accounts.of_town(fleet.towns[0].id)}
    for platform, identifier, secret, server in (
        (Platform.BLUESKY, "coalition.test", "cccc-dddd-eeee-ffff", servers[Platform.BLUESKY]),
        (Platform.MASTODON, "@coalition@mastodon.test", token, servers[Platform.MASTODON]),
    ):
        health = await hub.coalition_accounts.connect(ADMIN, fleet.coalition_id, platform, identifier, secret, server)
        assert health.problem is None, health.problem
    return did, "coalition"


async def test_the_coalition_reposts_every_post_once_even_after_a_lost_answer_and_undoes_on_retraction(
    hub: Hub, tmp_path: Path
) -> None:
    async with published(hub, tmp_path) as fleet:
        assert fleet.bluesky is not None and fleet.mastodon is not None
        did, username = await _coalition_accounts(hub, fleet)
        plan = await hub.reposts.ask(COORDINATOR, fleet.announcement.id, ["Pantin"])
        assert plan.counts == {Platform.BLUESKY: 3, Platform.MASTODON: 3} and plan.ends_at is not None
        hub.clock = lambda: utc_now() + timedelta(minutes=1)  # past the spacing of the six reposts
        assert await hub.reposts.run() == 6
        assert await hub.reposts.run() == 0
        reposts = fleet.bluesky.records(did, REPOST)
        targets = sorted(r.value["subject"]["uri"] for r in reposts)
        assert targets == sorted(p.uri for t in fleet.towns for p in fleet.bluesky.posts(fleet.dids[t.id]))
        assert all(r.value["subject"]["cid"] for r in reposts)
        assert len(fleet.mastodon.reblogged(username)) == 3

        # An answer lost after the server acted: the repost is sent again, and finds the first one.
        async with hub.store.unit() as uow:
            await uow.session.execute(sa.update(RepostRow).values(state="pending"))
        await hub.reposts.run()
        assert len(fleet.bluesky.records(did, REPOST)) == 3
        assert len(fleet.mastodon.reblogged(username)) == 3

        # Retraction: every repost is undone.
        async with hub.store.unit() as uow:
            await uow.announcements.update(fleet.announcement.id, state=AnnouncementState.RETRACTED)
        await hub.reposts.run()
        assert fleet.bluesky.records(did, REPOST) == []
        assert fleet.mastodon.reblogged(username) == []
        assert (await hub.reposts.plan(fleet.announcement.id)).progress == {"undone": 6}


async def test_reposts_that_take_long_are_told_at_each_quarter_and_at_their_end(hub: Hub, tmp_path: Path) -> None:
    async with published(hub, tmp_path) as fleet:
        await _coalition_accounts(hub, fleet)
        await hub.reposts.ask(COORDINATOR, fleet.announcement.id)
        start = utc_now()
        async with hub.store.unit() as uow:  # six reposts over an hour, as 1,600 boosts are spread over hours
            rows = (await uow.session.scalars(sa.select(RepostRow).order_by(RepostRow.due_at, RepostRow.id))).all()
            for n, row in enumerate(rows):
                row.due_at = start + timedelta(minutes=12 * n)
        told, texts = [], []
        for minutes in (0, 12, 24, 36, 48, 60, 70):
            hub.clock = lambda minutes=minutes: start + timedelta(minutes=minutes, seconds=1)
            await hub.reposts.run()
            for news in await hub.reposts.news():
                told.append((news.stage, news.plan.finished))
                texts.append(repost_news_text(news, "Europe/Paris", "fr", "!"))
                await hub.reposts.news_told(news.announcement_id, news.stage)
        assert told == [("planned", 1), ("25", 2), ("50", 3), ("75", 5), ("done", 6)]
        number = fleet.announcement.id
        assert texts[0].startswith(f"📢 Relais de l'annonce n°{number} commencé par les comptes de la coalition : ")
        assert texts[0].endswith(", dans 1 h 00 environ.")
        assert texts[1].startswith(f"Relais de l'annonce n°{number} : 2 sur 6 faits (25 %). Fin prévue ")
        assert texts[-1] == f"✅ Relais de l'annonce n°{number} terminé : 6 faits sur 6."


def test_boosts_beyond_the_budget_are_spread_over_the_windows() -> None:
    start = utc_now()
    few = _times(start, Platform.MASTODON, 10)
    many = _times(start, Platform.MASTODON, 600)
    assert few[-1] - start == timedelta(seconds=18)
    # 600 boosts at 250 per 3 hours: the last one is due about 7 hours later, never 300 within 3 hours.
    assert timedelta(hours=7) < many[-1] - start < timedelta(hours=7, minutes=15)
    assert sum(1 for t in many if t < start + timedelta(hours=3)) <= 250


async def test_fifty_towns_are_reposted_exactly_once_across_a_crash_and_the_report_adds_up(
    hub: Hub, tmp_path: Path
) -> None:
    codes = [(c.code, c.name) for c in communes()[:50]]
    async with published(hub, tmp_path, codes=codes) as fleet:
        assert fleet.bluesky is not None and fleet.mastodon is not None
        did, username = await _coalition_accounts(hub, fleet)
        expected = _set_counts(fleet)
        await hub.reposts.ask(COORDINATOR, fleet.announcement.id)
        [news] = await hub.reposts.news()
        assert news.stage == "planned" and news.plan.total == 100 and news.plan.ends_at is not None
        await hub.reposts.news_told(fleet.announcement.id, news.stage)
        assert await hub.reposts.news() == []
        hub.clock = lambda: utc_now() + timedelta(hours=1)  # every repost due
        fleet.bluesky.inject("latency", count=None, seconds=0.02)

        # The process stops in the middle of the reposts (a crash, as far as the store can tell)...
        first = asyncio.create_task(hub.reposts.run())
        for _ in range(500):  # stopped as soon as some are made (not after a fixed time a busy machine may stretch)
            await asyncio.sleep(0.02)
            if (await hub.reposts.plan(fleet.announcement.id)).progress.get("done", 0) > 0:
                break
        first.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await first
        halfway = (await hub.reposts.plan(fleet.announcement.id)).progress
        assert 0 < halfway.get("done", 0) < 100, halfway
        # ...and a new one takes over, with the same store.
        again = RepostService(hub, hub.coalition_accounts)
        await again.run()
        await again.close()

        targets = [r.value["subject"]["uri"] for r in fleet.bluesky.records(did, REPOST)]
        assert len(targets) == 50 and len(set(targets)) == 50
        assert len(fleet.mastodon.reblogged(username)) == 50
        assert (await hub.reposts.plan(fleet.announcement.id)).progress == {"done": 100}
        [news] = await hub.reposts.news()  # a plan of minutes: no quarter told, the end only
        assert news.stage == "done" and news.plan.finished == 100

        hub.settings.reach_after_hours = [0.0]
        await hub.reach.run()
        report = await hub.reach.report(fleet.announcement.id)
        # The boosts count too: each Mastodon post has one more reblog than _set_counts gave it.
        assert report.total == expected + Counts(reposts=50)
