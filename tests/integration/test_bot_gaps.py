"""No event lost: the gaps of a ``limited`` sync are fetched and handled in order, across a stop and a restart.

The bot's sync timeline is cut to a few events here, so that a handful of messages already make a gap (in life
it is a hundred, and a burst of reactions or the time the bot was down makes one).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import client as bot_client
from bot.client import Bot
from bot.settings import BotSettings
from hub.core import Hub
from hub.domain.model import SignOnState
from tests.integration.bot_helpers import content_of, eventually
from tests.integration.helpers import KREMLIN, PANTIN, SAINT_REMY
from tests.integration.test_bot_campaign import CODES, People, open_campaign, people, propose

pytestmark = pytest.mark.asyncio(loop_scope="session")
__all__ = ["people"]

TINY_TIMELINE = {"room": {"timeline": {"limit": 3}}}


async def test_commands_and_reactions_sent_while_the_bot_was_down_are_all_handled_once(
    hub: Hub, bot_settings: BotSettings, people: People, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot_client, "SYNC_FILTER", TINY_TIMELINE)
    coordinator = people.coordinator
    async with Bot(hub, bot_settings) as first:
        campaign = await open_campaign(hub, people, first.user_id, tmp_path)
        room = campaign.room_id
        number, card = await propose(coordinator, room)

    # The bot is away: three officers decide, one takes it back, and 20 commands wait.
    pantin_yes = await people.officers[PANTIN].react(room, card, "✅")
    await people.officers[KREMLIN].react(room, card, "✅")
    await people.officers[SAINT_REMY].react(room, card, "❌")
    await people.officers[PANTIN].redact(room, pantin_yes)
    pings = [await coordinator.say(room, f"!ping {n}") for n in range(20)]
    status = await coordinator.say(room, f"!etat {number}")

    async with Bot(hub, bot_settings):
        for ping in pings:
            await coordinator.reply(ping)
        await coordinator.reply(status)
        await coordinator.wait_text(card, "Signé : 1", "Refusé : 1")

    states = {s.town.code: s.state for s in (await hub.announcements.board(number)).signons}
    assert states == {PANTIN: SignOnState.PENDING, KREMLIN: SignOnState.SIGNED, SAINT_REMY: SignOnState.DECLINED}
    assert all(len(coordinator.replies_to(p)) == 1 for p in pings)
    # Handled in the order the room saw them: the status came after the decisions.
    answer = content_of(coordinator.replies_to(status)[0])["body"]
    assert "Le Kremlin-Bicêtre" in answer and "Saint-Rémy-lès-Chevreuse" in answer
    assert set(CODES) == set(states)


async def test_a_burst_larger_than_the_timeline_is_answered_in_full(
    hub: Hub, bot_settings: BotSettings, people: People, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot_client, "SYNC_FILTER", TINY_TIMELINE)
    coordinator = people.coordinator
    async with Bot(hub, bot_settings) as bot:
        campaign = await open_campaign(hub, people, bot.user_id, tmp_path)
        pings = [await coordinator.say(campaign.room_id, f"!ping {n}") for n in range(30)]
        for ping in pings:
            await coordinator.reply(ping)
    assert all(len(coordinator.replies_to(p)) == 1 for p in pings)


async def test_an_answer_not_sent_before_a_stop_is_sent_at_the_next_start_once(
    hub: Hub, bot_settings: BotSettings, people: People, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    coordinator = people.coordinator
    async with Bot(hub, bot_settings) as bot:
        campaign = await open_campaign(hub, people, bot.user_id, tmp_path)
        room = campaign.room_id

        async def homeserver_down(room_id: str, content: dict[str, object], tx_id: str) -> str:
            raise RuntimeError("503 Service Unavailable")

        monkeypatch.setattr(bot, "transmit", homeserver_down)
        ping = await coordinator.say(room, "!ping")

        async def kept() -> bool:
            return [a.event_id for a in await hub.answers.pending()] == [ping]

        await eventually(kept, "the answer kept in the hub")
    assert coordinator.replies_to(ping) == []

    async with Bot(hub, bot_settings):
        await coordinator.reply(ping)
        await coordinator.answer(room, "!ping")  # later messages still flow
    assert len(coordinator.replies_to(ping)) == 1
    assert await hub.answers.pending() == []
