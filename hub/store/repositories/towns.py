"""Towns (communes and organisations) and their membership of coalitions."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from hub.domain.model import Town, TownKind
from hub.store.models import CoalitionTownRow, TownRow
from hub.store.repositories.base import Repository
from hub.store.repositories.mapping import to_town


@dataclass(frozen=True, slots=True)
class TownValues:
    """What an import or a command says of a town, before it is stored."""

    kind: TownKind
    code: str | None
    name: str
    timezone: str
    profile: dict[str, str]

    @property
    def natural_key(self) -> str:
        return self.code if self.code else self.name.casefold()


class TownRepository(Repository):
    async def get(self, town_id: int) -> Town | None:
        row = await self.session.get(TownRow, town_id)
        return to_town(row) if row else None

    async def by_key(self, kind: TownKind, natural_key: str) -> Town | None:
        query = sa.select(TownRow).where(TownRow.kind == kind.value, TownRow.natural_key == natural_key)
        row = await self.session.scalar(query)
        return to_town(row) if row else None

    async def find(self, text: str, coalition_id: int | None = None) -> list[Town]:
        """Towns whose code equals ``text`` or whose name matches it, case-insensitively."""
        wanted = text.strip()
        query = sa.select(TownRow).where(
            sa.or_(TownRow.code == wanted.upper(), sa.func.lower(TownRow.name) == wanted.lower())
        )
        if coalition_id is not None:
            query = query.join(CoalitionTownRow, CoalitionTownRow.town_id == TownRow.id).where(
                CoalitionTownRow.coalition_id == coalition_id
            )
        return [to_town(row) for row in await self.session.scalars(query.order_by(TownRow.id))]

    async def list(self, coalition_id: int | None = None) -> list[Town]:
        query = sa.select(TownRow).order_by(TownRow.name, TownRow.id)
        if coalition_id is not None:
            query = query.join(CoalitionTownRow, CoalitionTownRow.town_id == TownRow.id).where(
                CoalitionTownRow.coalition_id == coalition_id
            )
        return [to_town(row) for row in await self.session.scalars(query)]

    async def existing(self, keys: Iterable[tuple[TownKind, str]]) -> dict[tuple[TownKind, str], Town]:
        """The stored towns among ``keys``, by (kind, natural key)."""
        wanted = set(keys)
        found: dict[tuple[TownKind, str], Town] = {}
        by_kind: dict[TownKind, builtins.list[str]] = {}
        for kind, key in wanted:
            by_kind.setdefault(kind, []).append(key)
        for kind, natural_keys in by_kind.items():
            for start in range(0, len(natural_keys), 500):
                chunk = natural_keys[start : start + 500]
                query = sa.select(TownRow).where(TownRow.kind == kind.value, TownRow.natural_key.in_(chunk))
                for row in await self.session.scalars(query):
                    found[(kind, row.natural_key)] = to_town(row)
        return found

    async def insert_many(self, values: Sequence[TownValues]) -> None:
        if not values:
            return
        now = self.clock()
        rows = [
            {
                "kind": v.kind.value,
                "code": v.code,
                "natural_key": v.natural_key,
                "name": v.name,
                "timezone": v.timezone,
                "profile": v.profile,
                "created_at": now,
                "updated_at": now,
            }
            for v in values
        ]
        await self.session.execute(sa.insert(TownRow), rows)

    async def update_many(self, changes: Sequence[tuple[int, TownValues]]) -> None:
        if not changes:
            return
        now = self.clock()
        rows = [
            {"id": town_id, "name": v.name, "timezone": v.timezone, "profile": v.profile, "updated_at": now}
            for town_id, v in changes
        ]
        await self.session.execute(sa.update(TownRow), rows)

    async def update_profile(self, town_id: int, profile: dict[str, str]) -> None:
        await self.session.execute(
            sa.update(TownRow).where(TownRow.id == town_id).values(profile=profile, updated_at=self.clock())
        )

    async def members(self, coalition_id: int, among: Iterable[int] | None = None) -> set[int]:
        """The coalition's member towns (only those ``among`` the ids given, if any: one indexed read)."""
        query = sa.select(CoalitionTownRow.town_id).where(CoalitionTownRow.coalition_id == coalition_id)
        if among is not None:
            query = query.where(CoalitionTownRow.town_id.in_(list(among)))
        return set(await self.session.scalars(query))

    async def add_members(self, coalition_id: int, town_ids: Iterable[int]) -> int:
        """Adds the towns not yet members; returns how many were added."""
        new = set(town_ids) - await self.members(coalition_id)
        if new:
            now = self.clock()
            await self.session.execute(
                sa.insert(CoalitionTownRow),
                [{"coalition_id": coalition_id, "town_id": t, "joined_at": now} for t in sorted(new)],
            )
        return len(new)

    async def remove_member(self, coalition_id: int, town_id: int) -> bool:
        result = await self.session.execute(
            sa.delete(CoalitionTownRow).where(
                CoalitionTownRow.coalition_id == coalition_id, CoalitionTownRow.town_id == town_id
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def coalitions_of(self, town_id: int) -> builtins.list[int]:
        query = sa.select(CoalitionTownRow.coalition_id).where(CoalitionTownRow.town_id == town_id)
        return list(await self.session.scalars(query))

    async def delete(self, town_id: int) -> None:
        await self.session.execute(sa.delete(TownRow).where(TownRow.id == town_id))
