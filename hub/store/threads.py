"""Follow-ups in the outbox: a second post each town makes in thread, under its own post.

Design: a follow-up is a delivery of its own, whose ``parent_id`` names the delivery of the post it answers,
rather than a second phase inside the post's delivery. Everything that makes a post exactly-once then holds for
the follow-up unchanged, with no second set of columns: its own idempotency key, its own stored remote key
(Bluesky rkey, Mastodon first attempt), its own claim, retries, failure report and recovery after a crash.
The dependency lives only in what is claimable:

- a follow-up waiting to be posted is claimable once its parent is published (so never without it, always
  after it), and its job carries the parent's remote id (the claim reads it: :func:`reply_targets`);
- a post waiting to be deleted is claimable once none of its follow-ups is still being deleted (so the reply
  goes first, and the thread is never left with a reply under a deleted post);
- a post that fails for good cancels its waiting follow-ups (:func:`cancel_followups`), so the publication can
  finish.

Pins (:mod:`hub.dispatch.pins`) are children of the same kind (``kind`` tells them apart) and follow the same
rules.

A ``kill -9`` between a post and its follow-up thus leaves the follow-up pending (or claimed by a dead worker,
then handed back like any claim); it is posted once, by whichever worker claims it next.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from hub.domain.model import DeliveryKind, DeliveryState, Failure
from hub.store.models import DeliveryRow

_D = DeliveryState
_PARENT = aliased(DeliveryRow, name="parent")
_CHILD = aliased(DeliveryRow, name="child")

#: A pending delivery may be posted: a main post, or a follow-up whose parent is published.
READY_TO_POST = sa.or_(
    DeliveryRow.parent_id.is_(None),
    sa.exists().where(_PARENT.id == DeliveryRow.parent_id, _PARENT.state == _D.PUBLISHED.value),
)
#: A post may be deleted: none of its follow-ups or pins is still waiting to be undone.
READY_TO_DELETE = ~sa.exists().where(
    _CHILD.parent_id == DeliveryRow.id, _CHILD.state.in_([_D.RETRACTING.value, _D.CLAIMED.value])
)
#: Main posts only (counts and previews are about towns' posts; their follow-ups go with them).
MAIN = DeliveryRow.parent_id.is_(None)


def part_of(failure: Failure | None, kind: str) -> Failure | None:
    """A follow-up's or a pin's failure says so (``params["part"]``): the room is told that the post itself
    went out."""
    if failure is None or kind == DeliveryKind.POST.value:
        return failure
    return replace(failure, params={**failure.params, "part": kind})


async def reply_targets(session: AsyncSession, parent_ids: Iterable[int]) -> dict[int, str]:
    """The remote id (Bluesky at-uri, Mastodon status id) of each published parent."""
    wanted = sorted(set(parent_ids))
    if not wanted:
        return {}
    query = sa.select(DeliveryRow.id, DeliveryRow.remote_id).where(
        DeliveryRow.id.in_(wanted), DeliveryRow.remote_id.is_not(None)
    )
    return {i: r for i, r in (await session.execute(query)).tuples() if r is not None}


async def cancel_followups(session: AsyncSession, parent_ids: Iterable[int], now: datetime) -> None:
    """Cancels the follow-ups and pins still waiting under posts that will not be made."""
    wanted = sorted(set(parent_ids))
    if wanted:
        await session.execute(
            sa.update(DeliveryRow)
            .where(DeliveryRow.parent_id.in_(wanted), DeliveryRow.state == _D.PENDING.value)
            .values(state=_D.CANCELLED.value, updated_at=now)
            .execution_options(synchronize_session=False)
        )
