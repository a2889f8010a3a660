"""Linked accounts that stopped working, waiting to be told to their town's officers.

An alert is raised on the *transition* from working (or unchecked) to broken, in the same statement that records
the error, so that a burst of failed posts for one account, or two workers at once, raise it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from hub.store.models import AccountAlertRow, AccountRow, DeliveryRow
from hub.store.repositories.base import Repository


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    account_id: int
    town_id: int
    problem: dict[str, Any]


class AlertRepository(Repository):
    async def broke(self, account_id: int, error: str, problem: dict[str, Any]) -> bool:
        """Records ``error`` on a working account and raises an alert; False if it was already failing."""
        result = await self.session.execute(
            sa.update(AccountRow)
            .where(AccountRow.id == account_id, AccountRow.last_error.is_(None))
            .values(last_error=error, updated_at=self.clock())
        )
        if int(getattr(result, "rowcount", 0)) != 1:
            return False
        town_id = await self.session.scalar(sa.select(AccountRow.town_id).where(AccountRow.id == account_id))
        self.session.add(
            AccountAlertRow(account_id=account_id, town_id=town_id, problem=problem, created_at=self.clock())
        )
        await self.session.flush()
        return True

    async def account_of_delivery(self, delivery_id: int) -> int | None:
        return await self.session.scalar(sa.select(DeliveryRow.account_id).where(DeliveryRow.id == delivery_id))

    async def due(self, limit: int = 100) -> list[Alert]:
        query = sa.select(AccountAlertRow).where(AccountAlertRow.sent_at.is_(None)).order_by(AccountAlertRow.id)
        rows = await self.session.scalars(query.limit(limit))
        return [Alert(row.id, row.account_id, row.town_id, dict(row.problem)) for row in rows]

    async def sent(self, alert_id: int, now: datetime) -> None:
        await self.session.execute(sa.update(AccountAlertRow).where(AccountAlertRow.id == alert_id).values(sent_at=now))
