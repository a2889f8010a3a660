"""Whether and when to try a failed delivery again: a value object that returns a decision.

Everything that decides "retry or give up" lives here; the worker only applies the decision. The waits grow
exponentially with full random jitter, so that the posts of many towns that failed together do not come back
together; a server's own reset time wins when it is later. A post is given up once its retry would fall past
the announcement's window (``retry_minutes`` after the instant), a deletion after a fixed number of attempts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.domain.model import Failure
from hub.errors import UnissonError
from hub.publishers.base import PermanentPublishError, PublishError, TransientPublishError
from hub.settings import Settings

#: Past this many doublings the wait is at its maximum anyway; the bound keeps ``2 ** n`` a small float.
_MAX_DOUBLINGS = 62


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
    #: How long after the announcement's instant a post is still tried (the ``retry_minutes`` setting).
    window: timedelta = timedelta(hours=2)
    #: A deletion (a retraction) is tried this many times before it is reported as failed.
    delete_attempts: int = 8
    #: A deletion whose server asks to wait longer than this is reported at once rather than kept waiting.
    delete_window: timedelta = timedelta(days=1)

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryStrategy:
        return cls(
            timedelta(seconds=settings.retry_initial_seconds),
            timedelta(seconds=settings.retry_max_seconds),
            window=timedelta(minutes=settings.retry_minutes),
        )

    def for_delivery(
        self, error: PublishError, attempts: int, now: datetime, *, deleting: bool, instant: datetime | None
    ) -> RetryDecision:
        """The decision after a failed attempt at a delivery; ``instant`` is its announcement's (None: now)."""
        if not deleting:
            return self.decide(error, attempts, now, (instant or now) + self.window)
        if attempts >= self.delete_attempts:
            return RetryDecision(None)
        return self.decide(error, attempts, now, now + self.delete_window)

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
        doublings = min(max(0, attempts - 1), _MAX_DOUBLINGS)
        ceiling = min(self.maximum.total_seconds(), self.initial.total_seconds() * 2.0**doublings)
        return timedelta(seconds=random.uniform(0.0, ceiling))


def as_failure(error: UnissonError) -> Failure:
    """An error as kept with a delivery: its catalog key and fields; only transient publish errors may pass."""
    params = {k: str(v) for k, v in error.params.items()}
    reconnect = isinstance(error, PermanentPublishError) and error.reconnect
    permanent = not isinstance(error, TransientPublishError)
    return Failure(error.message_key, params, permanent=permanent, reconnect=reconnect)
