"""Coordinators' status links (kept as the hash of their token) and the opening of a public page early."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from hub.store.models import AnnouncementRow, StatusLinkRow
from hub.store.repositories.base import Repository


@dataclass(frozen=True, slots=True)
class StoredLink:
    """A status link as stored: the hash of its token, never the token."""

    token_hash: str
    announcement_id: int
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


def _link(row: StatusLinkRow) -> StoredLink:
    return StoredLink(
        token_hash=row.token_hash,
        announcement_id=row.announcement_id,
        created_by=row.created_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


class LinkRepository(Repository):
    async def add(
        self, token_hash: str, announcement_id: int, created_by: str, now: datetime, expires_at: datetime
    ) -> None:
        row = StatusLinkRow(
            token_hash=token_hash,
            announcement_id=announcement_id,
            created_by=created_by,
            created_at=now,
            expires_at=expires_at,
        )
        self.session.add(row)
        await self.session.flush()

    async def revoke_all(self, announcement_id: int, now: datetime) -> int:
        """Revokes every link of the announcement still in force; returns how many."""
        result = await self.session.execute(
            sa.update(StatusLinkRow)
            .where(StatusLinkRow.announcement_id == announcement_id, StatusLinkRow.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def by_hash(self, token_hash: str) -> StoredLink | None:
        row = await self.session.scalar(sa.select(StatusLinkRow).where(StatusLinkRow.token_hash == token_hash))
        return _link(row) if row else None

    async def public_since(self, announcement_id: int) -> datetime | None:
        query = sa.select(AnnouncementRow.public_since).where(AnnouncementRow.id == announcement_id)
        return await self.session.scalar(query)

    async def open_public(self, announcement_id: int, now: datetime) -> datetime:
        """Marks the public page as opened (the first time only); returns since when it is open."""
        await self.session.execute(
            sa.update(AnnouncementRow)
            .where(AnnouncementRow.id == announcement_id, AnnouncementRow.public_since.is_(None))
            .values(public_since=now)
        )
        return await self.public_since(announcement_id) or now
