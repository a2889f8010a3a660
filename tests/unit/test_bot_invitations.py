"""The paced inviter, through a real matrix-nio client talking to a small stand-in for a homeserver's two
endpoints (room state, invite), with a clock the test moves: one call per interval, ``retry_after_ms`` honoured,
progress reported at most every few seconds, people already in the room skipped."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from nio import AsyncClient, AsyncClientConfig

from bot.invitations import LIMIT_EXCEEDED, Inviter, NioHomeserver, Pace, Progress
from hub.errors import InvalidInput

ROOM = "!coalition:unisson.test"


@dataclass
class FakeTime:
    """A monotonic clock that only moves when the inviter sleeps."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Homeserver:
    """Answers ``GET …/rooms/{room}/state`` and ``POST …/rooms/{room}/invite`` as Synapse does."""

    time: FakeTime
    members: dict[str, str]
    #: How many times each user is refused with M_LIMIT_EXCEEDED before being invited (-1: always).
    limited: dict[str, int] = field(default_factory=dict)
    retry_after_ms: int = 2500
    url: str = ""
    calls: list[tuple[float, str, int]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        if request.method == "GET" and request.path.endswith("/state"):
            if ROOM not in request.path and "%21coalition" not in request.path:
                return _error(403, "M_FORBIDDEN", "You are not in this room.")
            events = [_member(user, membership, n) for n, (user, membership) in enumerate(self.members.items())]
            return web.json_response(events)
        user = str((await request.json())["user_id"])
        status = self._answer(user)
        self.calls.append((self.time.now, user, status))
        if status == 429:
            body = {"errcode": LIMIT_EXCEEDED, "error": "Too Many Requests", "retry_after_ms": self.retry_after_ms}
            return web.json_response(body, status=429)
        if status == 403:
            return _error(403, "M_FORBIDDEN", "Federation denied with nowhere.test.")
        self.members[user] = "invite"
        return web.json_response({})

    def _answer(self, user: str) -> int:
        if user.endswith(":nowhere.test"):
            return 403
        left = self.limited.get(user, 0)
        if left:
            self.limited[user] = left - 1
            return 429
        return 200


def _member(user: str, membership: str, number: int) -> dict[str, Any]:
    return {
        "type": "m.room.member",
        "state_key": user,
        "content": {"membership": membership},
        "event_id": f"$member{number}",
        "sender": user,
        "origin_server_ts": 1_700_000_000_000 + number,
    }


def _error(status: int, errcode: str, message: str) -> web.Response:
    return web.Response(status=status, text=json.dumps({"errcode": errcode, "error": message}))


@pytest.fixture
async def homeserver() -> AsyncIterator[Homeserver]:
    served = Homeserver(FakeTime(), {"@joined:unisson.test": "join", "@invited:unisson.test": "invite"})
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", served.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    served.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    yield served
    await runner.cleanup()


@pytest.fixture
async def client(homeserver: Homeserver) -> AsyncIterator[AsyncClient]:
    # max_limit_exceeded=0: nio hands the 429 back instead of sleeping on it itself, so the inviter's own
    # waiting is what the test sees.
    config = AsyncClientConfig(max_limit_exceeded=0, max_timeouts=0)
    nio_client = AsyncClient(homeserver.url, "@unisson:unisson.test", config=config)
    nio_client.access_token = "token"
    nio_client.user_id = "@unisson:unisson.test"
    yield nio_client
    await nio_client.close()


def _inviter(client: AsyncClient, time: FakeTime, **pace: Any) -> Inviter:
    return Inviter(NioHomeserver(client), Pace(**pace), clock=time.clock, sleep=time.sleep)


async def test_the_plan_skips_people_joined_or_invited_and_names_each_once(
    homeserver: Homeserver, client: AsyncClient
) -> None:
    homeserver.members["@left:unisson.test"] = "leave"
    inviter = _inviter(client, homeserver.time)
    people = ["@joined:unisson.test", "@new:unisson.test", "@invited:unisson.test", "@left:unisson.test"]
    plan = await inviter.plan(ROOM, [*people, "@new:unisson.test"])
    assert plan.invite == ("@new:unisson.test", "@left:unisson.test")
    assert plan.present == 2


async def test_a_room_the_bot_cannot_read_is_an_expected_error(client: AsyncClient, homeserver: Homeserver) -> None:
    with pytest.raises(InvalidInput) as refused:
        await _inviter(client, homeserver.time).plan("!elsewhere:unisson.test", ["@new:unisson.test"])
    assert "invitez-moi" in refused.value.message("fr")


async def test_one_call_per_interval_and_retry_after_is_honoured(homeserver: Homeserver, client: AsyncClient) -> None:
    homeserver.limited["@b:unisson.test"] = 1
    inviter = _inviter(client, homeserver.time, interval=1.0, progress_every=60.0)
    people = ["@a:unisson.test", "@b:unisson.test", "@c:unisson.test", "@x:nowhere.test"]
    reports: list[Progress] = []

    async def report(progress: Progress) -> None:
        reports.append(Progress(progress.total, progress.sent, list(progress.failures), progress.finished))

    progress = await inviter.run(await inviter.plan(ROOM, people), report)

    start = homeserver.calls[0][0]
    assert [(round(t - start, 3), user, status) for t, user, status in homeserver.calls] == [
        (0.0, "@a:unisson.test", 200),
        (1.0, "@b:unisson.test", 429),
        # The homeserver said 2.5 s: longer than the pace, so it wins; the same person is asked again.
        (3.5, "@b:unisson.test", 200),
        (4.5, "@c:unisson.test", 200),
        (5.5, "@x:nowhere.test", 403),
    ]
    assert progress.sent == 3 and progress.total == 4 and progress.finished
    (failure,) = progress.failures
    assert failure.user_id == "@x:nowhere.test"
    assert (failure.refusal.errcode, failure.refusal.message) == ("M_FORBIDDEN", "Federation denied with nowhere.test.")
    # Nothing reached the progress interval: one report, at the end.
    assert [(r.sent, r.finished) for r in reports] == [(3, True)]


async def test_progress_is_reported_at_most_once_per_period(homeserver: Homeserver, client: AsyncClient) -> None:
    inviter = _inviter(client, homeserver.time, interval=1.0, progress_every=3.0)
    people = [f"@p{n}:unisson.test" for n in range(10)]
    seen: list[tuple[float, int, bool]] = []

    async def report(progress: Progress) -> None:
        seen.append((homeserver.time.now, progress.done, progress.finished))

    await inviter.run(await inviter.plan(ROOM, people), report)

    times = [t for t, _, finished in seen if not finished]
    assert times and all(later - earlier >= 3.0 for earlier, later in itertools.pairwise(times))
    assert seen[-1][1:] == (10, True)
    assert len(seen) < 10


async def test_a_person_still_limited_after_the_retries_is_a_failure(
    homeserver: Homeserver, client: AsyncClient
) -> None:
    homeserver.limited["@busy:unisson.test"] = -1
    homeserver.retry_after_ms = 0  # no figure given: the pace's own backoff applies
    inviter = _inviter(client, homeserver.time, interval=0.5, retries=2, backoff=4.0)

    async def report(progress: Progress) -> None:
        return None

    progress = await inviter.run(await inviter.plan(ROOM, ["@busy:unisson.test", "@next:unisson.test"]), report)

    start = homeserver.calls[0][0]
    assert [(round(t - start, 3), status) for t, _, status in homeserver.calls] == [
        (0.0, 429),
        (4.0, 429),
        (8.0, 429),
        (12.0, 200),
    ]
    (failure,) = progress.failures
    assert failure.refusal.errcode == LIMIT_EXCEEDED and progress.sent == 1
