"""Command declarations: parsing, usage and help generated from them, language choice, rendering."""

from __future__ import annotations

import types

import pytest

from bot.client import split_command, strip_reply_fallback
from bot.commands.families import default_registry
from bot.context import Request, audience_of, choose_language
from bot.registry import Argument, Arguments, Audience, Registry, UsageError, command
from bot.render import Reply, Rich, notice_content
from hub.domain.model import Coalition
from hub.domain.permissions import Actor


async def _noop(request: Request, args: Arguments) -> Reply:
    return Reply.text("ok")


def _family() -> types.ModuleType:
    """A command family as a module would declare it, with one command per audience."""
    module = types.ModuleType("family")
    module.aide = command("aide", english="help", arguments=(Argument("command", optional=True),))(_noop)  # type: ignore[attr-defined]
    module.signer = command(  # type: ignore[attr-defined]
        "signer", english="sign", arguments=(Argument("number", number=True),), audience=Audience.OFFICER
    )(_noop)
    module.proposer = command(  # type: ignore[attr-defined]
        "proposer", english="propose", arguments=(Argument("text", rest=True),), audience=Audience.COORDINATOR
    )(_noop)
    module.coalition = command("coalition", audience=Audience.ADMIN)(_noop)  # type: ignore[attr-defined]
    return module


def test_commands_are_found_by_any_name_whatever_the_case() -> None:
    registry = Registry.from_modules(_family())
    assert registry.find("SIGNER") is registry.find("sign") is not None
    assert registry.find("unknown") is None
    assert registry.suggest("singer") is registry.find("signer")


def test_two_commands_cannot_share_a_name() -> None:
    first = command("aide", english="help")(_noop)
    second = command("help")(_noop)
    with pytest.raises(ValueError, match="help"):
        Registry([first, second])


def test_arguments_are_parsed_by_declaration() -> None:
    registry = Registry.from_modules(_family())
    sign, propose = registry.find("signer"), registry.find("proposer")
    assert sign is not None and propose is not None
    assert sign.parse(" 12 ").number("number") == 12
    assert (
        propose.parse("Départ de X :  suivez-nous\nsur {site}").text("text") == "Départ de X :  suivez-nous\nsur {site}"
    )
    for wrong in ("", "douze", "12 13"):
        with pytest.raises(UsageError):
            sign.parse(wrong)


def test_words_are_read_from_the_command_line_and_the_lines_below_go_to_the_rest() -> None:
    number, town = Argument("number", number=True), Argument("town", optional=True, rest=True)
    sign = command("signer", arguments=(number, town))(_noop)
    alone = sign.parse("3\n{ville} s'en va\nÀ bientôt")
    assert alone.number("number") == 3
    assert alone.lines("town") == ("", "{ville} s'en va\nÀ bientôt")
    assert alone.text("town") == "{ville} s'en va\nÀ bientôt"
    named = sign.parse("3  Le Pré-Saint-Gervais \n{ville} s'en va")
    assert named.lines("town") == ("Le Pré-Saint-Gervais", "{ville} s'en va")
    assert named.text("town") == "Le Pré-Saint-Gervais\n{ville} s'en va"
    assert sign.parse("3 Pantin").lines("town") == ("Pantin", "")
    bare = sign.parse("3 \n  ")
    assert "town" not in bare and bare.lines("town") == ("", "")
    # A word on a line below is no positional argument: it is missing, or it is one too many.
    two = command("alt", arguments=(number, Argument("position", number=True)))(_noop)
    for wrong in ("3\n1", "3 1\n2"):
        with pytest.raises(UsageError):
            two.parse(wrong)
    assert two.parse("3 1").number("position") == 1


def test_choices_are_matched_without_case_and_anything_else_is_a_usage_error() -> None:
    language = command("langue", arguments=(Argument("language", choices=("fr", "en")),))(_noop)
    assert language.parse("EN").text("language") == "en"
    with pytest.raises(UsageError):
        language.parse("de")


