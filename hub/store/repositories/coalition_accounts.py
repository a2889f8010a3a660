"""The coalitions' own accounts on the networks, with their encrypted secrets."""

from __future__ import annotations

import builtins

import sqlalchemy as sa

from hub.domain.model import Platform
from hub.domain.reach import CoalitionAccount
from hub.store.models import CoalitionAccountRow
from hub.store.repositories.accounts import EncryptedSecrets
from hub.store.repositories.base import Repository


def _to_account(row: CoalitionAccountRow) -> CoalitionAccount:
    return CoalitionAccount(
        id=row.id,
        coalition_id=row.coalition_id,
        platform=Platform(row.platform),
        identifier=row.identifier,
        server=row.server,
        limits=dict(row.limits or {}),
        last_verified_at=row.last_verified_at,
        last_error=row.last_error,
    )


class CoalitionAccountRepository(Repository):
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

    async def secrets(self, account_id: int) -> EncryptedSecrets | None:
        row = await self.session.get(CoalitionAccountRow, account_id)
        return EncryptedSecrets(row.id, row.secret, row.session) if row else None

    async def store_session(self, account_id: int, session: bytes | None) -> None:
        await self.session.execute(
            sa.update(CoalitionAccountRow).where(CoalitionAccountRow.id == account_id).values(session=session)
        )

    async def all_secrets(self) -> builtins.list[EncryptedSecrets]:
        rows = await self.session.scalars(sa.select(CoalitionAccountRow).order_by(CoalitionAccountRow.id))
        return [EncryptedSecrets(row.id, row.secret, row.session) for row in rows]

    async def store_secrets(self, secrets: EncryptedSecrets) -> None:
        await self.session.execute(
            sa.update(CoalitionAccountRow)
            .where(CoalitionAccountRow.id == secrets.account_id)
            .values(secret=secrets.secret, session=secrets.session)
        )

    async def record_health(self, account_id: int, *, error: str | None, limits: dict[str, object] | None) -> None:
        now = self.clock()
        values: dict[str, object] = {"last_error": error, "updated_at": now}
        if error is None:
            values["last_verified_at"] = now
        if limits is not None:
            values["limits"] = limits
        await self.session.execute(
            sa.update(CoalitionAccountRow).where(CoalitionAccountRow.id == account_id).values(**values)
        )

    async def unlink(self, coalition_id: int, platform: Platform) -> bool:
        result = await self.session.execute(
            sa.delete(CoalitionAccountRow).where(
                CoalitionAccountRow.coalition_id == coalition_id, CoalitionAccountRow.platform == platform.value
            )
        )
        return bool(getattr(result, "rowcount", 0))
