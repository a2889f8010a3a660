"""A town's text on every platform it posts to, and the problems a coordinator must fix before it can go out."""

from __future__ import annotations

import pytest

from hub.domain.model import Account, Platform, Town, TownKind, Wording
from hub.errors import InvalidInput, Problem, ProblemList, TextDoesNotFit
from hub.text.fit import Limits
from hub.text.renderings import account_limits, raise_problems, renderings, targets, too_long

PANTIN = Town(id=1, kind=TownKind.COMMUNE, code="93055", name="Pantin", profile={"website": "https://pantin.fr"})
BOBIGNY = Town(id=2, kind=TownKind.COMMUNE, code="93008", name="Bobigny")


def account(platform: Platform, limits: dict[str, int] | None = None, account_id: int = 1) -> Account:
    server = "https://bsky.social" if platform is Platform.BLUESKY else "https://mastodon.example"
    return Account(account_id, PANTIN.id, platform, "pantin", server, limits=limits or {})


def test_a_town_without_accounts_is_checked_against_every_platform_with_default_limits() -> None:
    assert targets([]) == [(Platform.BLUESKY, Limits()), (Platform.MASTODON, Limits())]


def test_a_town_posts_only_where_it_has_linked_an_account() -> None:
    assert targets([account(Platform.MASTODON)]) == [(Platform.MASTODON, Limits())]


def test_a_mastodon_account_brings_its_servers_limits() -> None:
    linked = account(Platform.MASTODON, {"max_characters": 1000, "characters_reserved_per_url": 30})
    assert account_limits(linked) == Limits(mastodon_chars=1000, mastodon_url_length=30)


def test_bluesky_and_unknown_accounts_have_the_default_limits() -> None:
    assert account_limits(account(Platform.BLUESKY, {"max_characters": 1000})) == Limits()
    assert account_limits(None) == Limits()


def test_the_wording_is_rendered_per_platform_with_its_variant() -> None:
    wording = Wording("{ville} : voir {site}", variants={Platform.BLUESKY: "{ville} court"})
    linked = [account(Platform.BLUESKY), account(Platform.MASTODON, account_id=2)]
    texts, problems = renderings(PANTIN, None, wording, linked)
    assert texts == [
        (Platform.BLUESKY, Limits(), "Pantin court"),
        (Platform.MASTODON, Limits(), "Pantin : voir https://pantin.fr"),
    ]
    assert problems == []


def test_the_towns_own_text_replaces_the_wording() -> None:
    texts, _ = renderings(PANTIN, "Pantin signe : {site}", Wording("autre chose"), [account(Platform.MASTODON)])
    assert texts == [(Platform.MASTODON, Limits(), "Pantin signe : https://pantin.fr")]


def test_a_missing_field_is_reported_once_however_many_platforms_use_it() -> None:
    texts, problems = renderings(BOBIGNY, None, Wording("Voir {site}"), [])
    assert texts == []
    [problem] = problems
    assert isinstance(problem, InvalidInput)
    assert problem.message_key == "text.template.missing.site"
    assert problem.params["town"] == "Bobigny"


def test_only_the_texts_over_their_limit_are_reported() -> None:
    short, long = (Platform.BLUESKY, Limits(), "court"), (Platform.MASTODON, Limits(mastodon_chars=10), "x" * 11)
    [problem] = too_long(PANTIN, [short, long])
    assert isinstance(problem, Problem)
    assert problem.message_key == "text.fit.over.characters"
    assert (problem.params["town"], problem.params["excess"]) == ("Pantin", 1)


def test_missing_fields_are_raised_before_texts_that_are_too_long() -> None:
    missing, over = [InvalidInput("text.template.missing.site")], [Problem("text.fit.over.graphemes")]
    with pytest.raises(ProblemList) as raised:
        raise_problems(missing, over)
    assert not isinstance(raised.value, TextDoesNotFit)
    assert raised.value.message_key == "error.template.heading"
    assert raised.value.problems == missing


def test_texts_too_long_are_raised_together() -> None:
    over = [Problem("text.fit.over.graphemes"), Problem("text.fit.over.characters")]
    with pytest.raises(TextDoesNotFit) as raised:
        raise_problems([], over)
    assert raised.value.problems == over


def test_no_problem_raises_nothing() -> None:
    raise_problems([], [])
