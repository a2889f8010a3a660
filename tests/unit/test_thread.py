"""Follow-ups in thread as the room reads them: the proposal's option, the card, the recap; and their fit."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.card import render_card
from bot.commands.announcements.drafting import _options
from bot.publication_text import Problem, Stage, problem_item, publication_recap
from hub.domain.model import (
    AnnouncementState,
    DeliveryState,
    Failure,
    Platform,
    ThreadRules,
    Town,
    TownKind,
    Wording,
)
from hub.errors import InvalidInput
from hub.services.dispatch import Outcome
from hub.text.followup import followup_texts
from tests.unit.test_bot_publication import _announcement, _officers, _outcomes
from tests.unit.test_card import _board, _signons


@pytest.mark.parametrize(
    "line",
    [
        '--suite "Toutes les infos : {site}" Départ de X',
        "--suite=« Toutes les infos : {site} » Départ de X",
        "--brouillon  --SUITE “Toutes les infos : {site}”   Départ de X",
    ],
)
def test_the_followup_is_given_before_the_title_in_quotes(line: str) -> None:
    options, title = _options(line)
    assert options["followup"] == "Toutes les infos : {site}" and title == "Départ de X"


def test_a_followup_option_without_quotes_says_how_to_write_it() -> None:
    with pytest.raises(InvalidInput) as refused:
        _options("--suite Toutes les infos")
    assert '--suite "texte"' in refused.value.message("fr")


def test_the_card_shows_the_followup_its_variants_and_the_pin() -> None:
    followup = Wording("Toutes les infos : {site}", {Platform.MASTODON: "Infos : {site}"})
    plain = render_card(_board(_signons(3, "Ville", "Non")), "fr", "!", rules=ThreadRules(followup, pin=True)).plain
    assert "Suite en fil : Toutes les infos : {site}" in plain
    assert "📌" in plain
    assert "Suite en fil, variante Mastodon : Infos : {site}" in plain
    assert "Suite en fil" not in render_card(_board(_signons(3, "Ville", "Non")), "fr", "!").plain


def test_the_recap_links_each_post_and_its_followup() -> None:
    outcomes = []
    for outcome in _outcomes(2):
        delivery = outcome.delivery
        url = f"{delivery.remote_url}-suite"
        followup = replace(delivery, id=delivery.id + 100, remote_id="reply", remote_url=url, parent_id=delivery.id)
        if delivery.town_id == 2 and delivery.platform is Platform.MASTODON:
            followup = replace(followup, state=DeliveryState.FAILED, remote_id=None, remote_url=None)
        outcomes.append(Outcome(outcome.town, delivery, followup))
    [page] = publication_recap(_announcement(AnnouncementState.PUBLISHED), outcomes, _officers(2), "fr", "!")
    for outcome in outcomes:
        assert page.html.count(f'href="{outcome.delivery.remote_url}"') == 1
    assert page.html.count('">suite</a>') == 3
    assert "(suite en échec)" in page.plain


def test_a_followup_too_long_is_named_as_such() -> None:
    town = Town(1, TownKind.COMMUNE, "93055", "Pantin")
    texts, missing, over = followup_texts(town, Wording("x" * 301), [])
    assert set(texts) == set(Platform) and missing == []
    [problem] = over
    assert problem.message("fr") == "Suite en fil — Bluesky, Pantin : 301/300 graphèmes, raccourcir de 1"
    assert followup_texts(town, None, []) == ({}, [], [])


def test_a_failed_pin_tells_the_officers_the_post_went_out() -> None:
    [outcome, *_] = _outcomes(1)
    failure = Failure("publish.pin.scope", {"identifier": "@ville@mastodon.test", "part": "pin"}, reconnect=True)
    problem = Problem(outcome.town.name, Platform.MASTODON, failure, ["@referent:unisson.test"], None)
    plain = problem_item(problem, Stage.PUBLISH, _announcement(AnnouncementState.PUBLISHED), "fr", "!").build().plain
    assert "write:accounts" in plain and "Le message est publié, mais pas épinglé" in plain
    assert "rien n'est parti" not in plain
