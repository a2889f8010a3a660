"""Reports: what a front end must tell a coalition's room (a delivery that failed…), until it has."""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa

from hub.domain.model import Failure, Platform, Report, ReportKind
from hub.store.models import ReportRow
from hub.store.repositories.base import Repository
from hub.store.repositories.mapping import failure_json, to_report


class ReportRepository(Repository):
    async def add(
        self,
        kind: ReportKind,
        coalition_id: int,
        announcement_id: int,
        *,
        town_id: int | None = None,
        platform: Platform | None = None,
        problem: Failure | None = None,
    ) -> None:
        self.session.add(
            ReportRow(
                kind=kind.value,
                coalition_id=coalition_id,
                announcement_id=announcement_id,
                town_id=town_id,
                platform=platform.value if platform else None,
                problem=failure_json(problem),
                created_at=self.clock(),
            )
        )

    async def unsent(self, limit: int = 100) -> builtins.list[Report]:
        query = sa.select(ReportRow).where(ReportRow.sent_at.is_(None)).order_by(ReportRow.id).limit(limit)
        return [to_report(row) for row in await self.session.scalars(query)]

    async def mark_sent(self, report_ids: Iterable[int], now: datetime) -> None:
        ids = list(report_ids)
        if ids:
            await self.session.execute(sa.update(ReportRow).where(ReportRow.id.in_(ids)).values(sent_at=now))
