"""What the room reads about a publication: report grouping, status line, failures, recaps split in messages."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from bot.commands.families import default_registry
from bot.publication import group_reports
from bot.publication_text import (
    Problem,
    Stage,
    Tally,
    overdue_question,
    problems_message,
    progress_reply,
    publication_recap,
    retraction_recap,
)
from bot.render import MAX_CONTENT_BYTES, Reply, notice_content
from hub.domain.model import (
    Announcement,
    AnnouncementState,
    Delivery,
    DeliveryState,
    Failure,
    Platform,
    Progress,
    Report,
    ReportKind,
    Town,
    TownKind,
)
from hub.i18n import format_number, translate
from hub.services.dispatch import Outcome

#: Matrix refuses events over this many bytes.
EVENT_LIMIT = 65_536
REVOKED = Failure(
    "publish.mastodon.token_invalid",
    {"host": "mastodon.test", "identifier": "@ville@mastodon.test", "detail": "The access token was revoked"},
    reconnect=True,
)


def _announcement(state: AnnouncementState = AnnouncementState.PUBLISHED) -> Announcement:
    instant = datetime(2026, 1, 20, 8, 0, tzinfo=UTC)
    return Announcement(
        7, 1, "Départ de X", state, "fr", False, "@coordination:unisson.test", instant, None, None, instant
    )


def _outcomes(count: int, *, failed_every: int = 0, retracted: bool = False) -> list[Outcome]:
    """``count`` towns with a Bluesky and a Mastodon post; every ``failed_every``-th Mastodon post failed."""
    outcomes = []
    for index in range(1, count + 1):
        town = Town(index, TownKind.COMMUNE, f"{index:05d}", f"Saint-Rémy-lès-Chevreuse {index}")
        for platform in Platform:
            failed = platform is Platform.MASTODON and failed_every and index % failed_every == 0
            posted = DeliveryState.RETRACTED if retracted else DeliveryState.PUBLISHED
            delivery = Delivery(
                id=index * 2 + (platform is Platform.MASTODON),
                announcement_id=7,
                town_id=index,
                account_id=index,
                platform=platform,
                text="…",
                idempotency_key=f"k{index}{platform.value}",
                state=DeliveryState.FAILED if failed else posted,
                remote_id=None if failed else f"post-{index}",
                remote_url=None if failed else _url(index, platform),
                error=REVOKED if failed else None,
            )
            outcomes.append(Outcome(town, delivery))
    return outcomes


def _url(index: int, platform: Platform) -> str:
    if platform is Platform.BLUESKY:
        return f"https://bsky.app/profile/ville-{index:05d}.bsky.social/post/3lbzzzzzzzz{index:02d}"
    return f"https://mastodon.example.org/@ville{index:05d}/11356789012345{index:04d}"


def _officers(count: int) -> dict[int, list[str]]:
    return {i: [f"@referent.{i:05d}:unisson.test", f"@adjoint.{i:05d}:unisson.test"] for i in range(1, count + 1)}


def _event_bytes(reply: Reply) -> int:
    """The size of the event carrying ``reply`` in an encrypted room (the larger case): its content is
    serialised, base64-encoded in the ciphertext, and wrapped in the event."""
    payload = json.dumps({"type": "m.room.message", "content": notice_content(reply), "room_id": "!r:unisson.test"})
    envelope = {"algorithm": "m.megolm.v1.aes-sha2", "sender_key": "x" * 43, "device_id": "ABCDEFGHIJ"}
    event = {"content": {**envelope, "ciphertext": base64.b64encode(payload.encode()).decode(), "session_id": "s" * 43}}
    return len(json.dumps({**event, "sender": "@unisson:unisson.test", "type": "m.room.encrypted"}).encode()) + 500


def test_failures_of_one_announcement_are_told_together_without_overtaking_its_other_reports() -> None:
    def report(number: int, kind: ReportKind, announcement: int = 1) -> Report:
        return Report(number, kind, 1, announcement, town_id=number, platform=Platform.MASTODON)

    reports = [
        report(1, ReportKind.PUBLISHING),
        report(2, ReportKind.DELIVERY_FAILED),
        report(3, ReportKind.PUBLISHING, announcement=2),
        report(4, ReportKind.DELIVERY_FAILED),
        report(5, ReportKind.DELIVERY_FAILED, announcement=2),
        report(6, ReportKind.PUBLISHED),
        report(7, ReportKind.DELIVERY_FAILED),
    ]
    assert [[r.id for r in group] for group in group_reports(reports)] == [[1], [2, 4], [3], [5], [6], [7]]


def test_the_status_line_groups_thousands_the_french_way() -> None:
    reply = progress_reply(_announcement(), Tally(3200, 800, 12), "fr", retraction=False, running=True)
    assert reply.plain == (
        f"⏳ Publication de l'annonce n°7 « Départ de X » : 812/{format_number(3200, 'fr')} — 800 en ligne, "
        f"12 en échec, {format_number(2388, 'fr')} en cours…"
    )
    done = progress_reply(_announcement(), Tally(3200, 3200, 0), "en", retraction=True, running=False)
    assert done.plain.startswith('🗑️ Retraction of announcement #7 "Départ de X" finished: 3,200/3,200')


def test_a_failure_mentions_the_towns_officers_with_the_reason_and_what_to_do() -> None:
    problem = Problem("Pantin", Platform.MASTODON, REVOKED, ["@referent:unisson.test"])
    [message] = problems_message(_announcement(AnnouncementState.LOCKED), [problem], Stage.PREFLIGHT, "fr", "!")
    assert message.mentions == ("@referent:unisson.test",)
    assert "Pantin · Mastodon — " + translate("publish.mastodon.token_invalid", "fr", **REVOKED.params) in message.plain
    assert "reliez de nouveau le compte, en message privé avec le bot (!compte)" in message.plain
    assert "prévue le mardi 20 janvier 2026 à 09:00 (heure de Paris)" in message.plain
    assert 'href="https://matrix.to/#/@referent:unisson.test"' in message.html


def test_a_recap_of_1600_towns_is_split_into_messages_matrix_accepts_and_links_every_post_once() -> None:
    towns = 1600
    outcomes = _outcomes(towns, failed_every=100)
    pages = publication_recap(_announcement(AnnouncementState.PARTIALLY_FAILED), outcomes, _officers(towns), "fr", "!")

    assert 1 < len(pages) < 40
    assert pages[0].plain.startswith(
        f"⚠️ Annonce n°7 « Départ de X » publiée en partie : {format_number(3184, 'fr')}/{format_number(3200, 'fr')}"
    )
    assert all(p.plain.startswith("Annonce n°7 « Départ de X » (suite)") for p in pages[1:])
    for page in pages:
        assert len(json.dumps(notice_content(page))) < MAX_CONTENT_BYTES + 1_000
        assert _event_bytes(page) < EVENT_LIMIT
    html = "".join(p.html for p in pages)
    for outcome in outcomes:
        if outcome.delivery.remote_url:
            assert html.count(f'href="{outcome.delivery.remote_url}"') == 1
    # The officers of the 16 towns whose Mastodon post failed are mentioned, and only they.
    mentioned = {m for p in pages for m in p.mentions}
    assert mentioned == {o for i in range(100, towns + 1, 100) for o in _officers(towns)[i]}
    assert "Saint-Rémy-lès-Chevreuse 100 · Mastodon — " in pages[-1].plain


def test_a_retraction_recap_lists_the_posts_still_online() -> None:
    outcomes = _outcomes(3, retracted=True)
    still = outcomes[1]  # town 1's Mastodon post could not be deleted
    outcomes[1] = Outcome(still.town, _with_state(still.delivery, DeliveryState.FAILED))
    [page] = retraction_recap(_announcement(AnnouncementState.RETRACTED), outcomes, _officers(3), "fr", "!")
    assert page.plain.startswith("⚠️ Annonce n°7 « Départ de X » retirée en partie : 5/6 publication(s) supprimée(s)")
    assert f'<a href="{_url(1, Platform.MASTODON)}">la publication</a>' in page.html
    assert "supprimez-la à la main" in page.plain and "@referent.00001:unisson.test" in page.mentions


def test_retract_and_remove_image_are_two_commands() -> None:
    registry = default_registry()
    retract, remove_image = registry.find("retirer"), registry.find("retirer-image")
    assert retract is not None and remove_image is not None and retract is not remove_image
    assert registry.find("retract") is retract and registry.find("publish") is registry.find("publier")
    assert "publication.confirm" in retract.parse("3 confirmer")
    assert "publication.confirm" not in retract.parse("3")
    assert retract.usage("en", "!") == "!retract <number> [confirmer|confirm]"


def _with_state(delivery: Delivery, state: DeliveryState) -> Delivery:
    return Delivery(
        delivery.id,
        delivery.announcement_id,
        delivery.town_id,
        delivery.account_id,
        delivery.platform,
        delivery.text,
        delivery.idempotency_key,
        state,
        remote_id=delivery.remote_id,
        remote_url=delivery.remote_url,
        error=Failure("publish.unexpected", {"detail": "HTTP 500"}, permanent=False),
    )


def test_the_overdue_question_says_the_pre_staged_posts_are_already_out() -> None:
    """After a long outage, the Mastodon posts handed to their servers ahead went out on time: the question says
    so, and what each answer does to them; with none pre-staged, nothing is said of them."""
    late = _announcement(AnnouncementState.OVERDUE)
    progress = Progress(total=4, published=0, failed=0, waiting=4)
    body = notice_content(overdue_question(late, progress, ["@coord:unisson.test"], "fr", "!", prestaged=2))["body"]
    assert (
        "Ses 2 publication(s) Mastodon préparées à l'avance sont déjà parties à l'heure, publiées par leurs "
        "serveurs : !publier 7 les enregistre sans les republier ; !annuler 7 les supprime." in body
    )
    english = notice_content(overdue_question(late, progress, [], "en", "!", prestaged=1))["body"]
    assert "Its 1 Mastodon post(s) prepared ahead already went out on time" in english
    assert "!cancel 7 deletes them" in english
    plain = notice_content(overdue_question(late, progress, [], "fr", "!"))["body"]
    assert "préparées à l'avance" not in plain


def test_a_pre_staged_post_whose_confirmation_failed_is_not_said_to_be_missing() -> None:
    """Its server may have published it: the officers are told to look before posting it by hand."""
    staged = Failure(REVOKED.key, {**REVOKED.params, "staged": "yes"}, reconnect=True)
    problem = Problem("Pantin", Platform.MASTODON, staged, ["@pantin:unisson.test"])
    [page] = problems_message(_announcement(), [problem], Stage.PUBLISH, "fr", "!")
    body = notice_content(page)["body"]
    assert "qui l'a peut-être publié à l'heure : regardez le profil de la ville avant de le publier à la main" in body
    assert "rien n'est parti" not in body
