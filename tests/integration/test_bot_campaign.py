"""A joint-announcement campaign through the bot, against a real Synapse with real users.

A coordinator and the officers of three towns meet in the coalition's room: the coordinator proposes, the
officers sign by reacting to the card, the wording changes, someone declines, someone takes a reaction back,
someone who may not sign tries, and the coordinator schedules and locks. The card is one message, edited in
place. A restart replays history without acting twice; an encrypted room works the same way.
"""

from __future__ import annotations

import hashlib
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from bot.client import Bot
from bot.settings import BotSettings
from hub.core import OPERATOR, Hub
from hub.domain.model import AnnouncementState, Coalition, Platform, SignOnState, Town
from sandbox.synapse import RunningSynapse
from tests.conftest import ADMIN
from tests.integration.bot_helpers import Person, content_of, replaces
from tests.integration.helpers import KREMLIN, PANTIN, SAINT_REMY, png, site_of

pytestmark = pytest.mark.asyncio(loop_scope="session")

TEXT = "{ville} quitte X ! Suivez-nous sur {site} #AuRevoirX"
NEW_TEXT = "{ville} quitte X pour de bon. Retrouvez-nous sur {site}"
CODES = (PANTIN, KREMLIN, SAINT_REMY)


@dataclass
class People:
    coordinator: Person
    officers: dict[str, Person]
    outsider: Person

    def all(self) -> list[Person]:
        return [self.coordinator, *self.officers.values(), self.outsider]


@dataclass
class Campaign:
    room_id: str
    coalition: Coalition
    towns: dict[str, Town]


@pytest_asyncio.fixture(loop_scope="session")
async def people(synapse: RunningSynapse, tmp_path: Path) -> AsyncIterator[People]:
    coordinator = await Person.new(synapse, "coordination", tmp_path)
    officers = {code: await Person.new(synapse, f"referent-{code}", tmp_path) for code in CODES}
    group = People(coordinator, officers, await Person.new(synapse, "curieux", tmp_path))
    yield group
    for person in group.all():
        await person.stop()


async def open_campaign(hub: Hub, people: People, bot_id: str, tmp_path: Path, *, encrypted: bool = False) -> Campaign:
    """The coordinator's room bound to a new coalition of three towns whose officers are the test's people."""
    room_id = await people.coordinator.create_room([], encrypted=encrypted)
    coalition = await hub.coalitions.create(ADMIN, f"Coalition {uuid.uuid4().hex[:6]}", room_id)
    await hub.coalitions.appoint_coordinator(ADMIN, coalition.id, people.coordinator.user_id)
    csv = tmp_path / f"villes-{coalition.id}.csv"
    rows = [f"commune,{code},{site_of(code)},{people.officers[code].user_id}" for code in CODES]
    csv.write_text("\n".join(["type,code,site,officiers", *rows]) + "\n", encoding="utf-8")
    await hub.towns.import_file(OPERATOR, csv, coalition.id)
    towns = {t.code: t for t in await hub.towns.list(coalition.id) if t.code}
    for user_id in (bot_id, *(p.user_id for p in people.all()[1:])):
        await people.coordinator.invite(room_id, user_id)
    for person in people.all()[1:]:
        await person.join(room_id)
    await people.coordinator.wait_member(room_id, bot_id, "join")
    return Campaign(room_id, coalition, towns)


async def propose(
    coordinator: Person, room_id: str, text: str = TEXT, *, title: str = "Départ de X"
) -> tuple[int, str]:
    """``!annonce`` from the coordinator; returns the announcement's number and its card's event id."""
    created = content_of(await coordinator.answer(room_id, f"!annonce {title}\n{text}"))
    assert created["body"].startswith("Annonce n°"), created["body"]
    number = int(created["body"].removeprefix("Annonce n°").split()[0])
    card = await coordinator.wait_notice(f"📣 Annonce n°{number} ")
    return number, str(card.event_id)


def card_posts(person: Person) -> list[str]:
    return [str(n.event_id) for n in person.notices if replaces(n) is None and str(n.body).startswith("📣")]


