"""A coalition's Bluesky starter packs: their record keys (kept before the first write) and last sync."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from hub.store.models import StarterPackRow
from hub.store.repositories.base import Repository


@dataclass(frozen=True, slots=True)
class StarterPack:
    coalition_id: int
    number: int
    list_rkey: str
    pack_rkey: str
    did: str | None
    handle: str | None
    members_hash: str | None
    label: str | None
    synced_at: datetime | None


def _to_pack(row: StarterPackRow) -> StarterPack:
    return StarterPack(
        row.coalition_id,
        row.number,
        row.list_rkey,
        row.pack_rkey,
        row.did,
        row.handle,
        row.members_hash,
        row.label,
        row.synced_at,
    )


class StarterPackRepository(Repository):
    async def of_coalition(self, coalition_id: int) -> builtins.list[StarterPack]:
        query = (
            sa.select(StarterPackRow).where(StarterPackRow.coalition_id == coalition_id).order_by(StarterPackRow.number)
        )
        return [_to_pack(row) for row in await self.session.scalars(query)]

    async def coalitions(self) -> builtins.list[int]:
        """The coalitions that have a pack (and so are kept current)."""
        query = sa.select(StarterPackRow.coalition_id).distinct()
        return list(await self.session.scalars(query))

    async def keep(self, coalition_id: int, number: int, list_rkey: str, pack_rkey: str) -> StarterPack:
        """The pack ``number``, with the given keys if it is new (the first keys stored win)."""
        query = sa.select(StarterPackRow).where(
            StarterPackRow.coalition_id == coalition_id, StarterPackRow.number == number
        )
        row = await self.session.scalar(query)
        if row is None:
            row = StarterPackRow(
                coalition_id=coalition_id,
                number=number,
                list_rkey=list_rkey,
                pack_rkey=pack_rkey,
                created_at=self.clock(),
            )
            self.session.add(row)
            await self.session.flush()
        return _to_pack(row)

    async def synced(
        self, coalition_id: int, number: int, *, did: str, handle: str, members_hash: str, label: str
    ) -> None:
        await self.session.execute(
            sa.update(StarterPackRow)
            .where(StarterPackRow.coalition_id == coalition_id, StarterPackRow.number == number)
            .values(did=did, handle=handle, members_hash=members_hash, label=label, synced_at=self.clock())
        )

    async def forget(self, coalition_id: int, number: int) -> None:
        await self.session.execute(
            sa.delete(StarterPackRow).where(
                StarterPackRow.coalition_id == coalition_id, StarterPackRow.number == number
            )
        )
