"""Answers of the front ends kept until they are delivered."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from hub.store.models import PendingAnswerRow
from hub.store.repositories.base import Repository


@dataclass(frozen=True, slots=True)
class PendingAnswer:
    """The answer to inbound event ``event_id``, to be posted in ``channel`` with ``transaction_id``."""

    event_id: str
    channel: str
    transaction_id: str
    content: dict[str, Any]


class AnswerRepository(Repository):
    async def keep(self, answer: PendingAnswer) -> None:
        if await self.session.get(PendingAnswerRow, answer.event_id) is None:
            self.session.add(
                PendingAnswerRow(
                    event_id=answer.event_id,
                    channel=answer.channel,
                    transaction_id=answer.transaction_id,
                    content=answer.content,
                    created_at=self.clock(),
                )
            )

    async def pending(self, limit: int) -> builtins.list[PendingAnswer]:
        query = sa.select(PendingAnswerRow).order_by(PendingAnswerRow.created_at).limit(limit)
        return [
            PendingAnswer(row.event_id, row.channel, row.transaction_id, row.content)
            for row in await self.session.scalars(query)
        ]

    async def delivered(self, event_id: str) -> None:
        await self.session.execute(sa.delete(PendingAnswerRow).where(PendingAnswerRow.event_id == event_id))
