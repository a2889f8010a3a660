"""Each person's own choices, kept by the hub: the language the bot answers them in."""

from __future__ import annotations

import pytest

from hub.core import Hub
from hub.errors import InvalidInput

MARIE = "@marie:exemple.fr"


async def test_a_language_is_stored_checked_and_audited_once_per_change(hub: Hub) -> None:
    assert await hub.preferences.language(MARIE) is None

    assert await hub.preferences.set_language(MARIE, " EN ") == "en"
    assert await hub.preferences.set_language(MARIE, "en") == "en"
    assert await hub.preferences.set_language(MARIE, "fr") == "fr"
    with pytest.raises(InvalidInput) as unknown:
        await hub.preferences.set_language(MARIE, "de")

    assert unknown.value.message("fr") == "Langue « de » non prise en charge ; langues possibles : fr, en."
    assert await hub.preferences.language(MARIE) == "fr"
    assert await hub.preferences.language("@paul:exemple.fr") is None
    changes = [(e.actor, e.action, e.details) for e in await hub.audit.entries() if e.action == "user.language"]
    assert changes == [(MARIE, "user.language", {"language": "en"}), (MARIE, "user.language", {"language": "fr"})]
