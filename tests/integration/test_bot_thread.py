"""The follow-up and the pin through a real Synapse: given at the proposal, shown on the card, counted in the
preview, changed later (the towns that had signed sign again), refused with the exact reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.client import Bot
from bot.settings import BotSettings
from hub.core import Hub
from hub.domain.model import AnnouncementState
from tests.integration.bot_helpers import content_of
from tests.integration.helpers import PANTIN
from tests.integration.test_bot_campaign import People, open_campaign, people

__all__ = ["people"]  # the fixture, shared with the campaign's tests

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_followup_and_a_pin_from_the_proposal_to_the_card_and_the_preview(
    hub: Hub, bot_settings: BotSettings, people: People, tmp_path: Path
) -> None:
    coordinator, pantin = people.coordinator, people.officers[PANTIN]
    async with Bot(hub, bot_settings) as bot:
        room = (await open_campaign(hub, people, bot.user_id, tmp_path)).room_id
        command = '!annonce --suite "Toutes les infos sur {ville} : {site}" --epingler Départ de X\n{ville} quitte X'
        created = content_of(await coordinator.answer(room, command))["body"]
        assert created.startswith("Annonce n°"), created
        number = int(created.removeprefix("Annonce n°").split()[0])
        card = str((await coordinator.wait_notice(f"📣 Annonce n°{number} ")).event_id)
        await coordinator.wait_text(card, "Suite en fil : Toutes les infos sur {ville} : {site}", "📌 Épinglée")

        preview = content_of(await coordinator.answer(room, f"!apercu {number} Pantin"))["body"]
        assert f"Suite en fil de l'annonce n°{number} « Départ de X »" in preview
        assert "Toutes les infos sur Pantin : " in preview
        assert "📌 Épinglée sur le profil de chaque ville" in preview

        await pantin.react(room, card, "✅")
        await coordinator.wait_text(card, "Signé : 1")
        changed = content_of(await coordinator.answer(room, f"!suite {number}\nLa suite pour {{ville}}"))["body"]
        assert changed.startswith(f"Suite en fil de l'annonce n°{number} « Départ de X » enregistrée")
        assert "1 ville(s) avaient déjà signé" in changed
        await coordinator.wait_text(card, "Suite en fil : La suite pour {ville}", "Signé : 0")

        refused = content_of(await coordinator.answer(room, f"!suite {number}\nInfos : {{vile}}"))["body"]
        assert "{vile}" in refused
        unpinned = content_of(await coordinator.answer(room, f"!epingler {number} non"))["body"]
        assert unpinned.startswith(f"Annonce n°{number} « Départ de X » : les messages ne seront pas épinglés")
    rules = await hub.threads.rules(number)
    assert rules.pin is False and rules.followup is not None and rules.followup.text == "La suite pour {ville}"


async def test_pre_staging_chosen_with_preparer_shows_on_the_card_and_is_refused_once_locked(
    hub: Hub, bot_settings: BotSettings, people: People, tmp_path: Path
) -> None:
    coordinator = people.coordinator
    async with Bot(hub, bot_settings) as bot:
        room = (await open_campaign(hub, people, bot.user_id, tmp_path)).room_id
        created = content_of(await coordinator.answer(room, "!annonce Départ de X\n{ville} quitte X"))["body"]
        number = int(created.removeprefix("Annonce n°").split()[0])
        card = str((await coordinator.wait_notice(f"📣 Annonce n°{number} ")).event_id)

        on = content_of(await coordinator.answer(room, f"!preparer {number}"))["body"]
        assert on == (
            f"Annonce n°{number} « Départ de X » : les messages Mastodon seront confiés à l'avance à leurs serveurs, "
            "et partiront à l'heure même si le hub est arrêté ; la carte est à jour."
        )
        await coordinator.wait_text(card, "⏱️ Messages Mastodon confiés à l'avance aux serveurs")
        off = content_of(await coordinator.answer(room, f"!préparer {number} non"))["body"]
        assert off.startswith(f"Annonce n°{number} « Départ de X » : les messages Mastodon seront publiés par le hub")
        await coordinator.wait_text(card, "Messages Mastodon publiés par le hub à l'heure (sans préparation")
        default = content_of(await coordinator.answer(room, f"!preparer {number} defaut"))["body"]
        assert "suivront le réglage du hub" in default
        assert (await hub.announcements.get(number)).prestage is None

        async with hub.store.unit() as uow:  # locked (the lock itself is tested with the campaign)
            await uow.announcements.update(number, state=AnnouncementState.LOCKED)
        refused = content_of(await coordinator.answer(room, f"!preparer {number} oui"))["body"]
        assert refused == (
            f"Le choix de préparation des messages Mastodon ne peut plus changer : l'annonce n°{number} est à "
            "l'état « verrouillée », ses messages sont peut-être déjà programmés sur les serveurs. Déverrouillez-la "
            f"d'abord (!deverrouiller {number} : les messages programmés sont retirés), choisissez de nouveau "
            f"(!preparer {number} oui|non|defaut), puis verrouillez-la."
        )
    assert (await hub.announcements.get(number)).prestage is None
