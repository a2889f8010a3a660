"""What every repository shares: the unit of work's session and the clock that dates what it writes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, Executable
from sqlalchemy.ext.asyncio import AsyncSession


class Repository:
    """The queries of one noun, run in the session of one unit of work.

    Every time stamp a repository writes comes from ``clock`` (the hub's), so that a test that moves the clock
    sees the same times in the database as in the services.
    """

    def __init__(self, session: AsyncSession, clock: Callable[[], datetime]) -> None:
        self.session = session
        self.clock = clock

    async def core(self, statement: Executable, params: Any = None) -> CursorResult[Any]:
        """``statement`` on the unit's connection, past the ORM's execution layers (their bookkeeping for
        entities and bulk updates): for the statements of plain rows run at the instant, once per batch."""
        connection = await self.session.connection()
        return await connection.execute(statement, params)
