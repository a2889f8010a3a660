"""Pinning a town's post on its profile: a step after the post, with its own delivery (kind ``pin``).

Like a follow-up (see :mod:`hub.store.threads`), a pin is claimable once its post is published, is retried on
its own and reported on its own when it fails: a failed pin never makes the post be tried again, and never
counts as a failed post. Before changing the profile, the publisher stores what was pinned (the delivery's
``prepared``; the first value stored wins, so a retry after a crash cannot take our own pin for the previous
one), and a retraction restores it before the post is deleted.
"""

from __future__ import annotations

from hub.dispatch.jobs import Attempt
from hub.domain.model import DeliveryState
from hub.publishers.base import PermanentPublishError, Publisher
from hub.store.outbox import AttemptOutcome


async def pin_step(publisher: Publisher, attempt: Attempt) -> AttemptOutcome:
    """Pins the attempt's post, or (retracting) restores the pin that was there before."""
    delivery, job = attempt.claimed.delivery, attempt.job
    if attempt.claimed.deleting:
        assert delivery.remote_id is not None
        await publisher.unpin(job.account, delivery.remote_id, attempt.claimed.prepared)
        return AttemptOutcome(delivery.id, DeliveryState.RETRACTED)
    if job.pin_of is None:  # never a pin without its post
        raise PermanentPublishError("publish.pin.parent_gone")
    pinned = await publisher.pin(job)
    return AttemptOutcome(delivery.id, DeliveryState.PUBLISHED, pinned.remote_id, pinned.url)
