"""Announcements: templates, wording versions, lifecycle, overrides, deadline, images and the lock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.core import Hub
from hub.domain.model import AnnouncementState, DeliveryState, Platform, SignOnState
from hub.errors import (
    Conflict,
    InvalidInput,
    InvalidTransition,
    PermissionDenied,
    ProblemList,
    TextDoesNotFit,
)
from hub.services.editing import NewVersion
from tests.conftest import Clock
from tests.integration.helpers import (
    KREMLIN,
    LYON,
    PANTIN,
    RENNES,
    Setup,
    build_coalition,
    deliveries,
    link_bluesky,
    link_mastodon,
    png,
    propose,
    site_of,
)

PUBLISH = "20/01/2026 9h"
PUBLISH_UTC = datetime(2026, 1, 20, 8, 0, tzinfo=UTC)


@pytest.fixture
async def east(hub: Hub, tmp_path: Path) -> Setup:
    return await build_coalition(hub, tmp_path, (PANTIN, KREMLIN))


async def _signon(hub: Hub, announcement_id: int, code: str) -> tuple[SignOnState, int | None, int | None]:
    board = await hub.announcements.board(announcement_id)
    signon = next(s for s in board.signons if s.town.code == code)
    return signon.state, signon.version_number, signon.previous_version_number


# --- templates ------------------------------------------------------------------------------------------------


async def test_an_unknown_placeholder_is_refused_at_proposal_and_named(hub: Hub, east: Setup) -> None:
    with pytest.raises(InvalidInput) as typo:
        await propose(hub, east, "{vile} quitte X")
    assert "Champ inconnu {vile} dans le texte : vouliez-vous dire {ville} ?" in typo.value.message("fr")

    with pytest.raises(InvalidInput) as unknown:
        await propose(hub, east, "{maire} quitte X")
    assert unknown.value.message("fr").startswith("Champ inconnu {maire} dans le texte.")
    assert await hub.announcements.list(east.coalition.id) == []


async def test_a_missing_profile_field_is_named_once_per_town_and_not_called_too_long(hub: Hub, east: Setup) -> None:
    with pytest.raises(ProblemList) as missing:
        await propose(hub, east, "{ville} : abonnez-vous à {newsletter}")

    message = missing.value.message("fr")
    # Nothing is too long here: the towns lack a newsletter, whatever the network.
    assert "Raccourcissez" not in message
    for name in ("Pantin", "Le Kremlin-Bicêtre"):
        assert message.count(f"{name} n'a pas de lettre d'information renseignée") == 1


# --- wording versions -----------------------------------------------------------------------------------------


async def test_an_edit_makes_a_new_version_and_keeps_the_old_one(hub: Hub, east: Setup) -> None:
    announcement = await propose(hub, east, "{ville} quitte X.")
    assert announcement.current_version is not None
    first_hash = announcement.current_version.content_hash

    edited = await hub.announcements.edit(east.coordinator, announcement.id, "{ville} quitte X pour de bon.")

    current = edited.announcement.current_version
    assert current is not None
    assert (current.number, current.wording.text) == (2, "{ville} quitte X pour de bon.")
    assert current.content_hash != first_hash
    versions = await hub.announcements.versions(announcement.id)
    assert [(v.number, v.wording.text, v.content_hash) for v in versions] == [
        (1, "{ville} quitte X.", first_hash),
        (2, "{ville} quitte X pour de bon.", current.content_hash),
    ]


async def test_the_same_wording_again_is_a_conflict(hub: Hub, east: Setup) -> None:
    announcement = await propose(hub, east, "{ville} quitte X.")
    await hub.announcements.sign(east.officer(PANTIN), announcement.id)

    with pytest.raises(Conflict) as same:
        await hub.announcements.edit(east.coordinator, announcement.id, "  {ville} quitte X.  ")

    assert "identique à la version actuelle" in same.value.message("fr")
    assert len(await hub.announcements.versions(announcement.id)) == 1
    assert await _signon(hub, announcement.id, PANTIN) == (SignOnState.SIGNED, 1, None)


async def test_a_new_wording_resets_signatures_but_not_refusals(hub: Hub, tmp_path: Path) -> None:
    setup = await build_coalition(hub, tmp_path, (PANTIN, KREMLIN, RENNES))
    announcement = await propose(hub, setup)
    await hub.announcements.sign(setup.officer(PANTIN), announcement.id)
    await hub.announcements.sign(setup.officer(RENNES), announcement.id)
    await hub.announcements.decline(setup.officer(KREMLIN), announcement.id, reason="pas cette fois")

    new = await hub.announcements.edit(setup.coordinator, announcement.id, "{ville} quitte X. {site}")

    assert [t.name for t in new.reset] == ["Pantin", "Rennes"]
    assert await _signon(hub, announcement.id, PANTIN) == (SignOnState.PENDING, None, 1)
    assert await _signon(hub, announcement.id, RENNES) == (SignOnState.PENDING, None, 1)
    assert await _signon(hub, announcement.id, KREMLIN) == (SignOnState.DECLINED, 1, None)
    await hub.announcements.sign(setup.officer(PANTIN), announcement.id)
    assert (await _signon(hub, announcement.id, PANTIN))[:2] == (SignOnState.SIGNED, 2)


# --- lifecycle ------------------------------------------------------------------------------------------------


async def _locked(hub: Hub, setup: Setup, text: str = "{ville} quitte X. {site}") -> int:
    """An announcement signed by Pantin (which has a Bluesky account), scheduled and locked."""
    announcement = await propose(hub, setup, text)
    await link_bluesky(hub, setup, PANTIN)
    await hub.announcements.sign(setup.officer(PANTIN), announcement.id)
    await hub.announcements.schedule(setup.coordinator, announcement.id, PUBLISH)
    await hub.announcements.lock(setup.coordinator, announcement.id)
    return announcement.id


async def test_after_the_lock_nobody_signs_and_the_wording_cannot_change(hub: Hub, east: Setup) -> None:
    announcement_id = await _locked(hub, east)

    with pytest.raises(InvalidTransition) as sign:
        await hub.announcements.sign(east.officer(KREMLIN), announcement_id)
    assert sign.value.message("fr") == ("Les signatures ne sont pas ouvertes : l'annonce est à l'état « verrouillée ».")
    with pytest.raises(InvalidTransition) as edit:
        await hub.announcements.edit(east.coordinator, announcement_id, "{ville} change d'avis.")
    assert "l'annonce est à l'état « verrouillée ». Déverrouillez-la d'abord" in edit.value.message("fr")
    assert len(await hub.announcements.versions(announcement_id)) == 1


async def test_cancel_removes_the_pending_deliveries(hub: Hub, east: Setup) -> None:
    announcement_id = await _locked(hub, east)
    assert len(await deliveries(hub, announcement_id)) == 1

    cancelled = await hub.announcements.cancel(east.coordinator, announcement_id)

    assert cancelled.state is AnnouncementState.CANCELLED
    assert await deliveries(hub, announcement_id) == []


async def test_unlock_returns_to_sign_on_and_drops_the_deliveries(hub: Hub, east: Setup) -> None:
    announcement_id = await _locked(hub, east)

    reopened = await hub.announcements.unlock(east.coordinator, announcement_id)

    assert reopened.state is AnnouncementState.OPEN
    assert await deliveries(hub, announcement_id) == []
    assert (await _signon(hub, announcement_id, PANTIN))[0] is SignOnState.SIGNED
    await hub.announcements.sign(east.officer(KREMLIN), announcement_id)
    assert (await hub.announcements.lock(east.coordinator, announcement_id)).deliveries == 1


async def test_illegal_transitions_name_the_state_in_french(hub: Hub, east: Setup) -> None:
    draft = await propose(hub, east, draft=True)
    with pytest.raises(InvalidTransition) as lock_draft:
        await hub.announcements.lock(east.coordinator, draft.id)
    assert lock_draft.value.message("fr") == "Impossible de verrouiller une annonce à l'état « brouillon »."

    opened = await hub.announcements.open(east.coordinator, draft.id)
    assert opened.state is AnnouncementState.OPEN
    with pytest.raises(InvalidTransition) as unlock_open:
        await hub.announcements.unlock(east.coordinator, draft.id)
    assert unlock_open.value.message("fr") == (
        "Impossible de déverrouiller une annonce à l'état « ouverte aux signatures »."
    )

    await hub.announcements.cancel(east.coordinator, draft.id)
    with pytest.raises(InvalidTransition) as schedule_cancelled:
        await hub.announcements.schedule(east.coordinator, draft.id, PUBLISH)
    assert schedule_cancelled.value.message("fr") == "Impossible de programmer une annonce à l'état « annulée »."
    assert schedule_cancelled.value.message("en") == "Cannot schedule an announcement that is “cancelled”."


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("open", "Impossible d'ouvrir aux signatures une annonce à l'état « annulée »."),
        ("cancel", "Impossible d'annuler une annonce à l'état « annulée »."),
    ],
    ids=["open", "cancel"],
)
async def test_transition_messages_elide_before_a_vowel(hub: Hub, east: Setup, action: str, expected: str) -> None:
    announcement = await propose(hub, east)
    await hub.announcements.cancel(east.coordinator, announcement.id)
    with pytest.raises(InvalidTransition) as refused:
        await getattr(hub.announcements, action)(east.coordinator, announcement.id)
    assert refused.value.message("fr") == expected


# --- overrides ------------------------------------------------------------------------------------------------


async def test_an_override_is_refused_unless_the_announcement_allows_it(hub: Hub, east: Setup) -> None:
    announcement = await propose(hub, east)
    with pytest.raises(PermissionDenied) as refused:
        await hub.announcements.sign(east.officer(PANTIN), announcement.id, override_text="{ville} à sa façon")
    assert refused.value.message("fr") == "Cette annonce ne permet pas aux villes de changer le texte."
    assert (await _signon(hub, announcement.id, PANTIN))[0] is SignOnState.PENDING


async def test_an_allowed_override_is_what_the_town_posts(hub: Hub, east: Setup) -> None:
    announcement = await propose(hub, east, allow_overrides=True)
    await link_bluesky(hub, east, PANTIN)
    await link_bluesky(hub, east, KREMLIN)
    signed = await hub.announcements.sign(
        east.officer(PANTIN), announcement.id, override_text="{ville} le dit à sa façon : {site}"
    )
    assert signed.override_text == "{ville} le dit à sa façon : {site}"
    await hub.announcements.sign(east.officer(KREMLIN), announcement.id)

    preview = await hub.announcements.preview(announcement.id, east.town(PANTIN).id)
    assert [line.text for line in preview] == [f"Pantin le dit à sa façon : {site_of(PANTIN)}"]
    await hub.announcements.schedule(east.coordinator, announcement.id, PUBLISH)
    await hub.announcements.lock(east.coordinator, announcement.id)
    texts = {d.town_id: d.text for d in await deliveries(hub, announcement.id)}
    assert texts == {
        east.town(PANTIN).id: f"Pantin le dit à sa façon : {site_of(PANTIN)}",
        east.town(KREMLIN).id: f"Le Kremlin-Bicêtre quitte X ! Suivez-nous sur {site_of(KREMLIN)} #AuRevoirX",
    }


async def test_an_override_must_fit(hub: Hub, east: Setup) -> None:
    announcement = await propose(hub, east, allow_overrides=True)
    await link_bluesky(hub, east, PANTIN)

    with pytest.raises(TextDoesNotFit) as too_long:
        await hub.announcements.sign(east.officer(PANTIN), announcement.id, override_text="{ville} " + "a" * 300)

    # "Pantin " is 7 graphemes, so 307 in all.
    assert [p.message("fr") for p in too_long.value.problems] == [
        "Bluesky, Pantin : 307/300 graphèmes, raccourcir de 7"
    ]
    assert (await _signon(hub, announcement.id, PANTIN))[0] is SignOnState.PENDING


# --- deadline -------------------------------------------------------------------------------------------------


async def test_signing_after_the_deadline_is_refused(hub: Hub, east: Setup, clock: Clock) -> None:
    announcement = await propose(hub, east)
    scheduled = await hub.announcements.schedule(east.coordinator, announcement.id, PUBLISH, "15/01/2026 18h")
    assert scheduled.deadline == datetime(2026, 1, 15, 17, 0, tzinfo=UTC)

    clock.now = datetime(2026, 1, 15, 16, 59, tzinfo=UTC)
    await hub.announcements.sign(east.officer(PANTIN), announcement.id)
    clock.now = datetime(2026, 1, 15, 17, 0, tzinfo=UTC)
    with pytest.raises(InvalidInput) as late:
        await hub.announcements.sign(east.officer(KREMLIN), announcement.id)

    assert late.value.message("fr").startswith("La date limite de signature est passée")
    assert (await _signon(hub, announcement.id, KREMLIN))[0] is SignOnState.PENDING


async def test_a_deadline_after_publication_is_refused(hub: Hub, east: Setup) -> None:
    announcement = await propose(hub, east)
    for deadline in ("20/01/2026 9h", "21/01/2026 9h"):
        with pytest.raises(InvalidInput) as refused:
            await hub.announcements.schedule(east.coordinator, announcement.id, PUBLISH, deadline)
        assert refused.value.message("fr") == "La date limite de signature doit précéder la date de publication."
    stored = await hub.announcements.get(announcement.id)
    assert (stored.publish_at, stored.deadline) == (None, None)


# --- images ---------------------------------------------------------------------------------------------------


async def test_an_image_makes_a_new_version_and_needs_alt_text(hub: Hub, east: Setup) -> None:
    announcement = await propose(hub, east)
    with pytest.raises(InvalidInput) as no_alt:
        await hub.announcements.add_image(east.coordinator, announcement.id, png((255, 0, 0)), "   ")
    assert "Chaque image doit avoir un texte alternatif" in no_alt.value.message("fr")

    new = await hub.announcements.add_image(east.coordinator, announcement.id, png((255, 0, 0)), "Un carré rouge")

    version = new.announcement.current_version
    assert version is not None and version.number == 2
    [image] = version.wording.images
    assert (image.alt, image.mime, image.width, image.height) == ("Un carré rouge", "image/png", 4, 3)
    first, second = await hub.announcements.versions(announcement.id)
    assert first.wording.images == ()
    assert first.content_hash != second.content_hash


async def test_at_most_four_images(hub: Hub, east: Setup) -> None:
    announcement = await propose(hub, east)
    for shade in range(4):
        await hub.announcements.add_image(east.coordinator, announcement.id, png((shade, 0, 0)), f"Image {shade}")

    with pytest.raises(InvalidInput) as fifth:
        await hub.announcements.add_image(east.coordinator, announcement.id, png((9, 9, 9)), "Une de trop")

    assert fifth.value.message("fr") == "4 images au plus par annonce : retirez-en une d'abord."
    current = (await hub.announcements.get(announcement.id)).current_version
    assert current is not None and (current.number, len(current.wording.images)) == (5, 4)


async def test_bytes_that_are_not_an_image_are_refused(hub: Hub, east: Setup) -> None:
    announcement = await propose(hub, east)
    with pytest.raises(InvalidInput) as unreadable:
        await hub.announcements.add_image(east.coordinator, announcement.id, b"\x89PNG pas vraiment", "Logo")
    assert unreadable.value.message("fr").startswith("Ce fichier n'est pas une image lisible")
    assert len(await hub.announcements.versions(announcement.id)) == 1


async def test_an_image_held_for_its_alt_text_is_attached_when_its_position_is_described(hub: Hub, east: Setup) -> None:
    announcement = await propose(hub, east)
    await hub.announcements.add_image(east.coordinator, announcement.id, png((255, 0, 0)), "Rouge")
    room = east.coalition.room_id
    green = await hub.announcements.hold_image(east.coordinator, announcement.id, room, "$vert", png((0, 255, 0)))
    blue = await hub.announcements.hold_image(east.coordinator, announcement.id, room, "$bleu", png((0, 0, 255)))
    again = await hub.announcements.hold_image(east.coordinator, announcement.id, room, "$vert", png((0, 255, 0)))
    assert (green.position, blue.position, again.position) == (2, 3, 2)
    assert [(h.message.message_id, h.position) for h in await hub.announcements.held_images(announcement.id)] == [
        ("$vert", 2),
        ("$bleu", 3),
    ]
    # Held, not attached: the wording is unchanged until the alt text comes.
    assert len(await hub.announcements.versions(announcement.id)) == 2
    await hub.announcements.sign(east.officer(PANTIN), announcement.id)

    attached = await hub.announcements.set_alt(east.coordinator, announcement.id, 3, "Un carré bleu")

    version = attached.announcement.current_version
    assert version is not None and version.number == 3
    assert [i.alt for i in version.wording.images] == ["Rouge", "Un carré bleu"]
    assert (version.wording.images[1].sha256, version.wording.images[1].width) == (blue.sha256, 4)
    assert [t.code for t in attached.reset] == [PANTIN]
    [still] = await hub.announcements.held_images(announcement.id)
    assert (still.message.message_id, still.position) == ("$vert", 3)
    # An attached image's alt text still changes as before.
    renamed = await hub.announcements.set_alt(east.coordinator, announcement.id, 1, "Un carré rouge")
    assert renamed.announcement.current_version is not None
    assert [i.alt for i in renamed.announcement.current_version.wording.images] == ["Un carré rouge", "Un carré bleu"]

    with pytest.raises(InvalidInput) as beyond:
        await hub.announcements.set_alt(east.coordinator, announcement.id, 5, "Rien")
    assert (
        beyond.value.message("fr") == "Il n'y a pas d'image n°5 : l'annonce en a 3, dont 1 en attente de description."
    )
    dropped = await hub.announcements.remove_image(east.coordinator, announcement.id, 3)
    assert not isinstance(dropped, NewVersion) and dropped.message.message_id == "$vert"
    assert await hub.announcements.held_images(announcement.id) == []
    assert len(await hub.announcements.versions(announcement.id)) == 4


async def test_a_held_image_attached_by_another_route_is_held_no_longer(hub: Hub, east: Setup) -> None:
    announcement = await propose(hub, east)
    room = east.coalition.room_id
    await hub.announcements.hold_image(east.coordinator, announcement.id, room, "$jaune", png((255, 255, 0)))

    await hub.announcements.add_image(east.coordinator, announcement.id, png((255, 255, 0)), "Un carré jaune")

    assert await hub.announcements.held_images(announcement.id) == []


async def test_only_a_coordinator_holds_an_image_and_held_images_count_towards_four(hub: Hub, east: Setup) -> None:
    announcement = await propose(hub, east)
    room = east.coalition.room_id
    with pytest.raises(PermissionDenied):
        await hub.announcements.check_editable(east.officer(PANTIN), announcement.id)
    with pytest.raises(PermissionDenied):
        await hub.announcements.hold_image(east.officer(PANTIN), announcement.id, room, "$x", png((1, 1, 1)))
    with pytest.raises(InvalidInput) as not_an_image:
        await hub.announcements.hold_image(east.coordinator, announcement.id, room, "$y", b"pas une image")
    assert not_an_image.value.message("fr").startswith("Ce fichier n'est pas une image lisible")
    for shade in range(3):
        await hub.announcements.add_image(east.coordinator, announcement.id, png((shade, 0, 0)), f"Image {shade}")
    await hub.announcements.hold_image(east.coordinator, announcement.id, room, "$quatre", png((4, 0, 0)))

    with pytest.raises(InvalidInput) as fifth:
        await hub.announcements.hold_image(east.coordinator, announcement.id, room, "$cinq", png((5, 0, 0)))

    assert fifth.value.message("fr") == "4 images au plus par annonce : retirez-en une d'abord."
    assert [h.message.message_id for h in await hub.announcements.held_images(announcement.id)] == ["$quatre"]


# --- the lock -------------------------------------------------------------------------------------------------


async def test_lock_freezes_one_delivery_per_signed_town_and_account(hub: Hub, tmp_path: Path) -> None:
    setup = await build_coalition(hub, tmp_path, (PANTIN, KREMLIN, RENNES, LYON))
    announcement = await propose(hub, setup, "{ville} quitte X. {site}")
    await link_bluesky(hub, setup, PANTIN)
    await link_mastodon(hub, setup, PANTIN)
    await link_mastodon(hub, setup, KREMLIN)
    await link_bluesky(hub, setup, LYON)
    for code in (PANTIN, KREMLIN, RENNES):
        await hub.announcements.sign(setup.officer(code), announcement.id)
    await hub.announcements.decline(setup.officer(LYON), announcement.id)
    await hub.announcements.schedule(setup.coordinator, announcement.id, PUBLISH)

    result = await hub.announcements.lock(setup.coordinator, announcement.id)

    assert result.announcement.state is AnnouncementState.LOCKED
    assert result.deliveries == 3
    assert [t.name for t in result.without_account] == ["Rennes"]
    frozen = await deliveries(hub, announcement.id)
    by_town = {setup.town(code).id: code for code in setup.towns}
    assert sorted((by_town[d.town_id], d.platform, d.text) for d in frozen) == [
        (PANTIN, Platform.BLUESKY, f"Pantin quitte X. {site_of(PANTIN)}"),
        (PANTIN, Platform.MASTODON, f"Pantin quitte X. {site_of(PANTIN)}"),
        (KREMLIN, Platform.MASTODON, f"Le Kremlin-Bicêtre quitte X. {site_of(KREMLIN)}"),
    ]
    assert all(d.state is DeliveryState.PENDING and d.next_attempt_at == PUBLISH_UTC for d in frozen)
    assert len({d.idempotency_key for d in frozen}) == 3

    # The text was rendered at the lock: a later profile change shows in previews, not in deliveries.
    await hub.towns.set_profile(setup.officer(PANTIN), setup.town(PANTIN).id, "website", "https://pantin.fr")
    preview = await hub.announcements.preview(announcement.id, setup.town(PANTIN).id)
    assert {line.text for line in preview} == {"Pantin quitte X. https://pantin.fr"}
    assert [d.text for d in await deliveries(hub, announcement.id)] == [d.text for d in frozen]


async def test_lock_needs_a_publication_date(hub: Hub, east: Setup) -> None:
    announcement = await propose(hub, east)
    await hub.announcements.sign(east.officer(PANTIN), announcement.id)
    with pytest.raises(InvalidInput) as no_date:
        await hub.announcements.lock(east.coordinator, announcement.id)
    assert no_date.value.message("fr") == "Fixez d'abord la date de publication (!programmer …)."
    assert (await hub.announcements.get(announcement.id)).state is AnnouncementState.OPEN


async def test_lock_refuses_a_date_already_past(hub: Hub, east: Setup, clock: Clock) -> None:
    announcement = await propose(hub, east)
    await hub.announcements.sign(east.officer(PANTIN), announcement.id)
    await hub.announcements.schedule(east.coordinator, announcement.id, PUBLISH)
    clock.now = PUBLISH_UTC
    with pytest.raises(InvalidInput) as passed:
        await hub.announcements.lock(east.coordinator, announcement.id)
    assert passed.value.message("fr").startswith("La date de publication est passée")
    assert await deliveries(hub, announcement.id) == []


async def test_lock_refuses_when_nobody_signed(hub: Hub, east: Setup) -> None:
    announcement = await propose(hub, east)
    await hub.announcements.decline(east.officer(PANTIN), announcement.id)
    await hub.announcements.schedule(east.coordinator, announcement.id, PUBLISH)
    with pytest.raises(InvalidInput) as nobody:
        await hub.announcements.lock(east.coordinator, announcement.id)
    assert nobody.value.message("fr") == "Aucune ville n'a signé : rien à publier."
    assert (await hub.announcements.get(announcement.id)).state is AnnouncementState.OPEN
