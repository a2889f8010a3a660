"""The room hears how a publication goes: the dispatcher publishes on the Bluesky and Mastodon doubles while the
bot, against a real Synapse, tells the room — pre-flight and delivery failures to the town's officers, one status
message kept current, a recap with every post's link, a retraction after confirmation, the coordinators asked
what to do with an announcement whose instant passed during an outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio

from bot.client import Bot
from bot.render import Reply
from bot.settings import BotSettings
from hub.core import OPERATOR, Hub, utc_now
from hub.dispatch.worker import Dispatcher
from hub.domain.model import AnnouncementState, Platform, Town
from sandbox.bluesky import BlueskyDouble
from sandbox.fleet import PASSWORD, handle_of, use_servers, username_of
from sandbox.mastodon import MastodonDouble
from sandbox.synapse import RunningSynapse
from tests.conftest import ADMIN
from tests.integration.bot_helpers import Person, content_of, eventually, replaces
from tests.integration.helpers import KREMLIN, PANTIN, SAINT_REMY, site_of

pytestmark = pytest.mark.asyncio(loop_scope="session")

CODES = (PANTIN, KREMLIN, SAINT_REMY)
TEXT = "{ville} quitte X et vous donne rendez-vous ici. #AuRevoirX"


@dataclass
class People:
    coordinator: Person
    officers: dict[str, Person]

    def all(self) -> list[Person]:
        return [self.coordinator, *self.officers.values()]


@dataclass
class Servers:
    bluesky: BlueskyDouble
    bluesky_url: str
    mastodon: MastodonDouble
    mastodon_url: str


@dataclass
class Campaign:
    room_id: str
    number: int
    towns: dict[str, Town]
    #: Each town's Bluesky DID and Mastodon token, by INSEE code.
    dids: dict[str, str]
    tokens: dict[str, str]
    coalition_id: int = 0


@pytest_asyncio.fixture(loop_scope="session")
async def people(synapse: RunningSynapse, tmp_path: Path) -> AsyncIterator[People]:
    coordinator = await Person.new(synapse, "coordination", tmp_path)
    group = People(coordinator, {code: await Person.new(synapse, f"referent-{code}", tmp_path) for code in CODES})
    yield group
    for person in group.all():
        await person.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def servers(hub: Hub) -> AsyncIterator[Servers]:
    """Both doubles, and a hub that publishes to them in real time."""
    hub.clock = utc_now
    bluesky, mastodon = BlueskyDouble(seed=5), MastodonDouble(seed=5)
    async with bluesky.serve() as bluesky_url, mastodon.serve() as mastodon_url:
        use_servers(hub, plc_url=bluesky_url, timeout=5.0)
        yield Servers(bluesky, bluesky_url, mastodon, mastodon_url)


@contextlib.asynccontextmanager
async def dispatching(hub: Hub) -> AsyncIterator[None]:
    """The dispatcher working alongside the bot, as ``unisson run`` does."""
    stop = asyncio.Event()
    task = asyncio.create_task(Dispatcher(hub).run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def linked_coalition(
    hub: Hub, people: People, servers: Servers, bot_id: str, tmp_path: Path, *, revoked: str | None = None
) -> Campaign:
    """A room and its coalition of three towns with accounts on the doubles, nothing proposed yet (number 0);
    ``revoked`` names a town whose Mastodon token is revoked once linked."""
    coordinator = people.coordinator
    room_id = await coordinator.create_room([])
    coalition = await hub.coalitions.create(ADMIN, f"Coalition {uuid.uuid4().hex[:6]}", room_id)
    await hub.coalitions.appoint_coordinator(ADMIN, coalition.id, coordinator.user_id)
    csv = tmp_path / f"villes-{coalition.id}.csv"
    rows = [f"commune,{code},{site_of(code)},{people.officers[code].user_id}" for code in CODES]
    csv.write_text("\n".join(["type,code,site,officiers", *rows]) + "\n", encoding="utf-8")
    await hub.towns.import_file(OPERATOR, csv, coalition.id)
    towns = {t.code: t for t in await hub.towns.list(coalition.id) if t.code}
    for user_id in (bot_id, *(p.user_id for p in people.officers.values())):
        await coordinator.invite(room_id, user_id)
    for person in people.officers.values():
        await person.join(room_id)
    await coordinator.wait_member(room_id, bot_id, "join")
    dids: dict[str, str] = {}
    tokens: dict[str, str] = {}
    for code, town in towns.items():
        officer = people.officers[code].user_id
        dids[code] = servers.bluesky.add_account(handle_of(code), PASSWORD)
        await hub.accounts.link(officer, town.id, Platform.BLUESKY, handle_of(code), PASSWORD, servers.bluesky_url)
        servers.mastodon.add_account(username_of(code))
        tokens[code] = servers.mastodon.issue_token(username_of(code))
        identifier = f"@{username_of(code)}@mastodon.test"
        await hub.accounts.link(officer, town.id, Platform.MASTODON, identifier, tokens[code], servers.mastodon_url)
    if revoked is not None:
        servers.mastodon.revoke_token(tokens[revoked])
    return Campaign(room_id, 0, towns, dids, tokens, coalition.id)


async def locked_campaign(
    hub: Hub, people: People, servers: Servers, bot_id: str, tmp_path: Path, *, lead: float, revoked: str | None = None
) -> Campaign:
    """:func:`linked_coalition`'s towns, all signed on an announcement locked ``lead`` seconds ahead."""
    coordinator = people.coordinator
    linked = await linked_coalition(hub, people, servers, bot_id, tmp_path, revoked=revoked)
    announcement = await hub.announcements.propose(coordinator.user_id, linked.coalition_id, "Départ de X", TEXT)
    for code, town in linked.towns.items():
        await hub.announcements.sign(people.officers[code].user_id, announcement.id, town.id)
    async with hub.store.unit() as uow:
        await uow.announcements.update(announcement.id, publish_at=utc_now() + timedelta(seconds=lead))
    await hub.announcements.lock(coordinator.user_id, announcement.id)
    return replace(linked, number=announcement.id)


