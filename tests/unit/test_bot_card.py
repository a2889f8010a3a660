"""The card's edit content and the sign-on reaction keys, without a homeserver."""

from __future__ import annotations

import pytest

from bot.card import edit_content
from bot.reactions import DECLINED, SIGNED, decision_of
from bot.render import Rich


@pytest.mark.parametrize(
    ("key", "decision"),
    [("✅", SIGNED), ("✔️", SIGNED), ("❌", DECLINED), ("👍", None), ("✅✅", None)],
)
def test_only_sign_on_keys_are_decisions(key: str, decision: str | None) -> None:
    assert decision_of(key) == decision


def test_an_edit_replaces_the_card_and_notifies_nobody_again() -> None:
    reply = Rich().strong("📣 Annonce n°3").line().mention("@a:x", "A").build()
    content = edit_content(reply, "$card")
    assert content["m.relates_to"] == {"rel_type": "m.replace", "event_id": "$card"}
    assert content["body"] == "* " + reply.plain
    assert content["m.new_content"]["body"] == reply.plain
    assert content["m.new_content"]["formatted_body"] == reply.html
    assert content["m.new_content"]["msgtype"] == content["msgtype"] == "m.notice"
    assert content["m.mentions"] == content["m.new_content"]["m.mentions"] == {}
