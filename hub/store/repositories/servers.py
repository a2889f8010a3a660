"""What the dispatcher found out about the servers it posts to, kept across restarts and shared by every process."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from hub.store.models import ServerTraitRow
from hub.store.repositories.base import Repository


class ServerRepository(Repository):
    async def ignores_scheduling(self, server: str) -> bool:
        """Whether ``server`` was found to publish at once a post it was asked to schedule."""
        query = sa.select(ServerTraitRow.ignores_scheduling_since).where(ServerTraitRow.server == server)
        return await self.session.scalar(query) is not None

    async def found_ignoring_scheduling(self, server: str) -> None:
        """Remembers that ``server`` ignores ``scheduled_at`` (the first time it was found stays)."""
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = insert(ServerTraitRow).values(server=server, ignores_scheduling_since=self.clock())
        await self.session.execute(statement.on_conflict_do_nothing(index_elements=[ServerTraitRow.server]))
