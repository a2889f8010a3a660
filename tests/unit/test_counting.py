"""Counting as Bluesky and Mastodon count."""

from __future__ import annotations

import pytest

from hub.text.counting import BlueskyCount, bluesky_count, grapheme_length, mastodon_count

COMBINING_E = "e\u0301"  # "é" written as e + combining acute accent
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # man ZWJ woman ZWJ girl ZWJ boy
FLAG = "\U0001f1eb\U0001f1f7"  # regional indicators F + R


def test_combining_accents_count_as_one_grapheme_each() -> None:
    text = COMBINING_E * 300
    assert len(text) == 600
    assert bluesky_count(text) == BlueskyCount(graphemes=300, bytes=900)


def test_zwj_family_and_flag_are_one_grapheme() -> None:
    assert grapheme_length(FAMILY) == 1
    assert grapheme_length(FLAG) == 1
    assert bluesky_count(FAMILY).bytes == 25


def test_bytes_reach_3000_before_graphemes_reach_300() -> None:
    count = bluesky_count(FAMILY * 120)
    assert count.graphemes == 120
    assert count.bytes == 3000


def test_plain_text_counts_code_points_on_both() -> None:
    text = "Fête de la musique à Saint-Rémy-lès-Chevreuse !"
    assert bluesky_count(text).graphemes == len(text)
    assert mastodon_count(text) == len(text)


def test_mastodon_counts_graphemes_not_code_points() -> None:
    assert mastodon_count(COMBINING_E * 10 + FAMILY) == 11


def test_mastodon_long_url_counts_23() -> None:
    url = "https://www.saint-remy-les-chevreuse.fr/agenda/2026/fete-de-la-musique?utm_source=unisson"
    assert len(url) > 23
    assert mastodon_count(f"Programme : {url}") == len("Programme : ") + 23


def test_mastodon_short_url_also_counts_23() -> None:
    assert mastodon_count("http://a.fr") == 23


def test_mastodon_url_length_follows_the_server() -> None:
    assert mastodon_count("voir https://pantin.fr/agenda", url_length=30) == len("voir ") + 30


def test_mastodon_bare_domain_is_not_shortened() -> None:
    assert mastodon_count("pantin.fr/agenda-des-evenements-de-la-ville") == 43


def test_mastodon_sentence_punctuation_is_not_part_of_the_link() -> None:
    assert mastodon_count("Voir https://pantin.fr/agenda.") == len("Voir ") + 23 + 1
    assert mastodon_count("(https://pantin.fr/agenda)") == 1 + 23 + 1


def test_mastodon_keeps_balanced_parentheses_inside_a_link() -> None:
    assert mastodon_count("https://fr.wikipedia.org/wiki/Pantin_(Seine-Saint-Denis) !") == 23 + 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Merci @mairie@mastodon.pantin.fr !", len("Merci @mairie !")),
        ("@Ville_de_Pantin@piaille.fr", len("@Ville_de_Pantin")),
        ("Suivez @mairie", len("Suivez @mairie")),
        ("Écrivez à contact@pantin.fr", len("Écrivez à contact@pantin.fr")),
    ],
)
def test_mastodon_mentions_count_without_their_domain(text: str, expected: int) -> None:
    assert mastodon_count(text) == expected


def test_mastodon_counts_url_and_mention_together() -> None:
    text = "Avec @mairie@mastodon.pantin.fr : https://pantin.fr/une-tres-longue-page-de-programme-2026"
    assert mastodon_count(text) == len("Avec @mairie : ") + 23


def test_scheme_glued_to_a_word_is_not_a_link() -> None:
    text = "xhttps://pantin.fr/agenda-complet-de-la-ville"
    assert mastodon_count(text) == len(text)
