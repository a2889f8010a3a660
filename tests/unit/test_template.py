"""Templates: which placeholders are allowed, and rendering them for one town."""

from __future__ import annotations

import pytest

from hub.domain.model import Town, TownKind
from hub.errors import InvalidInput
from hub.text.template import check_template, mastodon_mention, render

PANTIN = Town(
    id=1,
    kind=TownKind.COMMUNE,
    code="93055",
    name="Pantin",
    profile={
        "website": "https://www.ville-pantin.fr",
        "newsletter": "https://www.ville-pantin.fr/lettre",
        "bluesky": "ville-pantin.bsky.social",
        "mastodon": "mairie@mastodon.pantin.fr",
    },
)
BARE = Town(id=2, kind=TownKind.OTHER, code=None, name="Pantin", profile={"website": "  "})


def test_check_returns_canonical_names_for_french_and_english_placeholders() -> None:
    assert check_template("{ville} {town} {site} {website} {newsletter} {code}") == {
        "ville",
        "site",
        "newsletter",
        "code",
    }
    assert check_template("{bluesky} {mastodon}") == {"bluesky", "mastodon"}


def test_check_accepts_text_without_placeholders_and_doubled_braces() -> None:
    assert check_template("Pas de champ {{ici}} ni là }}") == set()


def test_render_fills_every_placeholder() -> None:
    text = "{ville} ({code}) : {site} — lettre {newsletter} — {bluesky} — {mastodon}"
    assert render(text, PANTIN) == (
        "Pantin (93055) : https://www.ville-pantin.fr — lettre https://www.ville-pantin.fr/lettre"
        " — @ville-pantin.bsky.social — @mairie@mastodon.pantin.fr"
    )


def test_render_english_aliases_and_literal_braces() -> None:
    assert render("{{ {town} }} {website}", PANTIN) == "{ Pantin } https://www.ville-pantin.fr"


@pytest.mark.parametrize(
    ("stored", "mention"),
    [
        ("mairie@mastodon.pantin.fr", "@mairie@mastodon.pantin.fr"),
        ("@mairie@mastodon.pantin.fr", "@mairie@mastodon.pantin.fr"),
        ("https://mastodon.pantin.fr/@mairie", "@mairie@mastodon.pantin.fr"),
    ],
)
def test_mastodon_account_renders_as_a_full_mention(stored: str, mention: str) -> None:
    assert mastodon_mention(stored) == mention


def test_bluesky_handle_is_not_prefixed_twice() -> None:
    town = Town(id=3, kind=TownKind.COMMUNE, code="1", name="X", profile={"bluesky": "@x.bsky.social"})
    assert render("{bluesky}", town) == "@x.bsky.social"


def test_unknown_placeholder_is_named_with_the_allowed_ones() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_template("Bonjour {commune}")
    fr = caught.value.message("fr")
    assert "{commune}" in fr
    assert "{ville}, {site}, {newsletter}, {bluesky}, {mastodon}, {code}" in fr
    en = caught.value.message("en")
    assert "{town}, {website}, {newsletter}, {bluesky}, {mastodon}, {code}" in en


def test_misspelt_placeholder_gets_a_suggestion() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_template("{vile}")
    assert "vouliez-vous dire {ville} ?" in caught.value.message("fr")
    assert "did you mean {ville}?" in caught.value.message("en")


@pytest.mark.parametrize("text", ["{}", "{0}", "{ville.upper}", "{ville[0]}"])
def test_positional_and_attribute_fields_are_unknown(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_template(text)
    assert caught.value.message_key.startswith("text.template.unknown")


@pytest.mark.parametrize("text", ["{ville", "ville}", "{ville}}", "{{ville}"])
def test_malformed_braces_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_template(text)
    assert caught.value.message("fr").startswith("Accolade mal fermée")


@pytest.mark.parametrize(("text", "shown"), [("{ville!r}", "{ville!r}"), ("{ville:>10}", "{ville:>10}")])
def test_conversions_and_format_specs_are_refused(text: str, shown: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_template(text)
    assert caught.value.message("fr") == (f"La mise en forme {shown} n'est pas permise : écrivez simplement {{ville}}.")


def test_missing_website_names_the_town_and_the_placeholder() -> None:
    with pytest.raises(InvalidInput) as caught:
        render("Tout sur {site}", BARE)
    assert caught.value.message("fr") == (
        "Pantin n'a pas de site renseigné : ajoutez-le à sa fiche ou retirez {site} du texte."
    )
    assert caught.value.message("en") == (
        "Pantin has no website on record: add it to its profile or remove {site} from the text."
    )


def test_missing_value_names_the_alias_the_user_typed() -> None:
    with pytest.raises(InvalidInput) as caught:
        render("{website}", BARE)
    assert "retirez {website} du texte" in caught.value.message("fr")


@pytest.mark.parametrize(
    ("placeholder", "words"),
    [
        ("{code}", "pas de code officiel"),
        ("{newsletter}", "pas de lettre d'information"),
        ("{bluesky}", "pas de compte Bluesky"),
        ("{mastodon}", "pas de compte Mastodon"),
    ],
)
def test_each_missing_field_is_named(placeholder: str, words: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        render(placeholder, BARE)
    assert words in caught.value.message("fr")
    assert placeholder in caught.value.message("fr")
