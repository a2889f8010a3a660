"""Pre-staging Mastodon posts: the planning rules (lead, limits, choice) and the card's line."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.card import render_card
from bot.commands.announcements.drafting import _options
from hub.domain import prestage
from hub.domain.model import (
    Announcement,
    AnnouncementState,
    Coalition,
    SignOn,
    SignOnState,
    Town,
    TownKind,
    Version,
    Wording,
)
from hub.services.announcements import Board

INSTANT = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
LEAD = timedelta(minutes=7)


@pytest.mark.parametrize(
    ("choice", "default", "wanted"),
    [(None, False, False), (None, True, True), (True, False, True), (False, True, False)],
)
def test_an_announcements_own_choice_wins_over_the_deployments(
    choice: bool | None, default: bool, wanted: bool
) -> None:
    assert prestage.wanted(choice, default) is wanted


def test_a_post_is_staged_only_the_lead_or_more_ahead() -> None:
    assert prestage.in_time(INSTANT, INSTANT - LEAD, LEAD)
    assert not prestage.in_time(INSTANT, INSTANT - LEAD + timedelta(seconds=1), LEAD)
    assert not prestage.in_time(INSTANT, INSTANT + timedelta(minutes=1), LEAD)  # the instant has passed


def test_the_daily_limit_counts_the_instants_utc_day_only() -> None:
    same_day = [INSTANT.replace(hour=h) for h in range(24)]  # 24 that day: room for one more
    assert not prestage.over_limit(same_day, INSTANT)
    assert prestage.over_limit([*same_day, INSTANT], INSTANT)
    other_days = [INSTANT + timedelta(days=d) for d in range(1, 40)] * 5  # 195, none that day
    assert not prestage.over_limit(other_days, INSTANT)


def test_a_day_is_a_utc_day_whatever_the_zone_of_the_instant() -> None:
    paris = datetime.fromisoformat("2026-03-15T00:30:00+01:00")  # still the 14th in UTC
    assert prestage.over_limit([INSTANT] * prestage.DAILY_LIMIT, paris)


def test_three_hundred_pending_in_all_is_the_end_whatever_their_days() -> None:
    spread = [INSTANT + timedelta(days=d) for d in range(1, 301)]
    assert prestage.over_limit(spread, INSTANT)
    assert not prestage.over_limit(spread[:-1], INSTANT)


def test_what_a_schedule_says() -> None:
    sending = prestage.sending(INSTANT, 2)
    staged = prestage.staged(INSTANT, "1097", 2)
    early = prestage.declined(prestage.PUBLISHED_EARLY, url="https://x/1", deleted="yes")
    assert prestage.on_server(sending) and prestage.on_server(staged)
    assert not prestage.on_server(early) and not prestage.on_server(None)
    assert prestage.published_early(early) and not prestage.published_early(staged)
    assert prestage.instant_of(staged) == INSTANT and prestage.instant_of(early) is None


@pytest.mark.parametrize(
    ("choice", "line"),
    [
        (True, "⏱️ Messages Mastodon confiés à l'avance aux serveurs"),
        (False, "Messages Mastodon publiés par le hub à l'heure"),
        (None, None),
    ],
)
def test_the_card_shows_an_announcements_own_choice(choice: bool | None, line: str | None) -> None:
    start = INSTANT - timedelta(days=3)
    version = Version(1, 3, 1, Wording("{ville} quitte X"), "hash", "@coordination:unisson.test", start)
    announcement = Announcement(
        3, 1, "Départ de X", AnnouncementState.OPEN, "fr", False, "@coordination:unisson.test", start, version
    )
    announcement = replace(announcement, publish_at=INSTANT, prestage=choice)
    signed = [SignOn(Town(1, TownKind.COMMUNE, "93055", "Pantin"), SignOnState.SIGNED, 1, "@a:x", start)]
    board = Board(announcement, Coalition(1, "Coalition", "!room:unisson.test"), signed, {})
    plain = render_card(board, "fr", "!").plain
    if line is None:
        assert "Mastodon" not in plain
    else:
        assert line in plain


@pytest.mark.parametrize(
    ("line", "option"),
    [
        ("--preparer Départ de X", "prestage"),
        ("--Préparer --brouillon Départ de X", "prestage"),
        ("--sans-preparation Départ de X", "no-prestage"),
        ("--no-prestage Départ de X", "no-prestage"),
    ],
)
def test_pre_staging_is_chosen_when_proposing(line: str, option: str) -> None:
    options, title = _options(line)
    assert option in options and title == "Départ de X"
