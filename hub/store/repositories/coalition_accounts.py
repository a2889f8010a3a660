"""The coalitions' own accounts on the networks, with their encrypted secrets."""

from __future__ import annotations

import builtins

import sqlalchemy as sa

from hub.domain.model import Platform
from hub.domain.reach import CoalitionAccount
from hub.store.models import CoalitionAccountRow
from hub.store.repositories.accounts import LinkedAccounts
from hub.store.repositories.mapping import linked_fields


def _to_account(row: CoalitionAccountRow) -> CoalitionAccount:
    return CoalitionAccount(coalition_id=row.coalition_id, **linked_fields(row))


class CoalitionAccountRepository(LinkedAccounts):
    rows = CoalitionAccountRow

    async def upsert(
        self, coalition_id: int, platform: Platform, identifier: str, server: str, secret: bytes, by: str
    ) -> CoalitionAccount:
        """Links (or re-links) the coalition's account on ``platform``; a re-link forgets the old session."""
        query = sa.select(CoalitionAccountRow).where(
            CoalitionAccountRow.coalition_id == coalition_id, CoalitionAccountRow.platform == platform.value
        )
        now = self.clock()
        row = await self.session.scalar(query)
        if row is None:
            row = CoalitionAccountRow(coalition_id=coalition_id, platform=platform.value, limits={}, created_at=now)
            self.session.add(row)
        row.identifier, row.server, row.secret, row.session, row.linked_by = identifier, server, secret, None, by
        row.last_verified_at, row.last_error, row.updated_at = None, None, now
        await self.session.flush()
        return _to_account(row)

    async def get(self, account_id: int) -> CoalitionAccount | None:
        row = await self.session.get(CoalitionAccountRow, account_id)
        return _to_account(row) if row else None

    async def of_coalition(self, coalition_id: int) -> builtins.list[CoalitionAccount]:
        query = (
            sa.select(CoalitionAccountRow)
            .where(CoalitionAccountRow.coalition_id == coalition_id)
            .order_by(CoalitionAccountRow.platform)
        )
        return [_to_account(row) for row in await self.session.scalars(query)]

    async def unlink(self, coalition_id: int, platform: Platform) -> bool:
        result = await self.session.execute(
            sa.delete(CoalitionAccountRow).where(
                CoalitionAccountRow.coalition_id == coalition_id, CoalitionAccountRow.platform == platform.value
            )
        )
        return bool(getattr(result, "rowcount", 0))
