"""Scheduled statuses to take back from their servers: those of deliveries dropped (an announcement unlocked or
cancelled) after their pre-staging. The dispatcher works through them
(:mod:`hub.dispatch.unstaging`); each stays until its server has confirmed."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.domain.model import DeliveryState
from hub.domain.prestage import SENDING, STAGED
from hub.store.models import DeliveryRow, UnstagingRow
from hub.store.repositories.base import Repository


@dataclass(frozen=True, slots=True)
class Unstaging:
    id: int
    account_id: int
    schedule: dict[str, Any]
    text: str
    attempts: int


async def unstage(
    session: AsyncSession, which: sa.ColumnElement[bool], now: datetime, state: DeliveryState = DeliveryState.PENDING
) -> int:
    """Queues the scheduled statuses of the deliveries in ``state`` matching ``which``; returns how many.

    Pending ones are dropped (unlock, cancel); failed ones are retracted: a post whose confirmation failed (its
    token revoked at the instant) may have been published by its server all the same, and only taking back its
    scheduled status (or deleting what it became) makes sure it is gone."""
    query = sa.select(DeliveryRow.account_id, DeliveryRow.schedule, DeliveryRow.text).where(
        which,
        DeliveryRow.state == state.value,
        DeliveryRow.account_id.is_not(None),
        DeliveryRow.schedule.is_not(None),
    )
    rows = [
        {"account_id": account_id, "schedule": schedule, "text": text, "next_attempt_at": now, "created_at": now}
        for account_id, schedule, text in (await session.execute(query)).tuples()
        if isinstance(schedule, dict) and schedule.get("state") in (SENDING, STAGED)
    ]
    if rows:
        await session.execute(sa.insert(UnstagingRow), rows)
    return len(rows)


class UnstagingRepository(Repository):
    async def due(self, now: datetime, limit: int = 100) -> builtins.list[Unstaging]:
        query = (
            sa.select(UnstagingRow)
            .where(UnstagingRow.next_attempt_at <= now)
            .order_by(UnstagingRow.next_attempt_at, UnstagingRow.id)
            .limit(limit)
        )
        return [
            Unstaging(r.id, r.account_id, r.schedule, r.text, r.attempts) for r in await self.session.scalars(query)
        ]

    async def done(self, unstaging_id: int) -> None:
        await self.session.execute(sa.delete(UnstagingRow).where(UnstagingRow.id == unstaging_id))

    async def later(self, unstaging_id: int, at: datetime, error: str) -> None:
        await self.session.execute(
            sa.update(UnstagingRow)
            .where(UnstagingRow.id == unstaging_id)
            .values(attempts=UnstagingRow.attempts + 1, next_attempt_at=at, last_error=error[:300])
        )

    async def waiting(self) -> int:
        """How many wait (for the metrics and the tests)."""
        return int(await self.session.scalar(sa.select(sa.func.count()).select_from(UnstagingRow)) or 0)
