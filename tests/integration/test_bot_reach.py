"""The coalition's reach through the real Synapse, with the bot and the dispatcher run as in production: the
coordinator links the coalition's own account in a direct message, and the reach report arrives in the room
once its reading is due."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from nio import RoomCreateResponse

from bot.card import CARD, post_card
from bot.client import Bot
from bot.settings import BotSettings
from hub.core import Hub
from hub.domain.model import Platform
from hub.publishers.bluesky import BlueskyPublisher
from sandbox.pds import RunningPds
from tests.integration import test_bot_publication as publication
from tests.integration.bot_helpers import Person, content_of, eventually
from tests.integration.test_bot_publication import People, Servers, dispatching, locked_campaign

pytestmark = pytest.mark.asyncio(loop_scope="session")

# The publication tests' people (a coordinator, three officers) and doubles, as fixtures here too.
people = publication.people
servers = publication.servers


async def test_the_reach_report_arrives_in_the_room_at_its_time(
    hub: Hub, bot_settings: BotSettings, people: People, servers: Servers, tmp_path: Path
) -> None:
    hub.settings.bluesky_appview_url = servers.bluesky_url
    hub.settings.reach_after_hours = [0.0]  # read as soon as the publication is over
    hub.settings.reach_check_seconds = 0.5
    coordinator = people.coordinator
    async with Bot(hub, bot_settings) as bot, dispatching(hub):
        campaign = await locked_campaign(hub, people, servers, bot.user_id, tmp_path, lead=2.0)
        report = content_of(await coordinator.wait_notice(f"Portée de l'annonce n°{campaign.number}"))
        assert "Bluesky : 3 publications" in report["body"] and "Mastodon : 3 publications" in report["body"]
        assert "Total : 0 j'aime, 0 partages, 0 réponses, 0 citations." in report["body"]


async def test_a_coordinator_links_the_coalitions_account_in_a_direct_message(
    hub: Hub, bot_settings: BotSettings, people: People, servers: Servers, tmp_path: Path
) -> None:
    coordinator = people.coordinator
    servers.mastodon.add_account("petitesvilles")
    token = servers.mastodon.issue_token("petitesvilles")
    async with Bot(hub, bot_settings) as bot:
        campaign = await locked_campaign(hub, people, servers, bot.user_id, tmp_path, lead=3600.0)
        coalition = await hub.coalitions.by_room(campaign.room_id)
        assert coalition is not None
        response = await coordinator.client.room_create(invite=[bot.user_id], is_direct=True)
        assert isinstance(response, RoomCreateResponse), response
        direct = str(response.room_id)
        await coordinator.wait_member(direct, bot.user_id, "join")
        await eventually(_knows(coordinator, direct), "the direct room reached the coordinator's client")
        command = f"!compte-coalition mastodon @petitesvilles@mastodon.test {token} {servers.mastodon_url}"
        answer = content_of(await coordinator.answer(direct, command))
        assert answer["body"].startswith(
            f"Le compte Mastodon @petitesvilles@mastodon.test est relié pour la coalition « {coalition.name} »"
        )
        assert token not in str(answer)
        [account] = await hub.coalition_accounts.of_coalition(coalition.id)
        assert account.last_error is None


def _knows(person: Person, room_id: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return room_id in person.client.rooms

    return check


async def test_the_room_hears_when_the_reposts_start_how_long_they_take_and_when_they_end(
    hub: Hub, bot_settings: BotSettings, people: People, servers: Servers, tmp_path: Path
) -> None:
    hub.settings.reach_check_seconds = 0.5  # the side task that sends the reposts due
    coordinator = people.coordinator
    servers.mastodon.add_account("relais")
    token = servers.mastodon.issue_token("relais")
    async with Bot(hub, bot_settings) as bot, dispatching(hub):
        campaign = await locked_campaign(hub, people, servers, bot.user_id, tmp_path, lead=3.0)
        coalition = await hub.coalitions.by_room(campaign.room_id)
        assert coalition is not None
        health = await hub.coalition_accounts.connect(
            coordinator.user_id, coalition.id, Platform.MASTODON, "@relais@mastodon.test", token, servers.mastodon_url
        )
        assert health.problem is None, health.problem
        asked = content_of(await coordinator.answer(campaign.room_id, f"!relayer {campaign.number}"))
        assert asked["body"].startswith(f"Relais de l'annonce n°{campaign.number} demandé")  # before the instant

        started = content_of(await coordinator.wait_notice(f"📢 Relais de l'annonce n°{campaign.number} commencé"))
        assert "3 sur Mastodon. Fin prévue " in started["body"] and "dans 1 min environ" in started["body"]
        done = content_of(await coordinator.wait_notice(f"✅ Relais de l'annonce n°{campaign.number} terminé"))
        assert done["body"] == f"✅ Relais de l'annonce n°{campaign.number} terminé : 3 faits sur 3."
        assert len(servers.mastodon.reblogged("relais")) == 3
        assert await hub.reposts.news() == []  # told once: nothing more for this request


async def test_pack_links_the_starter_pack_from_the_announcements_card(
    hub: Hub, bot_settings: BotSettings, people: People, servers: Servers, pds: RunningPds, tmp_path: Path
) -> None:
    coordinator = people.coordinator
    gateway = hub.coalition_accounts.gateway
    hub.coalition_accounts.publishers = {Platform.BLUESKY: BlueskyPublisher(gateway, plc_url=pds.plc_url, timeout=5.0)}
    # The coalition's own account on the real PDS (the Bluesky double writes no starter pack records).
    handle = f"pv-{secrets.token_hex(3)}.test"
    created = await pds.create_account(handle, f"com@{handle}", "mot-de-passe-principal")
    password = await pds.create_app_password(created.access_jwt, "unisson")
    async with Bot(hub, bot_settings) as bot:
        campaign = await locked_campaign(hub, people, servers, bot.user_id, tmp_path, lead=3600.0)
        coalition = await hub.coalitions.by_room(campaign.room_id)
        assert coalition is not None
        health = await hub.coalition_accounts.connect(
            coordinator.user_id, coalition.id, Platform.BLUESKY, handle, password, pds.url
        )
        assert health.problem is None, health.problem
        await post_card(hub, bot, campaign.room_id, campaign.number, "!")

        async def card_posted() -> bool:
            return bool(await hub.announcements.messages(campaign.number, CARD))

        await eventually(card_posted, "the announcement's card")
        [card] = await hub.announcements.messages(campaign.number, CARD)
        assert "Bluesky :" not in await coordinator.wait_text(card.message_id, "Annonce")

        answer = content_of(await coordinator.answer(campaign.room_id, "!pack"))
        [link] = await hub.starter_packs.links(coalition.id)
        assert link.url in answer["body"], answer["body"]
        shown = await coordinator.wait_text(card.message_id, "Suivre toutes les villes sur Bluesky :")
        assert f"{coalition.name} {link.url}" in shown
