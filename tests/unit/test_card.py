"""The announcement card at every size: every town while they fit, a summary beyond, never over the limit.

An edit carries the card twice; an encrypted event carries its content base64-encoded inside an envelope.
Both are measured here, without a homeserver, for a coalition of 1,600 towns with long names and reasons.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.card import CARD_LINES, CARD_TOWNS, edit_content, render_card
from bot.render import (
    MAX_CONTENT_BYTES,
    Reply,
    Rich,
    batches,
    content_weight,
    fitting,
    notice_content,
    paginate_list,
)
from hub.domain.model import (
    Announcement,
    AnnouncementState,
    Coalition,
    ImageRef,
    Platform,
    SignOn,
    SignOnState,
    SignOnSummary,
    Town,
    TownKind,
    Version,
    Wording,
)
from hub.services.announcements import Board, BoardSummary
from hub.services.starter_packs import PackLink

#: Matrix refuses events over this many bytes, as the server stores them.
EVENT_LIMIT = 65_536
START = datetime(2026, 1, 5, 9, tzinfo=UTC)
EVENT_ID = "$" + "e" * 43
ROOM_ID = "!" + "r" * 40 + ":matrix.unisson.example"


def _announcement(wording: Wording, state: AnnouncementState = AnnouncementState.OPEN) -> Announcement:
    version = Version(1, 3, 2, wording, "hash", "@coordination:unisson.test", START)
    return Announcement(
        id=3,
        coalition_id=1,
        title="Départ de X",
        state=state,
        language="fr",
        allow_overrides=False,
        created_by="@coordination:unisson.test",
        created_at=START,
        current_version=version,
        deadline=START + timedelta(days=10),
        publish_at=START + timedelta(days=12),
    )


def _town(number: int, name: str) -> Town:
    return Town(number, TownKind.COMMUNE, f"{number:05d}", name)


def _signons(count: int, name: str, reason: str) -> list[SignOn]:
    """``count`` towns, in turn signed, declined (with ``reason``) and pending, each decision later than the last."""
    signons = []
    for number in range(1, count + 1):
        town = _town(number, f"{name} {number:04d}")
        at = START + timedelta(minutes=number)
        state = (SignOnState.SIGNED, SignOnState.DECLINED, SignOnState.PENDING)[number % 3]
        if state is SignOnState.PENDING:
            signons.append(SignOn(town, state))
        else:
            because = reason if state is SignOnState.DECLINED else None
            signons.append(SignOn(town, state, 2, "@referent:unisson.test", at, because))
    return signons


def _board(
    signons: list[SignOn], wording: Wording | None = None, state: AnnouncementState = AnnouncementState.OPEN
) -> Board:
    coalition = Coalition(1, "Coalition des villes", ROOM_ID)
    announcement = _announcement(wording or Wording("{ville} quitte X ! Suivez-nous sur {site}"), state)
    return Board(announcement, coalition, signons, {})


def _encrypted_size(content: dict[str, Any]) -> int:
    """What the homeserver stores for ``content`` sent in an encrypted room: the Megolm payload (type, content,
    room) base64-encoded with its cipher overhead, in an envelope with the event's own keys and signatures."""
    payload = json.dumps({"type": "m.room.message", "content": content, "room_id": ROOM_ID})
    ciphertext = base64.b64encode(payload.encode() + bytes(16 + 8 + 64))
    envelope = {
        "algorithm": "m.megolm.v1.aes-sha2",
        "sender_key": "k" * 43,
        "session_id": "s" * 43,
        "device_id": "DEVICEID",
        "ciphertext": ciphertext.decode(),
        "m.relates_to": content.get("m.relates_to", {}),
    }
    return len(json.dumps(envelope)) + 2_000  # the event's envelope: ids, hashes, signatures, auth events


def _sizes(reply: Reply) -> dict[str, int]:
    card, edit = notice_content(reply), edit_content(reply, EVENT_ID)
    return {
        "card": content_weight(card),
        "edit": content_weight(edit),
        "encrypted card": _encrypted_size(card),
        "encrypted edit": _encrypted_size(edit),
    }


