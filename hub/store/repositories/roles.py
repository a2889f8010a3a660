"""Roles granted to people: coordinator of a coalition, officer of a town."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from hub.domain.model import Role
from hub.store.models import RoleGrantRow
from hub.store.repositories.base import Repository


@dataclass(frozen=True, slots=True)
class Grant:
    user_id: str
    role: Role
    coalition_id: int | None
    town_id: int | None


def _scope(coalition_id: int | None, town_id: int | None) -> str:
    return f"coalition:{coalition_id}" if coalition_id is not None else f"town:{town_id}"


class RoleRepository(Repository):
    async def grant(
        self,
        user_id: str,
        role: Role,
        *,
        by: str,
        coalition_id: int | None = None,
        town_id: int | None = None,
    ) -> bool:
        """Grants a role; returns False when the user already had it."""
        scope = _scope(coalition_id, town_id)
        query = sa.select(RoleGrantRow.id).where(
            RoleGrantRow.user_id == user_id, RoleGrantRow.role == role.value, RoleGrantRow.scope == scope
        )
        if await self.session.scalar(query) is not None:
            return False
        self.session.add(
            RoleGrantRow(
                user_id=user_id,
                role=role.value,
                scope=scope,
                coalition_id=coalition_id,
                town_id=town_id,
                granted_by=by,
                granted_at=self.clock(),
            )
        )
        await self.session.flush()
        return True

    async def revoke(
        self, user_id: str, role: Role, *, coalition_id: int | None = None, town_id: int | None = None
    ) -> bool:
        result = await self.session.execute(
            sa.delete(RoleGrantRow).where(
                RoleGrantRow.user_id == user_id,
                RoleGrantRow.role == role.value,
                RoleGrantRow.scope == _scope(coalition_id, town_id),
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def of_user(self, user_id: str) -> list[Grant]:
        rows = await self.session.scalars(sa.select(RoleGrantRow).where(RoleGrantRow.user_id == user_id))
        return [Grant(r.user_id, Role(r.role), r.coalition_id, r.town_id) for r in rows]

    async def holders(self, role: Role, *, coalition_id: int | None = None, town_id: int | None = None) -> list[str]:
        query = (
            sa.select(RoleGrantRow.user_id)
            .where(RoleGrantRow.role == role.value, RoleGrantRow.scope == _scope(coalition_id, town_id))
            .order_by(RoleGrantRow.user_id)
        )
        return list(await self.session.scalars(query))

    async def officers_by_town(self, town_ids: Iterable[int]) -> dict[int, list[str]]:
        wanted = list(town_ids)
        found: dict[int, list[str]] = {}
        for start in range(0, len(wanted), 500):
            query = (
                sa.select(RoleGrantRow.town_id, RoleGrantRow.user_id)
                .where(RoleGrantRow.role == Role.OFFICER.value)
                .where(RoleGrantRow.town_id.in_(wanted[start : start + 500]))
                .order_by(RoleGrantRow.user_id)
            )
            for town_id, user_id in (await self.session.execute(query)).tuples():
                if town_id is not None:
                    found.setdefault(town_id, []).append(user_id)
        return found

    async def delete_for_town(self, town_id: int) -> list[str]:
        users = await self.holders(Role.OFFICER, town_id=town_id)
        await self.session.execute(sa.delete(RoleGrantRow).where(RoleGrantRow.town_id == town_id))
        return users