def test_usage_is_generated_in_each_language() -> None:
    registry = default_registry()
    helper, language = registry.find("aide"), registry.find("langue")
    assert helper is not None and language is not None
    assert helper.usage("fr", "!") == "!aide [commande]"
    assert helper.usage("en", "!") == "!help [command]"
    assert language.usage("fr", "!") == "!langue [fr|en]"
    assert registry.usage_reply(language, "en", "!").plain.startswith("Usage: !language [fr|en]\n")


@pytest.mark.parametrize(
    ("audience", "shown"),
    [
        (Audience.ANYONE, ["!aide"]),
        (Audience.OFFICER, ["!aide", "!signer"]),
        (Audience.COORDINATOR, ["!aide", "!signer", "!proposer"]),
        (Audience.ADMIN, ["!aide", "!signer", "!proposer", "!coalition"]),
    ],
)
def test_help_lists_the_commands_of_the_audience(audience: Audience, shown: list[str]) -> None:
    text = Registry.from_modules(_family()).overview("fr", audience, "!").plain
    listed = [line.split()[1] for line in text.splitlines() if line.startswith("• ")]
    assert listed == shown


def test_details_name_the_other_names() -> None:
    registry = default_registry()
    helper = registry.find("aide")
    assert helper is not None
    details = registry.details(helper, "fr", "!").plain
    assert details.startswith("!aide [commande]\n")
    assert "!help" in details and "!?" in details


def test_language_choice_follows_the_user_then_the_name_typed_then_the_room() -> None:
    registry = default_registry()
    helper, ping = registry.find("aide"), registry.find("ping")
    assert choose_language(chosen="fr", invoked="help", command=helper, room="en", default="fr") == "fr"
    assert choose_language(chosen=None, invoked="help", command=helper, room="fr", default="fr") == "en"
    assert choose_language(chosen=None, invoked="aide", command=helper, room="en", default="fr") == "fr"
    assert choose_language(chosen=None, invoked="ping", command=ping, room="en", default="fr") == "en"
    assert choose_language(chosen=None, invoked="xyz", command=None, room=None, default="fr") == "fr"


def test_audience_comes_from_the_actor_in_this_room() -> None:
    room = Coalition(id=7, name="Est", room_id="!est:unisson.test", language="fr")
    assert audience_of(Actor("@a:x", True, frozenset(), frozenset()), None) is Audience.ADMIN
    assert audience_of(Actor("@c:x", False, frozenset({7}), frozenset()), room) is Audience.COORDINATOR
    assert audience_of(Actor("@c:x", False, frozenset({8}), frozenset({3})), room) is Audience.OFFICER
    assert audience_of(Actor("@u:x", False, frozenset(), frozenset()), room) is Audience.ANYONE


def test_rendering_escapes_text_and_pills_mentions() -> None:
    reply = Rich().text("<b>Pantin</b> & ").mention("@alice:unisson.test", "Alice").line().code("!aide").build()
    assert reply.plain == "<b>Pantin</b> & Alice\n!aide"
    assert reply.html == (
        '&lt;b&gt;Pantin&lt;/b&gt; &amp; <a href="https://matrix.to/#/@alice:unisson.test">Alice</a>'
        "<br><code>!aide</code>"
    )
    assert reply.mentions == ("@alice:unisson.test",)


def test_notice_content_is_a_reply_with_html_and_mentions() -> None:
    content = notice_content(Reply.text("Pong"), in_reply_to="$event", also_mention="@bob:unisson.test")
    assert content == {
        "msgtype": "m.notice",
        "body": "Pong",
        "format": "org.matrix.custom.html",
        "formatted_body": "Pong",
        "m.mentions": {"user_ids": ["@bob:unisson.test"]},
        "m.relates_to": {"m.in_reply_to": {"event_id": "$event"}},
    }


def test_command_words_are_split_from_the_body() -> None:
    assert split_command("!aide   langue", "!") == ("aide", "langue")
    assert split_command("!proposer Titre\nTexte", "!") == ("proposer", "Titre\nTexte")
    assert split_command("!", "!") == ("", "")
    assert strip_reply_fallback("> <@a:x> bonjour\n> suite\n\n!ping") == "!ping"
    assert strip_reply_fallback("!ping") == "!ping"