def test_a_small_coalition_reads_every_town_as_before() -> None:
    board = _board(
        [
            SignOn(_town(1, "Le Kremlin-Bicêtre"), SignOnState.SIGNED, 1, "@a:x", START),
            SignOn(_town(2, "Orléans"), SignOnState.DECLINED, 1, "@b:x", START, "Le conseil doit en délibérer."),
            SignOn(_town(3, "Pantin"), SignOnState.PENDING),
        ]
    )
    plain = render_card(board, "fr", "!").plain
    assert plain.endswith(
        "Signé : 1 · Refusé : 1 · En attente : 1 (sur 3 villes)\n"
        "• ✅ Le Kremlin-Bicêtre\n"
        "• ❌ Orléans — motif : Le conseil doit en délibérer.\n"
        "• ⏳ Pantin\n"
        "Référents : réagissez ✅ à ce message pour signer, ❌ pour refuser (ou !signer 3, !refuser 3 motif). "
        "Retirer sa réaction annule son choix."
    )
    assert plain.startswith("📣 Annonce n°3 : Départ de X\nVersion 2 · ouverte aux signatures\n")
    assert "!etat" not in plain


@pytest.mark.parametrize("towns", [60, 1_600])
def test_the_hubs_summary_and_the_full_board_render_the_same_card(towns: int) -> None:
    signons = _signons(towns, "Ville", "Pas cette fois")
    board = _board(signons)
    summary = SignOnSummary.of(signons, CARD_LINES, CARD_TOWNS)
    assert summary.complete is (towns <= CARD_TOWNS)
    assert render_card(board, "fr", "!") == render_card(
        BoardSummary(board.announcement, board.coalition, summary), "fr", "!"
    )


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_a_coalition_of_1600_towns_gets_a_summary_under_the_limit(lang: str) -> None:
    name = "Saint-Rémy-lès-Chevreuse-sur-Yvette-et-Bièvre-" + "é" * 60
    reason = "Le conseil municipal a voté contre « à l'unanimité » & demande un autre texte. " * 5
    reply = render_card(_board(_signons(1_600, name, reason)), lang, "!")
    sizes = _sizes(reply)
    assert sizes["edit"] <= MAX_CONTENT_BYTES, sizes
    assert sizes["encrypted edit"] < EVENT_LIMIT, sizes
    assert sizes["encrypted card"] < sizes["encrypted edit"]
    plain = reply.plain
    if lang == "fr":
        assert "Signé : 533 · Refusé : 534 · En attente : 533 (sur 1\u202f600 villes)" in plain
        assert "\nRefus :\n• ❌ " in plain and "\nDernières signatures :\n• ✅ " in plain
        assert "Liste complète : !etat 3 ; par état : !etat 3 signé (ou refusé, en-attente)." in plain
        more = [line for line in plain.splitlines() if line.startswith("… et ")]
    else:
        assert "Signed: 533 · Declined: 534 · Pending: 533 (of 1,600 towns)" in plain
        assert "Full list: !status 3" in plain
        more = [line for line in plain.splitlines() if line.startswith("… and ")]
    assert len(more) == 2
    # The latest signature first: town 1,599 signed last.
    assert plain.split("• ✅ ")[1].startswith(f"{name} 1599")
    assert "motif" in plain or "reason" in plain
    assert "⏳" not in plain


def test_the_summary_says_how_many_more_in_the_language_of_the_card() -> None:
    reply = render_card(_board(_signons(1_600, "Ville au nom assez long pour remplir la carte", "Non")), "fr", "!")
    shown = reply.plain.count("• ✅ ")
    assert f"… et {533 - shown} de plus" in reply.plain
    english = render_card(_board(_signons(4_000, "A town with a long enough name to fill the card", "No")), "en", "!")
    assert any(line.startswith("… and 1,") and line.endswith(" more") for line in english.plain.splitlines())


def test_very_long_quoted_texts_are_shortened_rather_than_the_card_refused() -> None:
    alt = "Une affiche détaillée : « Départ de X », fond bleu, logos des villes, texte en blanc. " * 20
    wording = Wording(
        "{ville} quitte X ! " + "Très long texte accentué. " * 200,
        variants={Platform.BLUESKY: "é" * 300, Platform.MASTODON: "à" * 500},
        images=tuple(ImageRef(f"{n:064d}", alt[:1500], "image/png", 4, 4, 100) for n in range(4)),
    )
    reply = render_card(_board(_signons(1_600, "Ville", "Non"), wording), "fr", "!")
    sizes = _sizes(reply)
    assert sizes["edit"] <= MAX_CONTENT_BYTES and sizes["encrypted edit"] < EVENT_LIMIT, sizes
    assert "Image 4 : Une affiche détaillée" in reply.plain and "…" in reply.plain
    assert "• ✅ Ville" in reply.plain