async def test_a_campaign_from_proposal_to_a_locked_schedule(
    hub: Hub, bot_settings: BotSettings, people: People, tmp_path: Path
) -> None:
    coordinator, officers, outsider = people.coordinator, people.officers, people.outsider
    pantin, kremlin, saint_remy = (officers[c] for c in CODES)
    async with Bot(hub, bot_settings) as bot:
        campaign = await open_campaign(hub, people, bot.user_id, tmp_path)
        room = campaign.room_id
        await hub.accounts.link(
            pantin.user_id, campaign.towns[PANTIN].id, Platform.BLUESKY, "pantin.bsky.social", "a-b"
        )
        await hub.accounts.link(pantin.user_id, campaign.towns[PANTIN].id, Platform.MASTODON, "@pantin@m.fr", "jeton")

        wrong = content_of(await coordinator.answer(room, "!modifier"))
        assert wrong["body"].startswith("Utilisation : !modifier <numéro> <texte, à la ligne>")

        number, card = await propose(coordinator, room)
        text = await coordinator.wait_text(card, "Version 1 · ouverte aux signatures", "⏳ Pantin", "réagissez ✅")
        assert "> Pantin" not in text and "> {ville} quitte X" in text
        assert (
            "<blockquote>" in content_of(next(n for n in coordinator.notices if n.event_id == card))["formatted_body"]
        )

        # Two officers sign by reaction; someone who is no officer is told why their reaction does not count.
        await pantin.react(room, card, "✅")
        first_kremlin = await kremlin.react(room, card, "✅")
        await coordinator.wait_text(card, "✅ Pantin", "✅ Le Kremlin-Bicêtre", "Signé : 2")
        await outsider.react(room, card, "✅")
        refusal = content_of(await outsider.reply(card))
        assert outsider.user_id in refusal["m.mentions"]["user_ids"]
        assert "n'a pas été comptée" in refusal["body"] and "Vous n'êtes référent d'aucune ville" in refusal["body"]

        # A new wording resets both signatures; their officers are mentioned in a message they can react to.
        edited = content_of(await coordinator.answer(room, f"!modifier {number}\n{NEW_TEXT}"))
        assert edited["body"].startswith(f"Version 2 de l'annonce n°{number} enregistrée")
        call = await coordinator.wait_notice(f"Le texte de l'annonce n°{number}")
        mentioned = content_of(call)["m.mentions"]["user_ids"]
        assert sorted(mentioned) == sorted([pantin.user_id, kremlin.user_id])
        assert f'href="https://matrix.to/#/{pantin.user_id}"' in content_of(call)["formatted_body"]
        await coordinator.wait_text(card, "Version 2", "⏳ Pantin", "⏳ Le Kremlin-Bicêtre", "> {ville} quitte X pour")

        await pantin.react(room, str(call.event_id), "✅")
        await coordinator.wait_text(card, "✅ Pantin", "⏳ Le Kremlin-Bicêtre")
        # The old reaction stood for version 1: taking it back changes nothing; a new one signs version 2.
        await kremlin.redact(room, first_kremlin)
        second_kremlin = await kremlin.react(room, card, "✅")
        await coordinator.wait_text(card, "✅ Le Kremlin-Bicêtre")
        # Taking the reaction back withdraws the signature.
        await kremlin.redact(room, second_kremlin)
        await coordinator.wait_text(card, "⏳ Le Kremlin-Bicêtre", "Signé : 1")
        assert content_of(await kremlin.answer(room, f"!signer {number}"))["body"] == (
            f"C'est noté : Le Kremlin-Bicêtre signe l'annonce n°{number}."
        )

        reminder = content_of(await coordinator.answer(room, f"!relancer {number}"))
        assert reminder["m.mentions"]["user_ids"] == [saint_remy.user_id, coordinator.user_id]
        assert "Saint-Rémy-lès-Chevreuse" in reminder["body"] and "Pantin" not in reminder["body"]
        declined = f"!refuser {number} Le conseil municipal n'a pas validé"
        assert "ne participe pas" in content_of(await saint_remy.answer(room, declined))["body"]
        await coordinator.wait_text(card, "❌ Saint-Rémy-lès-Chevreuse — motif : Le conseil municipal n'a pas validé")
        status = content_of(await outsider.answer(room, f"!etat {number}"))["body"]
        assert "Le Kremlin-Bicêtre — a signé (version 2)" in status
        assert "Saint-Rémy-lès-Chevreuse — a refusé : Le conseil municipal n'a pas validé" in status

        # An image, attached by replying to it; then its alt text is changed.
        image = await coordinator.post_image(room, png((0, 0, 255)))
        attached = await coordinator.answer(room, f"!image {number} Affiche bleue", reply_to=image)
        assert content_of(attached)["body"].startswith(f"Version 3 de l'annonce n°{number}")
        await coordinator.answer(room, f"!alt {number} 1 Affiche bleue du départ")
        await coordinator.wait_text(card, "Version 4", "Image 1 : Affiche bleue du départ")
        not_an_image = content_of(await coordinator.answer(room, f"!image {number} Texte", reply_to=card))
        assert not_an_image["body"].startswith("Le message auquel vous répondez n'est pas une image")
        for officer in (pantin, kremlin):
            await officer.answer(room, f"!signer {number}")

        scheduled = content_of(
            await coordinator.answer(room, f"!programmer {number} 20/01/2026 9h limite 18/01/2026 18h")
        )
        assert "publication le mardi 20 janvier 2026 à 09:00 (heure de Paris)" in scheduled["body"]
        assert "jusqu'au dimanche 18 janvier 2026 à 18:00 (heure de Paris)" in scheduled["body"]
        preview = content_of(await coordinator.answer(room, f"!apercu {number} Pantin"))["body"]
        assert (
            "Pantin · Bluesky — " in preview
            and f"Pantin quitte X pour de bon. Retrouvez-nous sur {site_of(PANTIN)}" in preview
        )
        assert "Kremlin" not in preview

        refused = content_of(await outsider.answer(room, f"!verrouiller {number}"))["body"]
        assert refused.startswith("Seuls les coordinateurs de")
        locked = content_of(await coordinator.answer(room, f"!verrouiller {number}"))["body"]
        assert locked.startswith(
            f"Annonce n°{number} verrouillée : 2 publication(s) partiront le mardi 20 janvier 2026"
        )
        assert "qui n'ont relié aucun compte : Le Kremlin-Bicêtre" in locked
        final = await coordinator.wait_text(card, "verrouillée", "Publication : mardi 20 janvier 2026")
        assert "réagissez ✅" not in final
        agenda = content_of(await coordinator.answer(room, "!agenda"))["body"]
        assert f"n°{number} Départ de X — verrouillée — mardi 20 janvier 2026" in agenda

    # One card, edited in place every time; the hub agrees with what it shows.
    assert card_posts(coordinator) == [card]
    assert all(
        content_of(e)["m.relates_to"] == {"rel_type": "m.replace", "event_id": card} for e in coordinator.edits_of(card)
    )
    board = await hub.announcements.board(number)
    assert board.announcement.state is AnnouncementState.LOCKED
    assert {s.town.name: s.state for s in board.signons} == {
        "Pantin": SignOnState.SIGNED,
        "Le Kremlin-Bicêtre": SignOnState.SIGNED,
        "Saint-Rémy-lès-Chevreuse": SignOnState.DECLINED,
    }


