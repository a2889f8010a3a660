"""Inbound events already processed, so that a replay is never acted on twice."""

from __future__ import annotations

import sqlalchemy as sa

from hub.store.models import ProcessedEventRow
from hub.store.repositories.base import Repository


class EventRepository(Repository):
    async def seen(self, event_id: str) -> bool:
        return await self.session.get(ProcessedEventRow, event_id) is not None

    async def first_time(self, event_id: str) -> bool:
        """Records ``event_id``; True only the first time it is seen, so a replay is never acted on twice."""
        if await self.session.get(ProcessedEventRow, event_id) is not None:
            return False
        try:
            async with self.session.begin_nested():
                self.session.add(ProcessedEventRow(event_id=event_id, processed_at=self.clock()))
        except sa.exc.IntegrityError:
            return False  # another worker recorded it first
        return True
