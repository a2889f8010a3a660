"""The quorum through the real Synapse: shown on the card and in the preview, the lock refused short of it; missed
at the deadline, the announcement waits and the coordinators are asked once (not again after a restart), with
the exact commands; once they lower it, it is locked and publishes on the Bluesky and Mastodon doubles.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.client import Bot
from bot.settings import BotSettings
from hub.core import Hub, utc_now
from hub.domain.model import AnnouncementState
from sandbox.fleet import username_of
from tests.integration.bot_helpers import content_of, eventually
from tests.integration.helpers import KREMLIN, PANTIN, SAINT_REMY
from tests.integration.test_bot_publication import (
    TEXT,
    People,
    Servers,
    dispatching,
    linked_coalition,
    originals,
    people,
    servers,
    told_everything,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

__all__ = ["people", "servers"]  # fixtures shared with the publication tests


async def test_a_missed_quorum_holds_the_announcement_until_the_coordinators_lower_it(
    hub: Hub, bot_settings: BotSettings, people: People, servers: Servers, tmp_path: Path
) -> None:
    coordinator = people.coordinator
    async with Bot(hub, bot_settings) as bot:
        room = (await linked_coalition(hub, people, servers, bot.user_id, tmp_path)).room_id
        created = content_of(await coordinator.answer(room, f"!annonce --quorum 3 Départ de X\n{TEXT}"))["body"]
        number = int(created.removeprefix("Annonce n°").split()[0])
        card = str((await coordinator.wait_notice(f"📣 Annonce n°{number} ")).event_id)
        await coordinator.wait_text(card, "Quorum : 0/3 signatures requises")
        for code in (PANTIN, KREMLIN):
            await people.officers[code].answer(room, f"!signer {number}")
        await coordinator.wait_text(card, "Quorum : 2/3 signatures requises")
        preview = content_of(await coordinator.answer(room, f"!apercu {number}"))["body"]
        assert "Quorum : 2/3 signatures requises" in preview
        status = content_of(await coordinator.answer(room, f"!etat {number}"))["body"]
        assert "Quorum : 2/3 signatures requises" in status

        async with hub.store.unit() as uow:  # the deadline in a moment, the publication a minute later
            now = utc_now()
            await uow.announcements.update(
                number, deadline=now + timedelta(seconds=1), publish_at=now + timedelta(seconds=60)
            )
        refused = content_of(await coordinator.answer(room, f"!verrouiller {number}"))["body"]
        assert refused.startswith("Verrouillage refusé : quorum non atteint, 2/3 signatures requises (il en manque 1).")

        async with dispatching(hub):
            question = content_of(await coordinator.wait_notice(f"⚠️ Quorum non atteint pour l'annonce n°{number}"))
            await eventually(told_everything(hub), "the question marked as told")
            await coordinator.wait_text(card, "⚠️ Quorum non atteint à la date limite")

    assert question["m.mentions"]["user_ids"] == [coordinator.user_id]
    assert "2/3 signatures requises, il en manque 1. Rien ne sera publié sans votre décision." in question["body"]
    for command in (
        f"!quorum {number} 2 :",
        f"!programmer {number} <date de publication> limite",
        f"!annuler {number}",
    ):
        assert command in question["body"]
    assert (await hub.announcements.get(number)).state is AnnouncementState.OPEN

    # After a restart nobody is asked again; lowered to the signatures gathered, it is locked and publishes.
    async with Bot(hub, bot_settings), dispatching(hub):
        lowered = content_of(await coordinator.answer(room, f"!quorum {number} 2"))["body"]
        assert f"le quorum est atteint : verrouillez l'annonce (!verrouiller {number})" in lowered
        await coordinator.wait_text(card, "Quorum : 2/2 signatures requises — atteint ✅")
        locked = content_of(await coordinator.answer(room, f"!verrouiller {number}"))["body"]
        assert locked.startswith(f"Annonce n°{number} verrouillée : 4 publication(s) partiront")
        async with hub.store.unit() as uow:  # its instant brought forward rather than waited for
            soon = utc_now() + timedelta(seconds=1)
            await uow.announcements.update(number, publish_at=soon)
            await uow.outbox.reschedule(number, soon)
        await coordinator.wait_notice(f"✅ Annonce n°{number} « Départ de X » publiée : 4/4 publication(s) en ligne")

    assert len(originals(coordinator, f"⚠️ Quorum non atteint pour l'annonce n°{number}")) == 1
    assert [len(servers.mastodon.statuses(username_of(code))) for code in (PANTIN, KREMLIN, SAINT_REMY)] == [1, 1, 0]
