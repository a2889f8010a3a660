"""The sync position moves past a sync only once its events are handled; history before the bot's join is not its."""

from __future__ import annotations

import asyncio
from pathlib import Path

from nio import Event, RoomMemberEvent, RoomMessageText

from bot.sync import SyncPosition, since_joined

BOT = "@unisson:unisson.test"


def member(user: str, membership: str, before: str | None) -> RoomMemberEvent:
    source = {
        "type": "m.room.member",
        "event_id": f"$join-{user}-{membership}",
        "sender": user,
        "state_key": user,
        "origin_server_ts": 1,
        "content": {"membership": membership},
        "unsigned": {"prev_content": {"membership": before}} if before else {},
    }
    event = Event.parse_event(source)
    assert isinstance(event, RoomMemberEvent)
    return event


def text(number: int) -> RoomMessageText:
    source = {
        "type": "m.room.message",
        "event_id": f"$text-{number}",
        "sender": "@alice:unisson.test",
        "origin_server_ts": 1,
        "content": {"msgtype": "m.text", "body": f"!ping {number}"},
    }
    event = Event.parse_event(source)
    assert isinstance(event, RoomMessageText)
    return event


def test_what_was_said_before_the_bot_joined_is_left_out() -> None:
    events = [text(1), member(BOT, "invite", None), text(2), member(BOT, "join", "invite"), text(3)]
    assert [e.event_id for e in since_joined(events, BOT)] == ["$text-3"]


def test_without_a_join_every_event_counts() -> None:
    events = [text(1), member("@bob:unisson.test", "join", "invite"), text(2)]
    assert since_joined(events, BOT) == events


async def test_the_position_waits_for_the_slowest_event_of_every_earlier_sync(tmp_path: Path) -> None:
    position = SyncPosition(tmp_path)
    assert await position.load() is None
    slow: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    quick: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    quick.set_result(None)
    position.reached("s1", [slow])
    position.reached("s2", [quick])
    await position.save()
    assert await SyncPosition(tmp_path).load() is None  # s2's events are done, but s1's are not
    slow.set_result(None)
    await position.save()
    assert await SyncPosition(tmp_path).load() == "s2"