def bluesky_url(servers: Servers, campaign: Campaign, code: str) -> str:
    [post] = servers.bluesky.posts(campaign.dids[code])
    return f"https://bsky.app/profile/{handle_of(code)}/post/{post.rkey}"


def mastodon_url(servers: Servers, code: str) -> str:
    [status] = servers.mastodon.statuses(username_of(code))
    return status.url


def told_everything(hub: Hub) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await hub.dispatch.reports() == []

    return check


def originals(person: Person, containing: str) -> list[str]:
    """The bot's messages (not their edits) whose first text contains ``containing``."""
    return [str(n.event_id) for n in person.notices if replaces(n) is None and containing in str(n.body)]


async def test_the_room_follows_a_publication_and_its_retraction(
    hub: Hub, bot_settings: BotSettings, people: People, servers: Servers, tmp_path: Path
) -> None:
    coordinator, pantin = people.coordinator, people.officers[PANTIN]
    async with Bot(hub, bot_settings) as bot, dispatching(hub):
        campaign = await locked_campaign(hub, people, servers, bot.user_id, tmp_path, lead=3.0, revoked=PANTIN)
        room, number = campaign.room_id, campaign.number

        # Pre-flight finds the revoked token at once: Pantin's officer is told, with the reason and what to do.
        warning = content_of(await coordinator.wait_notice(f"⚠️ Vérification des comptes avant l'annonce n°{number}"))
        assert warning["m.mentions"]["user_ids"] == [pantin.user_id]
        assert "Pantin · Mastodon — Le serveur Mastodon" in warning["body"] and "jeton" in warning["body"]
        assert "reliez de nouveau le compte, en message privé avec le bot (!compte)" in warning["body"]
        assert f'href="https://matrix.to/#/{pantin.user_id}"' in warning["formatted_body"]
        # Slow Mastodon answers from now on, so the publication lasts long enough to be followed.
        servers.mastodon.inject("latency", count=None, seconds=2.5)

        progress = str((await coordinator.wait_notice(f"⏳ Publication de l'annonce n°{number} ")).event_id)
        failed = content_of(await coordinator.wait_notice(f"❌ Annonce n°{number} « Départ de X » : 1 publication"))
        assert failed["m.mentions"]["user_ids"] == [pantin.user_id]
        assert "rien n'est parti : publiez le texte à la main" in failed["body"]
        recap = content_of(await coordinator.wait_notice(f"⚠️ Annonce n°{number} « Départ de X » publiée en partie"))
        final = await coordinator.wait_text(progress, "terminée : 6/6 — 5 en ligne, 1 en échec")
        assert final.startswith(f"✅ Publication de l'annonce n°{number}")

        assert recap["body"].startswith(
            f"⚠️ Annonce n°{number} « Départ de X » publiée en partie : 5/6 publication(s) en ligne, pour 3 ville(s)"
        )
        for code in CODES:
            url = bluesky_url(servers, campaign, code)
            assert url in recap["body"] and f'<a href="{url}">Bluesky</a>' in recap["formatted_body"]
        for code in (KREMLIN, SAINT_REMY):
            assert f'<a href="{mastodon_url(servers, code)}">Mastodon</a>' in recap["formatted_body"]
        assert "Mastodon : en échec" in recap["body"] and recap["m.mentions"]["user_ids"] == [pantin.user_id]

        # Retracting: the coordinator is told what it would delete, and only the confirmation deletes.
        refused = content_of(await pantin.answer(room, f"!retirer {number} confirmer"))["body"]
        assert refused.startswith("Seuls les coordinateurs de")
        preview = content_of(await coordinator.answer(room, f"!retirer {number}"))["body"]
        assert preview == (
            f"Cela supprimera 5 publication(s) de 3 ville(s) (annonce n°{number} « Départ de X »). "
            f"Pour confirmer : !retirer {number} confirmer"
        )
        assert sum(len(servers.bluesky.posts(d)) for d in campaign.dids.values()) == 3
        started = content_of(await coordinator.answer(room, f"!retirer {number} confirmer"))["body"]
        assert started.startswith(f"Retrait de l'annonce n°{number} « Départ de X » lancé : 5 publication(s)")
        retracted = await coordinator.wait_notice(f"🗑️ Annonce n°{number} « Départ de X » retirée : 5/5")
        assert "Le Kremlin-Bicêtre — Bluesky, Mastodon" in str(retracted.body)
        [retraction] = originals(coordinator, f"Retrait de l'annonce n°{number} « Départ de X » :")
        await coordinator.wait_text(retraction, "terminé : 5/5 — 5 supprimée(s), 0 en échec")
        await eventually(told_everything(hub), "every report marked as told")

    assert len(originals(coordinator, f"Publication de l'annonce n°{number} ")) == 1
    assert coordinator.edits_of(progress), "the status message was edited, not posted again"
    assert all(servers.bluesky.posts(did) == [] for did in campaign.dids.values())
    assert all(servers.mastodon.statuses(username_of(code)) == [] for code in CODES)
    assert len(servers.mastodon.statuses(username_of(KREMLIN), include_deleted=True)) == 1
    assert (await hub.announcements.get(number)).state is AnnouncementState.RETRACTED


