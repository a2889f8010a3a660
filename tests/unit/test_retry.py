"""The retry strategy decides alone whether a delivery is tried again; the worker only applies the decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub.dispatch.retry import RetryStrategy
from hub.publishers.base import PermanentPublishError, TransientPublishError
from hub.settings import Settings

NOW = datetime(2026, 1, 20, 8, 0, tzinfo=UTC)
STRATEGY = RetryStrategy(timedelta(seconds=1), timedelta(seconds=4), window=timedelta(minutes=30), delete_attempts=3)


def test_a_post_is_retried_until_the_window_after_its_instant_closes() -> None:
    instant = NOW - timedelta(minutes=29, seconds=50)  # 10 s of the window left, waits of at most 4 s
    retried = STRATEGY.for_delivery(TransientPublishError(), 40, NOW, deleting=False, instant=instant)
    assert retried.retry_at is not None and retried.retry_at <= NOW + timedelta(seconds=4)
    closed = STRATEGY.for_delivery(TransientPublishError(), 1, NOW, deleting=False, instant=NOW - timedelta(hours=1))
    assert closed.stop


def test_a_post_without_an_instant_counts_its_window_from_now() -> None:
    later = TransientPublishError(retry_at=NOW + timedelta(minutes=29))
    assert STRATEGY.for_delivery(later, 1, NOW, deleting=False, instant=None).retry_at == later.retry_at
    too_late = TransientPublishError(retry_at=NOW + timedelta(minutes=31))
    assert STRATEGY.for_delivery(too_late, 1, NOW, deleting=False, instant=None).stop


def test_a_deletion_is_given_up_after_its_attempts_whatever_the_instant() -> None:
    old = NOW - timedelta(days=3)  # a retraction long after the publication is still tried
    decisions = [STRATEGY.for_delivery(TransientPublishError(), n, NOW, deleting=True, instant=old) for n in (1, 2, 3)]
    assert [d.stop for d in decisions] == [False, False, True]


def test_a_deletion_the_server_defers_past_a_day_is_given_up() -> None:
    deferred = TransientPublishError(retry_at=NOW + timedelta(days=2))
    assert STRATEGY.for_delivery(deferred, 1, NOW, deleting=True, instant=None).stop


def test_permanent_errors_are_never_retried() -> None:
    for deleting in (False, True):
        assert STRATEGY.for_delivery(PermanentPublishError(), 1, NOW, deleting=deleting, instant=NOW).stop


def test_the_wait_stays_within_the_maximum_after_very_many_attempts() -> None:
    waits = [STRATEGY.wait(n) for n in (0, 1, 64, 10_000)]
    assert all(timedelta(0) <= w <= timedelta(seconds=4) for w in waits)
    assert STRATEGY.wait(1) <= timedelta(seconds=1)


def test_the_strategy_follows_the_settings(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, retry_minutes=45, retry_initial_seconds=0.5, retry_max_seconds=60, _env_file=None
    )
    strategy = RetryStrategy.from_settings(settings)
    assert (strategy.initial, strategy.maximum, strategy.window) == (
        timedelta(seconds=0.5),
        timedelta(minutes=1),
        timedelta(minutes=45),
    )