async def test_an_image_posted_in_reply_to_the_card_waits_for_its_alt_text(
    hub: Hub, bot_settings: BotSettings, people: People, tmp_path: Path
) -> None:
    coordinator, pantin = people.coordinator, people.officers[PANTIN]
    async with Bot(hub, bot_settings) as bot:
        campaign = await open_campaign(hub, people, bot.user_id, tmp_path)
        room = campaign.room_id
        number, card = await propose(coordinator, room)
        await pantin.react(room, card, "✅")
        await coordinator.wait_text(card, "✅ Pantin")

        # An officer's image is not kept, and the officer is told why.
        theirs = await pantin.post_image(room, png((0, 255, 0)), reply_to=card)
        refusal = content_of(await pantin.reply(theirs))
        assert pantin.user_id in refusal["m.mentions"]["user_ids"]
        assert "cette image n'est pas ajoutée à l'annonce : Seuls les coordinateurs de" in refusal["body"]

        # The coordinator's is fetched and held at once; the answer gives its number and how to describe it.
        image = await coordinator.post_image(room, png((0, 0, 255)), reply_to=card)
        held = content_of(await coordinator.reply(image))["body"]
        assert held.startswith(f"Image reçue pour l'annonce n°{number} : elle sera l'image 1 une fois décrite.")
        assert f"!alt {number} 1 votre description" in held and f"!image {number} votre description" in held
        [waiting] = await hub.announcements.held_images(number)
        assert waiting.message.message_id == image and waiting.message.author == coordinator.user_id
        assert len(await hub.announcements.versions(number)) == 1

        # Its alt text attaches it: a new version, and the town that had signed is asked to sign again.
        attached = content_of(await coordinator.answer(room, f"!alt {number} 1 Affiche bleue"))["body"]
        assert attached.startswith(f"Version 2 de l'annonce n°{number} enregistrée") and "1 ville(s)" in attached
        call = await coordinator.wait_notice(f"Le texte de l'annonce n°{number}")
        assert content_of(call)["m.mentions"]["user_ids"] == [pantin.user_id]
        await coordinator.wait_text(card, "Version 2", "Image 1 : Affiche bleue", "⏳ Pantin")

        # A second one is held as image 2, then dropped; an attached image's alt text changes as before.
        second = await coordinator.post_image(room, png((255, 255, 0)), reply_to=card)
        assert "elle sera l'image 2 une fois décrite" in content_of(await coordinator.reply(second))["body"]
        dropped = content_of(await coordinator.answer(room, f"!retirer-image {number} 2"))["body"]
        assert dropped == f"L'image 2, qui attendait sa description, est écartée ; l'annonce n°{number} ne change pas."
        await coordinator.answer(room, f"!alt {number} 1 Affiche bleue du départ")
        await coordinator.wait_text(card, "Version 3", "Image 1 : Affiche bleue du départ")

        # An image answering anything but a card is nobody's business.
        elsewhere = await coordinator.post_image(room, png((9, 9, 9)), reply_to=image)
        await coordinator.answer(room, "!ping")
        assert coordinator.replies_to(elsewhere) == []

    [current] = [v for v in await hub.announcements.versions(number) if v.number == 3]
    [attached_image] = current.wording.images
    assert (attached_image.alt, attached_image.sha256) == ("Affiche bleue du départ", waiting.sha256)
    assert attached_image.sha256 == hashlib.sha256(png((0, 0, 255))).hexdigest()
    assert await hub.announcements.held_images(number) == []


