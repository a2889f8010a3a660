"""The append-only audit log."""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from hub.domain.model import AuditEntry
from hub.store.models import AuditRow
from hub.store.repositories.base import Repository
from hub.store.repositories.mapping import to_audit


class AuditRepository(Repository):
    async def append(
        self,
        actor: str,
        action: str,
        *,
        coalition_id: int | None = None,
        announcement_id: int | None = None,
        town_id: int | None = None,
        version_number: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.session.add(
            AuditRow(
                actor=actor,
                action=action,
                coalition_id=coalition_id,
                announcement_id=announcement_id,
                town_id=town_id,
                version_number=version_number,
                details=details or {},
                at=self.clock(),
            )
        )
        await self.session.flush()

    async def list(
        self,
        *,
        coalition_id: int | None = None,
        announcement_id: int | None = None,
        since: datetime | None = None,
    ) -> builtins.list[AuditEntry]:
        query = sa.select(AuditRow).order_by(AuditRow.id)
        if coalition_id is not None:
            query = query.where(AuditRow.coalition_id == coalition_id)
        if announcement_id is not None:
            query = query.where(AuditRow.announcement_id == announcement_id)
        if since is not None:
            query = query.where(AuditRow.at >= since)
        return [to_audit(row) for row in await self.session.scalars(query)]

    async def pseudonymise_town(self, town_id: int, replacement: str) -> None:
        """Entries about the town keep what was decided, not who decided it (GDPR erasure)."""
        await self.session.execute(
            sa.update(AuditRow).where(AuditRow.town_id == town_id).values(actor=replacement, details={})
        )

    async def pseudonymise_actor(self, actor: str, actions: Iterable[str], replacement: str) -> None:
        """``actor``'s entries of ``actions`` no longer name them (GDPR erasure)."""
        await self.session.execute(
            sa.update(AuditRow)
            .where(AuditRow.actor == actor, AuditRow.action.in_(list(actions)))
            .values(actor=replacement, details={})
        )
