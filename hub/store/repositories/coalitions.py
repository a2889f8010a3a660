"""Coalitions: the groups of towns that publish together."""

from __future__ import annotations

import sqlalchemy as sa

from hub.domain.model import Coalition
from hub.store.models import CoalitionRow, CoalitionTownRow
from hub.store.repositories.base import Repository
from hub.store.repositories.mapping import to_coalition


class CoalitionRepository(Repository):
    async def add(self, name: str, room_id: str, language: str) -> Coalition:
        row = CoalitionRow(name=name, room_id=room_id, language=language, created_at=self.clock())
        self.session.add(row)
        await self.session.flush()
        return to_coalition(row)

    async def get(self, coalition_id: int) -> Coalition | None:
        row = await self.session.get(CoalitionRow, coalition_id)
        return to_coalition(row) if row else None

    async def set_language(self, coalition_id: int, language: str) -> None:
        await self.session.execute(
            sa.update(CoalitionRow).where(CoalitionRow.id == coalition_id).values(language=language)
        )

    async def by_room(self, room_id: str) -> Coalition | None:
        row = await self.session.scalar(sa.select(CoalitionRow).where(CoalitionRow.room_id == room_id))
        return to_coalition(row) if row else None

    async def by_name(self, name: str) -> Coalition | None:
        query = sa.select(CoalitionRow).where(sa.func.lower(CoalitionRow.name) == name.lower())
        row = await self.session.scalar(query)
        return to_coalition(row) if row else None

    async def list(self) -> list[Coalition]:
        rows = await self.session.scalars(sa.select(CoalitionRow).order_by(CoalitionRow.name))
        return [to_coalition(row) for row in rows]

    async def member_counts(self) -> dict[int, int]:
        query = sa.select(CoalitionTownRow.coalition_id, sa.func.count()).group_by(CoalitionTownRow.coalition_id)
        return {cid: count for cid, count in (await self.session.execute(query)).tuples()}