async def test_officers_sign_or_decline_with_their_own_text_on_the_lines_below(
    hub: Hub, bot_settings: BotSettings, people: People, tmp_path: Path
) -> None:
    coordinator, officers = people.coordinator, people.officers
    pantin, kremlin, saint_remy = (officers[c] for c in CODES)
    own = "{ville} dit au revoir à X. Suivez-nous sur {site}"
    async with Bot(hub, bot_settings) as bot:
        campaign = await open_campaign(hub, people, bot.user_id, tmp_path)
        room = campaign.room_id
        number, card = await propose(coordinator, room, title="--remplacement Départ de X")
        # Only the number on the command line: the first line below is the town's text, not a town's name.
        signed = content_of(await pantin.answer(room, f"!signer {number}\n{own}\nÀ bientôt !"))["body"]
        assert signed == f"C'est noté : Pantin signe l'annonce n°{number}."
        # A town named on the command line still works, with its text below.
        named = content_of(await kremlin.answer(room, f"!signer {number} Le Kremlin-Bicêtre\n{own}"))["body"]
        assert named == f"C'est noté : Le Kremlin-Bicêtre signe l'annonce n°{number}."
        declined = content_of(await saint_remy.answer(room, f"!refuser {number}\nPas de conseil avant mars"))["body"]
        assert "ne participe pas" in declined
        await coordinator.wait_text(card, "✅ Pantin", "✅ Le Kremlin-Bicêtre", "❌ Saint-Rémy-lès-Chevreuse")

    board = await hub.announcements.board(number)
    assert {s.town.name: (s.state, s.override_text, s.reason) for s in board.signons} == {
        "Pantin": (SignOnState.SIGNED, f"{own}\nÀ bientôt !", None),
        "Le Kremlin-Bicêtre": (SignOnState.SIGNED, own, None),
        "Saint-Rémy-lès-Chevreuse": (SignOnState.DECLINED, None, "Pas de conseil avant mars"),
    }


