"""Deliveries: one post of an announcement for one town on one network."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa

from hub.domain import prestage
from hub.domain.model import Delivery, DeliveryKind, DeliveryState, Platform
from hub.store.models import DeliveryRow
from hub.store.repositories.base import Repository
from hub.store.repositories.mapping import to_delivery
from hub.store.repositories.unstagings import unstage


@dataclass(frozen=True, slots=True)
class NewDelivery:
    town_id: int
    account_id: int
    platform: Platform
    version_number: int
    text: str
    idempotency_key: str
    due: datetime
    #: The follow-up to post in thread under this post, with its own idempotency key, if any.
    followup: tuple[str, str] | None = None
    #: The idempotency key of pinning this post on the town's profile, if it is to be pinned.
    pin: str | None = None


class DeliveryRepository(Repository):
    async def create_many(self, announcement_id: int, deliveries: Sequence[NewDelivery]) -> None:
        """Inserts the posts, then their follow-ups and pins, each pointing to its post (its parent)."""
        if not deliveries:
            return
        await self.session.execute(sa.insert(DeliveryRow), [self._values(announcement_id, d) for d in deliveries])
        children = [child for d in deliveries for child in _children(d)]
        if not children:
            return
        query = sa.select(DeliveryRow.idempotency_key, DeliveryRow.id).where(
            DeliveryRow.announcement_id == announcement_id,
            DeliveryRow.idempotency_key.in_([d.idempotency_key for d, *_ in children]),
        )
        parents = {key: parent_id for key, parent_id in (await self.session.execute(query)).tuples()}
        rows = [
            self._values(announcement_id, d)
            | {"parent_id": parents[d.idempotency_key], "kind": kind.value, "text": text, "idempotency_key": key}
            for d, kind, text, key in children
        ]
        await self.session.execute(sa.insert(DeliveryRow), rows)

    def _values(self, announcement_id: int, d: NewDelivery) -> dict[str, object]:
        now = self.clock()
        return {
            "announcement_id": announcement_id,
            "town_id": d.town_id,
            "account_id": d.account_id,
            "platform": d.platform.value,
            "version_number": d.version_number,
            "text": d.text,
            "idempotency_key": d.idempotency_key,
            "state": DeliveryState.PENDING.value,
            "attempts": 0,
            "next_attempt_at": d.due,
            "created_at": now,
            "updated_at": now,
        }

    async def list(self, announcement_id: int) -> list[Delivery]:
        query = (
            sa.select(DeliveryRow)
            .where(DeliveryRow.announcement_id == announcement_id)
            .order_by(DeliveryRow.town_id, DeliveryRow.platform)
        )
        return [to_delivery(row) for row in await self.session.scalars(query)]

    async def keep_first_remote_key(self, delivery_id: int, key: str) -> str:
        """Sets the delivery's remote key only if it has none (one statement, so concurrent attempts agree);
        returns the key now stored."""
        await self.session.execute(
            sa.update(DeliveryRow)
            .where(DeliveryRow.id == delivery_id, DeliveryRow.remote_key.is_(None))
            .values(remote_key=key, updated_at=self.clock())
        )
        stored = await self.remote_key(delivery_id)
        if stored is None:
            raise LookupError(f"delivery {delivery_id} does not exist")
        return stored

    async def keep_first_prepared(self, delivery_id: int, value: dict[str, Any]) -> dict[str, Any]:
        """Sets the delivery's ``prepared`` only if it has none (a pin's previous pin); returns what is stored."""
        await self.session.execute(
            sa.update(DeliveryRow)
            .where(DeliveryRow.id == delivery_id, DeliveryRow.prepared.is_(None))
            .values(prepared=value, updated_at=self.clock())
        )
        query = sa.select(DeliveryRow.prepared).where(DeliveryRow.id == delivery_id)
        stored: dict[str, Any] | None = await self.session.scalar(query)
        if stored is None:
            raise LookupError(f"delivery {delivery_id} does not exist")
        return stored

    async def keep_first_remote_keys(self, keys: dict[int, str]) -> dict[int, str]:
        """:meth:`keep_first_remote_key` for many deliveries in one transaction; returns the keys now stored."""
        table = cast(sa.Table, DeliveryRow.__table__)
        await self.session.execute(
            sa.update(table)
            .where(table.c.id == sa.bindparam("delivery"), table.c.remote_key.is_(None))
            .values(remote_key=sa.bindparam("key")),
            [{"delivery": i, "key": k} for i, k in keys.items()],
        )
        query = sa.select(DeliveryRow.id, DeliveryRow.remote_key).where(DeliveryRow.id.in_(list(keys)))
        return {i: k for i, k in (await self.session.execute(query)).tuples() if k is not None}

    async def set_schedules(self, schedules: dict[int, dict[str, Any]]) -> dict[int, None]:
        """Records where each delivery's pre-staging stands (committed before the request it announces)."""
        table = cast(sa.Table, DeliveryRow.__table__)
        await self.session.execute(
            sa.update(table)
            .where(table.c.id == sa.bindparam("delivery"), table.c.state == DeliveryState.PENDING.value)
            .values(schedule=sa.bindparam("value"), updated_at=self.clock()),
            [{"delivery": i, "value": v} for i, v in schedules.items()],
        )
        return dict.fromkeys(schedules)

    async def remote_key(self, delivery_id: int) -> str | None:
        return await self.session.scalar(sa.select(DeliveryRow.remote_key).where(DeliveryRow.id == delivery_id))

    async def delete_pending(self, announcement_id: int) -> int:
        """Drops the announcement's deliveries not yet made; their pre-staged scheduled statuses are queued to be
        taken back from their servers (in the same transaction, so none is forgotten)."""
        await unstage(self.session, DeliveryRow.announcement_id == announcement_id, self.clock())
        result = await self.session.execute(
            sa.delete(DeliveryRow).where(
                DeliveryRow.announcement_id == announcement_id,
                DeliveryRow.state == DeliveryState.PENDING.value,
            )
        )
        return int(getattr(result, "rowcount", 0))

    async def prestaged(self, announcement_id: int) -> int:
        """How many of the announcement's pending posts may wait on their servers as scheduled statuses."""
        query = sa.select(DeliveryRow.schedule).where(
            DeliveryRow.announcement_id == announcement_id,
            DeliveryRow.state == DeliveryState.PENDING.value,
            DeliveryRow.schedule.is_not(None),
        )
        return sum(1 for schedule in await self.session.scalars(query) if prestage.on_server(schedule))

    async def counts(self, announcement_id: int) -> dict[DeliveryState, int]:
        query = (
            sa.select(DeliveryRow.state, sa.func.count())
            .where(DeliveryRow.announcement_id == announcement_id)
            .group_by(DeliveryRow.state)
        )
        return {DeliveryState(s): n for s, n in (await self.session.execute(query)).tuples()}

    async def totals(self) -> dict[DeliveryState, int]:
        """How many deliveries of every announcement are in each state (every state named, zero included)."""
        query = sa.select(DeliveryRow.state, sa.func.count()).group_by(DeliveryRow.state)
        found = {s: n for s, n in (await self.session.execute(query)).tuples()}
        return {state: found.get(state.value, 0) for state in DeliveryState}


def _children(d: NewDelivery) -> list[tuple[NewDelivery, DeliveryKind, str, str]]:
    """What a post brings along: its follow-up (text, key) and its pin (no text, key)."""
    children = [(d, DeliveryKind.FOLLOWUP, *d.followup)] if d.followup is not None else []
    return children + ([(d, DeliveryKind.PIN, "", d.pin)] if d.pin is not None else [])
