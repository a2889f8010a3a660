"""The front ends' answers to people, kept in the hub from the moment they are decided until they are delivered.

A command runs once (its event id is recorded first); its answer is kept here before it is queued, so that a
crash or a stop before the homeserver took it does not swallow it: the front end sends what is still pending
when it starts again, with the same transaction id (a homeserver that already has it answers with that one).
"""

from __future__ import annotations

from typing import Any

from hub.services.context import ServiceContext
from hub.store.repositories import PendingAnswer


class AnswerService:
    def __init__(self, context: ServiceContext) -> None:
        self.context = context

    async def keep(self, event_id: str, channel: str, transaction_id: str, content: dict[str, Any]) -> PendingAnswer:
        answer = PendingAnswer(event_id, channel, transaction_id, content)
        async with self.context.store.unit() as uow:
            await uow.answers.keep(answer)
        return answer

    async def pending(self, limit: int = 1000) -> list[PendingAnswer]:
        """The answers not delivered yet, oldest first."""
        async with self.context.store.unit() as uow:
            return await uow.answers.pending(limit)

    async def delivered(self, event_id: str) -> None:
        async with self.context.store.unit() as uow:
            await uow.answers.delivered(event_id)
