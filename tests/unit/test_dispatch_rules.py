"""The retry policy and the per-host pacing, as plain values."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from hub.dispatch.gate import Gates, HostGate, host_of
from hub.dispatch.retry import RetryStrategy, as_failure
from hub.errors import NotFound
from hub.publishers.base import PermanentPublishError, RateLimit, TransientPublishError

NOW = datetime(2026, 1, 20, 8, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=2)


def test_waits_grow_exponentially_within_the_bounds() -> None:
    strategy = RetryStrategy(timedelta(seconds=2), timedelta(seconds=60))
    for attempts in range(1, 12):
        waits = [strategy.wait(attempts).total_seconds() for _ in range(200)]
        assert min(waits) >= 0 and max(waits) <= min(60, 2 * 2 ** (attempts - 1))
    # Jitter: retries of towns that failed together are spread, not synchronised.
    assert len({round(strategy.wait(5).total_seconds(), 3) for _ in range(50)}) > 40


def test_a_transient_error_is_retried_and_the_servers_reset_time_wins_when_later() -> None:
    strategy = RetryStrategy(timedelta(seconds=1), timedelta(seconds=4))
    plain = strategy.decide(TransientPublishError(), 1, NOW, LATER)
    assert plain.retry_at is not None and NOW <= plain.retry_at <= NOW + timedelta(seconds=1)
    reset = NOW + timedelta(minutes=5)
    limited = strategy.decide(TransientPublishError(retry_at=reset), 1, NOW, LATER)
    assert limited.retry_at == reset


def test_permanent_errors_and_retries_past_the_deadline_stop() -> None:
    strategy = RetryStrategy()
    assert strategy.decide(PermanentPublishError(reconnect=True), 1, NOW, LATER).stop
    assert strategy.decide(TransientPublishError(retry_at=LATER + timedelta(seconds=1)), 3, NOW, LATER).stop
    assert strategy.decide(TransientPublishError(), 1, NOW, NOW).stop


def test_failures_keep_their_key_fields_and_whether_to_reconnect() -> None:
    revoked = as_failure(PermanentPublishError("publish.mastodon.token_invalid", reconnect=True, detail="revoked"))
    assert (revoked.key, revoked.params, revoked.permanent, revoked.reconnect) == (
        "publish.mastodon.token_invalid",
        {"detail": "revoked"},
        True,
        True,
    )
    assert not as_failure(TransientPublishError()).permanent
    assert as_failure(NotFound("error.account.unknown", id=3)).params == {"id": "3"}


def test_hosts_are_told_apart_by_name_and_port() -> None:
    assert host_of("https://Mastodon.Example/") == "mastodon.example"
    assert host_of("http://127.0.0.1:8443") != host_of("http://127.0.0.1:8444")
    gates = Gates(4, lambda: NOW)
    assert gates.of("https://a.example") is gates.of("https://A.example/api")


async def test_a_used_up_window_holds_requests_until_its_reset() -> None:
    now = datetime.now(UTC)
    gate = HostGate(10, lambda: datetime.now(UTC))
    state = RateLimit(limit=300, remaining=2, reset=now + timedelta(seconds=0.3))
    started: list[float] = []
    loop = asyncio.get_running_loop()

    async def request() -> None:
        async with gate.slot(lambda: state):
            started.append(loop.time())

    begin = loop.time()
    await asyncio.gather(*(request() for _ in range(4)))
    offsets = sorted(t - begin for t in started)
    assert offsets[1] < 0.1  # the two requests the window still allowed went at once
    assert offsets[2] >= 0.29  # the others waited for the reset
    assert gate.waited > 0


async def test_a_gate_bounds_the_requests_running_at_once() -> None:
    gate = HostGate(3, lambda: datetime.now(UTC))
    running = peak = 0

    async def request() -> None:
        nonlocal running, peak
        async with gate.slot(lambda: None):
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01)
            running -= 1

    await asyncio.gather(*(request() for _ in range(20)))
    assert peak == 3
