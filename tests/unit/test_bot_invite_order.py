"""The answer to ``!villes inviter`` comes before the run it announces says anything, even when every invitation
fails at once: the run starts once that answer is queued (:attr:`Reply.queued`), or after
:data:`~bot.imports.ANNOUNCE_WAIT` if no sender ever says so.

The homeserver refuses every invitation at once; the messenger records what is queued, in order, as the bot's one
send queue would send it."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from bot import imports
from bot.context import Messenger, Preferences
from bot.imports import TownImports
from bot.invitations import Pace, Refusal
from bot.render import Reply
from hub.core import Hub
from hub.domain.model import Coalition

ROOM = "!coalition:unisson.test"
OFFICERS = [f"@agent{i}:unisson.test" for i in range(3)]
COALITION = Coalition(7, "Petites Villes", ROOM)


class RefusingHomeserver:
    """A room with nobody in it, where every invitation is refused at once."""

    async def memberships(self, room_id: str) -> dict[str, str]:
        return {}

    async def invite(self, room_id: str, user_id: str) -> Refusal | None:
        return Refusal("M_FORBIDDEN", "You are not allowed to invite")


class Recorder:
    """The messenger: what would go into the send queue, in order."""

    def __init__(self) -> None:
        self.queued: list[str] = []

    async def send(self, room_id: str, reply: Reply, **_: Any) -> str:
        self.queued.append(reply.plain)
        return f"$sent{len(self.queued)}"

    async def edit(self, room_id: str, event_id: str, reply: Reply) -> str:
        self.queued.append(reply.plain)
        return f"$edit{len(self.queued)}"


class Towns:
    async def coalition_officers(self, actor_id: str, coalition_id: int) -> list[str]:
        return list(OFFICERS)


class FakeHub:
    towns = Towns()


def town_imports(recorder: Recorder) -> TownImports:
    hub = cast(Hub, FakeHub())
    return TownImports(
        hub,
        cast(Messenger, recorder),
        RefusingHomeserver(),
        cast(Preferences, object()),
        "!",
        Pace(interval=0.0, progress_every=0.0),
    )


async def finished(imports_: TownImports) -> None:
    async with asyncio.timeout(5):
        await asyncio.gather(*imports_._runs.values())


async def test_the_run_says_nothing_before_its_announcement_is_queued() -> None:
    recorder = Recorder()
    towns = town_imports(recorder)
    reply = await towns.invite("@coordinatrice:unisson.test", COALITION, ROOM, "$command", "fr")
    assert "3" in reply.plain and reply.queued is not None
    await asyncio.sleep(0.3)  # long enough for three refused invitations and their report
    assert recorder.queued == [], "the run spoke before the answer announcing it was queued"
    recorder.queued.append(reply.plain)  # as Inbound does: the answer queued, then reply.queued()
    reply.queued()
    await finished(towns)
    assert recorder.queued[0] == reply.plain
    assert len(recorder.queued) >= 2, "the run reported nothing after its announcement"
    assert any("M_FORBIDDEN" in text or "3" in text for text in recorder.queued[1:])


async def test_a_run_whose_announcement_is_never_queued_starts_anyway(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imports, "ANNOUNCE_WAIT", 0.2)
    recorder = Recorder()
    towns = town_imports(recorder)
    reply = await towns.invite("@coordinatrice:unisson.test", COALITION, ROOM, "$command", "fr")
    await finished(towns)
    assert recorder.queued, "the run never started"
    assert reply.plain not in recorder.queued