def test_a_card_that_is_no_longer_open_says_nothing_of_how_to_sign() -> None:
    locked = _board(_signons(1_600, "Ville", "Non"), state=AnnouncementState.LOCKED)
    plain = render_card(locked, "fr", "!").plain
    assert "réagissez" not in plain and plain.endswith("en-attente).")


# --- the lists split over several messages ------------------------------------------------------------------


def _officers(count: int) -> list[Rich]:
    return [
        Rich().strong(f"Ville {n}").text(" : ").mention(f"@referent-de-la-ville-{n}:matrix.unisson.example")
        for n in range(count)
    ]


def test_a_long_list_of_mentions_goes_over_several_messages_each_under_the_limit() -> None:
    pages = paginate_list(Rich().text("Relance :"), _officers(1_600), lambda: Rich().text("Suite :"), "Répondez.")
    assert len(pages) > 1
    assert all(content_weight(notice_content(page, in_reply_to=EVENT_ID)) <= MAX_CONTENT_BYTES for page in pages)
    assert pages[0].plain.startswith("Relance :\n• Ville 0 : ") and pages[1].plain.startswith("Suite :\n• Ville ")
    assert all(page.plain.endswith("\nRépondez.") for page in pages)
    mentioned = [user for page in pages for user in page.mentions]
    assert len(mentioned) == len(set(mentioned)) == 1_600


def test_a_short_list_stays_one_message_as_before() -> None:
    [page] = paginate_list(Rich().text("Relance :"), _officers(2), lambda: Rich().text("Suite :"), "Répondez.")
    expected = Rich().text("Relance :").items(_officers(2)).text("Répondez.").build()
    assert page == expected


def test_batches_keep_every_item_in_order_within_the_room_and_the_count() -> None:
    items = [Rich().text(f"ligne {n} " + "x" * (n % 50)) for n in range(1_000)]
    groups = batches(items, 2_000, 30)
    assert [item.build() for group in groups for item in group] == [item.build() for item in items]
    assert all(len(group) <= 30 for group in groups)
    assert all(content_weight({"list": [i.build().plain for i in group]}) < 2_000 for group in groups)
    # An item heavier than the room is never cut nor lost: it makes a group of its own.
    heavy = [Rich().text("a"), Rich().text("b" * 500), Rich().text("c")]
    assert [len(group) for group in batches(heavy, 100)] == [1, 1, 1]
    assert fitting(heavy, 100) == heavy[:1]


def test_the_card_links_every_starter_pack_of_the_coalition_by_region_and_stays_under_the_limit() -> None:
    signons = [SignOn(_town(1, "Pantin"), SignOnState.SIGNED, 1, "@a:x", START)]
    single = render_card(_board(signons), "fr", "!", packs=[PackLink(1, "", "https://bsky.app/starter-pack/c/3a")])
    assert single.plain.endswith(
        "Suivre toutes les villes sur Bluesky : Coalition des villes https://bsky.app/starter-pack/c/3a"
    )
    assert '<a href="https://bsky.app/starter-pack/c/3a">Coalition des villes</a>' in single.html
    assert "Bluesky" not in render_card(_board(signons), "fr", "!").plain

    regions = [f"Région n°{n} (1/2)" for n in range(1, 25)]
    packs = [PackLink(n, label, f"https://bsky.app/starter-pack/c/3p{n:02}") for n, label in enumerate(regions, 1)]
    name = "Saint-Rémy-lès-Chevreuse-sur-Yvette-et-Bièvre-" + "é" * 60
    reply = render_card(_board(_signons(1_600, name, "Non. " * 50)), "en", "!", packs=packs)
    assert all(f'<a href="{p.url}">{p.label}</a>' in reply.html for p in packs)
    assert "Follow every town on Bluesky: Région n°1 (1/2) https://bsky.app/starter-pack/c/3p01, " in reply.plain
    sizes = _sizes(reply)
    assert sizes["edit"] <= MAX_CONTENT_BYTES and sizes["encrypted edit"] < EVENT_LIMIT, sizes
