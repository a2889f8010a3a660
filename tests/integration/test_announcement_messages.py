"""Front ends find their messages about an announcement again, after a restart too."""

from __future__ import annotations

from pathlib import Path

from hub.core import Hub
from hub.domain.model import AnnouncementMessage
from tests.integration.helpers import PANTIN, build_coalition, propose


async def test_messages_are_found_by_id_and_by_announcement(hub: Hub, tmp_path: Path) -> None:
    setup = await build_coalition(hub, tmp_path)
    announcement = await propose(hub, setup)
    card = AnnouncementMessage(announcement.id, "!room", "$card", "card")
    reaction = AnnouncementMessage(announcement.id, "!room", "$reaction", "signed", "@o:x", setup.town(PANTIN).id)
    assert await hub.announcements.remember_message(card)
    assert not await hub.announcements.remember_message(card)  # a replay notes nothing twice
    assert await hub.announcements.remember_message(reaction)

    assert await hub.announcements.find_message("$reaction") == [reaction]
    assert await hub.announcements.messages(announcement.id, "card") == [card]
    assert len(await hub.announcements.messages(announcement.id)) == 2
    assert await hub.announcements.forget_message("$reaction", "signed")
    assert await hub.announcements.find_message("$reaction") == []
