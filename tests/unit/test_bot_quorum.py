"""What the room reads about a quorum: the card's line, the question after a missed deadline with its exact
commands, and ``--quorum`` read from the title line of ``!annonce``."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from pydantic import SecretStr

from bot.card import render_card
from bot.commands.announcements.drafting import _options
from bot.quorum import quorum_lines, quorum_question, reported_tally
from bot.reminders import Reminders
from bot.settings import BotSettings
from hub.core import Hub
from hub.domain.model import (
    Announcement,
    AnnouncementState,
    Coalition,
    Failure,
    Report,
    ReportKind,
    SignOn,
    SignOnState,
    Town,
    TownKind,
)
from hub.domain.quorum import Quorum, QuorumTally
from hub.errors import InvalidInput
from hub.services.announcements import Board

START = datetime(2026, 1, 5, 9, tzinfo=UTC)
COORDINATOR = "@coordination:unisson.test"


def _announcement(quorum: Quorum | None, deadline: datetime | None = START + timedelta(days=10)) -> Announcement:
    return Announcement(
        3, 1, "Départ de X", AnnouncementState.OPEN, "fr", False, COORDINATOR, START, None, deadline,
        START + timedelta(days=12), quorum=quorum,
    )  # fmt: skip


def _board(announcement: Announcement, signed: int, members: int) -> Board:
    towns = [Town(n, TownKind.COMMUNE, f"{n:05d}", f"Ville {n}") for n in range(1, members + 1)]
    signons = [SignOn(t, SignOnState.SIGNED if t.id <= signed else SignOnState.PENDING) for t in towns]
    return Board(announcement, Coalition(1, "Coalition", "!r:unisson.test"), signons, {})


def test_the_card_shows_the_count_against_the_quorum() -> None:
    counted = render_card(_board(_announcement(Quorum(towns=3)), 2, 4), "fr", "!").plain
    assert "Quorum : 2/3 signatures requises\n" in counted
    shared = render_card(_board(_announcement(Quorum(percent=50)), 2, 4), "en", "!").plain
    assert "Quorum: 2/2 signatures required (50% of the 4 towns) — reached ✅" in shared
    assert "Quorum" not in render_card(_board(_announcement(None), 2, 4), "fr", "!").plain


async def _never_sent(*args: Any, **kwargs: Any) -> str:
    raise AssertionError("the test only reads the reminder")


def test_a_reminder_says_how_far_the_quorum_is() -> None:
    settings = BotSettings(
        homeserver="http://localhost:8008", user_id="@unisson:test", access_token=SecretStr("jeton"), _env_file=None
    )
    reminders = Reminders(cast(Hub, None), _never_sent, settings)
    [page] = reminders.messages(_board(_announcement(Quorum(towns=3)), 2, 4), timedelta(hours=24))
    assert "\nQuorum : 2/3 signatures requises\n" in page.plain


def test_after_a_missed_deadline_the_card_says_nothing_goes_out_without_the_coordinators() -> None:
    missed = replace(_announcement(Quorum(towns=800)), quorum_missed_at=START + timedelta(days=10))
    assert quorum_lines(missed, QuorumTally(412, 800, 1600), "fr") == [
        "Quorum : 412/800 signatures requises",
        "⚠️ Quorum non atteint à la date limite : rien ne sera publié sans la décision des coordinateurs.",
    ]


def test_the_question_gives_the_count_and_the_three_choices_as_commands() -> None:
    announcement = _announcement(Quorum(towns=800))
    reply = quorum_question(announcement, QuorumTally(412, 800, 1600), [COORDINATOR], "fr", "!")
    assert reply.plain.startswith(
        "⚠️ Quorum non atteint pour l'annonce n°3 « Départ de X » à la date limite de signature, le jeudi 15 janvier "
        "2026 à 10:00 (heure de Paris) : 412/800 signatures requises, il en manque 388. Rien ne sera publié sans "
        "votre décision.\n@coordination:unisson.test — que faire ?\n"
    )
    for choice in (
        "!quorum 3 412 : abaisser le quorum aux 412 signatures obtenues, puis !verrouiller 3",
        "!programmer 3 <date de publication> limite <date limite> : repousser les dates",
        "!annuler 3 : l'annuler, rien ne partira.",
    ):
        assert choice in reply.plain
    assert f'href="https://matrix.to/#/{COORDINATOR}"' in reply.html


def test_with_nobody_signed_there_is_nothing_to_lower_to() -> None:
    announcement = _announcement(Quorum(percent=50), deadline=None)
    reply = quorum_question(announcement, QuorumTally(0, 2, 3), [], "en", "!")
    assert "at its publication time" in reply.plain and "has no coordinator" in reply.plain
    assert "!quorum" not in reply.plain
    assert "!schedule 3 <publication date> deadline <deadline>" in reply.plain


def test_the_question_tells_the_counts_at_the_deadline() -> None:
    params = {"signed": "412", "required": "800", "members": "1600"}
    report = Report(1, ReportKind.QUORUM_MISSED, 1, 3, problem=Failure("quorum.missed", params))
    assert reported_tally(report) == QuorumTally(412, 800, 1600)


@pytest.mark.parametrize(
    ("line", "quorum", "title"),
    [
        ("--quorum 800 Départ de X", "800", "Départ de X"),
        ("--quorum 50% Départ de X", "50%", "Départ de X"),
        ("--quorum 50 % Départ de X", "50%", "Départ de X"),
        ("--brouillon --quorum=1600 Départ", "1600", "Départ"),
    ],
)
def test_the_quorum_option_comes_before_the_title(line: str, quorum: str, title: str) -> None:
    options, rest = _options(line)
    assert (options["quorum"], rest) == (quorum, title)


def test_a_quorum_option_without_its_value_says_how_to_write_it() -> None:
    with pytest.raises(InvalidInput) as refused:
        _options("--quorum")
    assert refused.value.message("fr") == (
        "Indiquez le quorum après --quorum : un nombre de villes (--quorum 800) ou un pourcentage (--quorum 50%)."
    )
