"""Front ends' messages about announcements (cards, reactions, reminders)."""

from __future__ import annotations

import sqlalchemy as sa

from hub.domain.model import AnnouncementMessage
from hub.store.models import AnnouncementMessageRow
from hub.store.repositories.base import Repository
from hub.store.repositories.mapping import to_message


class MessageRepository(Repository):
    async def add(self, message: AnnouncementMessage) -> bool:
        """Records a message; False when the same message was already recorded for that purpose."""
        query = sa.select(AnnouncementMessageRow.id).where(
            AnnouncementMessageRow.message_id == message.message_id,
            AnnouncementMessageRow.purpose == message.purpose,
        )
        if await self.session.scalar(query) is not None:
            return False
        self.session.add(
            AnnouncementMessageRow(
                announcement_id=message.announcement_id,
                channel=message.channel,
                message_id=message.message_id,
                purpose=message.purpose,
                author=message.author,
                town_id=message.town_id,
                media_sha256=message.media,
                created_at=self.clock(),
            )
        )
        await self.session.flush()
        return True

    async def find(self, message_id: str) -> list[AnnouncementMessage]:
        query = (
            sa.select(AnnouncementMessageRow)
            .where(AnnouncementMessageRow.message_id == message_id)
            .order_by(AnnouncementMessageRow.id)
        )
        return [to_message(row) for row in await self.session.scalars(query)]

    async def of(
        self, announcement_id: int, purpose: str | None = None, town_id: int | None = None
    ) -> list[AnnouncementMessage]:
        query = sa.select(AnnouncementMessageRow).where(AnnouncementMessageRow.announcement_id == announcement_id)
        if purpose is not None:
            query = query.where(AnnouncementMessageRow.purpose == purpose)
        if town_id is not None:
            query = query.where(AnnouncementMessageRow.town_id == town_id)
        return [to_message(row) for row in await self.session.scalars(query.order_by(AnnouncementMessageRow.id))]

    async def remove(self, message_id: str, purpose: str) -> bool:
        result = await self.session.execute(
            sa.delete(AnnouncementMessageRow).where(
                AnnouncementMessageRow.message_id == message_id, AnnouncementMessageRow.purpose == purpose
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def remove_media(self, announcement_id: int, purpose: str, sha256: str) -> int:
        """Forgets the announcement's messages of ``purpose`` that carry image ``sha256``; returns how many."""
        result = await self.session.execute(
            sa.delete(AnnouncementMessageRow).where(
                AnnouncementMessageRow.announcement_id == announcement_id,
                AnnouncementMessageRow.purpose == purpose,
                AnnouncementMessageRow.media_sha256 == sha256,
            )
        )
        return int(getattr(result, "rowcount", 0))

    async def remove_for_town(self, town_id: int) -> int:
        """Forgets the messages recorded for a town (the reactions that signed or declined for it, each with
        the Matrix id of who reacted); returns how many."""
        result = await self.session.execute(
            sa.delete(AnnouncementMessageRow).where(AnnouncementMessageRow.town_id == town_id)
        )
        return int(getattr(result, "rowcount", 0))
