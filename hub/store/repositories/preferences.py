"""People's own preferences."""

from __future__ import annotations

import sqlalchemy as sa

from hub.store.models import UserPreferenceRow
from hub.store.repositories.base import Repository


class PreferenceRepository(Repository):
    async def language(self, user_id: str) -> str | None:
        row = await self.session.get(UserPreferenceRow, user_id)
        return row.language if row else None

    async def set_language(self, user_id: str, language: str) -> None:
        row = await self.session.get(UserPreferenceRow, user_id)
        if row is None:
            self.session.add(UserPreferenceRow(user_id=user_id, language=language, updated_at=self.clock()))
        else:
            row.language, row.updated_at = language, self.clock()
        await self.session.flush()

    async def forget(self, user_id: str) -> bool:
        result = await self.session.execute(sa.delete(UserPreferenceRow).where(UserPreferenceRow.user_id == user_id))
        return bool(getattr(result, "rowcount", 0))
