"""When to try a failed post again: a value object that returns a decision (the worker loop stays apart).

The waits grow exponentially with full random jitter (tenacity's ``wait_random_exponential``), so that the
posts of many towns that failed together do not come back together; a server's own reset time wins when it
is later; past the announcement's retry deadline the post is given up and reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tenacity import RetryCallState, Retrying, wait_random_exponential

from hub.domain.model import Failure
from hub.errors import UnissonError
from hub.publishers.base import PermanentPublishError, PublishError, TransientPublishError


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """``retry_at`` is when to try again; None means stop (the post failed)."""

    retry_at: datetime | None

    @property
    def stop(self) -> bool:
        return self.retry_at is None


@dataclass(frozen=True, slots=True)
class RetryStrategy:
    initial: timedelta = timedelta(seconds=2)
    maximum: timedelta = timedelta(minutes=5)

    def decide(self, error: PublishError, attempts: int, now: datetime, give_up_at: datetime) -> RetryDecision:
        """``attempts`` counts the tries made so far, this failed one included."""
        if isinstance(error, PermanentPublishError) or not isinstance(error, TransientPublishError):
            return RetryDecision(None)
        retry_at = now + self.wait(attempts)
        if error.retry_at is not None and error.retry_at > retry_at:
            retry_at = error.retry_at
        return RetryDecision(retry_at if retry_at <= give_up_at else None)

    def wait(self, attempts: int) -> timedelta:
        """A random wait between 0 and ``initial × 2^(attempts-1)``, at most ``maximum``."""
        state = RetryCallState(Retrying(), None, (), {})
        state.attempt_number = max(1, attempts)
        wait = wait_random_exponential(multiplier=self.initial.total_seconds(), max=self.maximum.total_seconds())
        return timedelta(seconds=wait(state))


def as_failure(error: UnissonError) -> Failure:
    """An error as kept with a delivery: its catalog key and fields; only transient publish errors may pass."""
    params = {k: str(v) for k, v in error.params.items()}
    reconnect = isinstance(error, PermanentPublishError) and error.reconnect
    permanent = not isinstance(error, TransientPublishError)
    return Failure(error.message_key, params, permanent=permanent, reconnect=reconnect)