async def test_a_restart_replays_nothing_and_still_edits_the_card(
    hub: Hub, bot_settings: BotSettings, people: People, tmp_path: Path
) -> None:
    coordinator, officers = people.coordinator, people.officers
    pantin, kremlin = officers[PANTIN], officers[KREMLIN]
    async with Bot(hub, bot_settings) as first:
        campaign = await open_campaign(hub, people, first.user_id, tmp_path)
        room = campaign.room_id
        number, card = await propose(coordinator, room)
        signed = await pantin.react(room, card, "✅")
        await coordinator.wait_text(card, "✅ Pantin")
    snapshot = tmp_path / "store-snapshot"
    shutil.copytree(bot_settings.store_path, snapshot, ignore=shutil.ignore_patterns("*.tmp"))  # not half-written files

    # While the bot is away: a reaction taken back, a new one, a command.
    await pantin.redact(room, signed)
    await kremlin.react(room, card, "❌")
    status = await coordinator.say(room, f"!etat {number}")
    async with Bot(hub, bot_settings):
        await coordinator.wait_text(card, "⏳ Pantin", "❌ Le Kremlin-Bicêtre", "Refusé : 1")
        await coordinator.reply(status)
    edits = len(coordinator.edits_of(card))
    # A bot restored from the older store receives all of it again, and must act on none of it.
    async with Bot(hub, bot_settings.model_copy(update={"store_path": snapshot})):
        await coordinator.answer(room, "!ping")
        # Still the same card, still edited, and reactions still matched to it.
        await kremlin.answer(room, f"!signer {number}")
        await coordinator.wait_text(card, "✅ Le Kremlin-Bicêtre", "⏳ Pantin")

    assert len(coordinator.replies_to(status)) == 1
    assert len(coordinator.edits_of(card)) == edits + 1
    assert card_posts(coordinator) == [card]
    board = await hub.announcements.board(number)
    assert {s.town.name: s.state for s in board.signons}["Pantin"] is SignOnState.PENDING


async def test_an_encrypted_room_runs_the_same_campaign(
    hub: Hub, bot_settings: BotSettings, people: People, synapse: RunningSynapse, tmp_path: Path
) -> None:
    coordinator, pantin, outsider = people.coordinator, people.officers[PANTIN], people.outsider
    async with Bot(hub, bot_settings) as bot:
        campaign = await open_campaign(hub, people, bot.user_id, tmp_path, encrypted=True)
        room = campaign.room_id
        number, card = await propose(coordinator, room)
        await pantin.react(room, card, "✅")
        await coordinator.wait_text(card, "✅ Pantin", "Signé : 1")
        await outsider.react(room, card, "❌")
        assert "n'a pas été comptée" in content_of(await outsider.reply(card))["body"]
        image = await coordinator.post_image(room, png((255, 0, 0)))
        await coordinator.answer(room, f"!image {number} Affiche rouge", reply_to=image)
        await coordinator.wait_text(card, "Version 2", "Image 1 : Affiche rouge", "⏳ Pantin")
        # An encrypted image in reply to the card is decrypted and held, then described.
        held = await coordinator.post_image(room, png((0, 255, 0)), reply_to=card)
        assert "elle sera l'image 2" in content_of(await coordinator.reply(held))["body"]
        await coordinator.answer(room, f"!alt {number} 2 Affiche verte")
        await coordinator.wait_text(card, "Version 3", "Image 2 : Affiche verte")

    assert coordinator.undecryptable == []
    versions = await hub.announcements.versions(number)
    assert [i.alt for i in versions[-1].wording.images] == ["Affiche rouge", "Affiche verte"]
    assert versions[-1].wording.images[1].sha256 == hashlib.sha256(png((0, 255, 0))).hexdigest()
    assert versions[-1].wording.images[0].width == 4
    # The card and its edits are ciphertext on the homeserver; the edit relation stays readable to it.
    for event_id in (card, str(coordinator.edits_of(card)[-1].event_id)):
        stored = await coordinator.raw_event(synapse, room, event_id)
        assert stored["type"] == "m.room.encrypted"
        assert "Pantin" not in str(stored["content"])
    edit = await coordinator.raw_event(synapse, room, str(coordinator.edits_of(card)[-1].event_id))
    assert edit["content"]["m.relates_to"] == {"rel_type": "m.replace", "event_id": card}
