"""The dispatcher's workers and their heartbeats: a worker not heard from is dead and its claims go back."""

from __future__ import annotations

import builtins
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from hub.domain.model import DeliveryState
from hub.store.models import DeliveryRow, WorkerRow
from hub.store.repositories.base import Repository


class WorkerRepository(Repository):
    async def beat(self, worker_id: str, host: str, pid: int, now: datetime) -> None:
        """Records that ``worker_id`` is alive (registering it the first time)."""
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = insert(WorkerRow).values(id=worker_id, host=host, pid=pid, started_at=now, heartbeat_at=now)
        await self.session.execute(
            statement.on_conflict_do_update(index_elements=[WorkerRow.id], set_={"heartbeat_at": now})
        )

    async def remove(self, worker_id: str) -> None:
        await self.session.execute(sa.delete(WorkerRow).where(WorkerRow.id == worker_id))

    async def alive(self, since: datetime) -> builtins.list[str]:
        query = sa.select(WorkerRow.id).where(WorkerRow.heartbeat_at >= since).order_by(WorkerRow.id)
        return list(await self.session.scalars(query))

    async def seen(self, since: datetime) -> builtins.list[tuple[str, str, int]]:
        """``(id, host, pid)`` of the workers heard from since ``since``."""
        query = sa.select(WorkerRow.id, WorkerRow.host, WorkerRow.pid).where(WorkerRow.heartbeat_at >= since)
        return [(i, h, p) for i, h, p in (await self.session.execute(query)).tuples()]

    async def holding(self) -> dict[str, datetime | None]:
        """The workers holding claims, each with its last heartbeat (None: not registered, or taken for dead)."""
        query = (
            sa.select(DeliveryRow.claimed_by, WorkerRow.heartbeat_at)
            .join(WorkerRow, WorkerRow.id == DeliveryRow.claimed_by, isouter=True)
            .where(DeliveryRow.state == DeliveryState.CLAIMED.value, DeliveryRow.claimed_by.is_not(None))
            .distinct()
        )
        return {worker: heard for worker, heard in (await self.session.execute(query)).tuples() if worker}