async def test_an_overdue_announcement_waits_for_the_coordinators_word(
    hub: Hub, bot_settings: BotSettings, people: People, servers: Servers, tmp_path: Path
) -> None:
    coordinator, pantin = people.coordinator, people.officers[PANTIN]
    async with Bot(hub, bot_settings) as bot:
        campaign = await locked_campaign(hub, people, servers, bot.user_id, tmp_path, lead=60.0)
        room, number = campaign.room_id, campaign.number
        late = utc_now() - timedelta(minutes=hub.settings.late_window_minutes + 1)
        async with hub.store.unit() as uow:  # the instant passed while nothing ran
            await uow.announcements.update(number, publish_at=late)
        async with dispatching(hub):
            question = content_of(await coordinator.wait_notice(f"⚠️ L'annonce n°{number} « Départ de X » devait"))
            await eventually(told_everything(hub), "the question marked as told")
        # A message sent, then sent again after a restart (a crash before its report was marked as told).
        probe = await bot.send(room, Reply.text("Sonde"), tx_id="unisson-report-probe-1")
    assert question["m.mentions"]["user_ids"] == [coordinator.user_id]
    assert "rien n'est parti à l'heure" in question["body"]
    for command in (f"!publier {number}", f"!annuler {number}", f"!deverrouiller {number}"):
        assert command in question["body"]
    assert sum(len(servers.mastodon.statuses(username_of(code))) for code in CODES) == 0

    # After a restart the question is not asked again; the coordinator's word publishes at once.
    async with Bot(hub, bot_settings) as restarted, dispatching(hub):
        refused = content_of(await pantin.answer(room, f"!publier {number}"))["body"]
        assert refused.startswith("Seuls les coordinateurs de")
        assert await restarted.send(room, Reply.text("Sonde"), tx_id="unisson-report-probe-1") == probe
        answer = content_of(await coordinator.answer(room, f"!publish {number}"))["body"]
        assert answer == f'Announcement #{number} "Départ de X" is going out now; progress will show here.'
        await coordinator.wait_notice(f"✅ Annonce n°{number} « Départ de X » publiée : 6/6 publication(s) en ligne")
        [progress] = originals(coordinator, f"Publication de l'annonce n°{number} ")
        await coordinator.wait_text(progress, "terminée : 6/6 — 6 en ligne, 0 en échec")

    assert len(originals(coordinator, f"L'annonce n°{number} « Départ de X » devait")) == 1
    assert originals(coordinator, "Sonde") == [probe]
    assert all(len(servers.mastodon.statuses(username_of(code))) == 1 for code in CODES)
    assert all(len(servers.bluesky.posts(did)) == 1 for did in campaign.dids.values())
