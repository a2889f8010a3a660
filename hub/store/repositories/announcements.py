"""Announcements and their versions."""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from hub.domain.model import Announcement, AnnouncementState, Version, Wording
from hub.domain.quorum import Quorum
from hub.store.models import AnnouncementRow, VersionRow
from hub.store.repositories.base import Repository
from hub.store.repositories.mapping import to_version


class AnnouncementRepository(Repository):
    async def create(
        self,
        coalition_id: int,
        title: str,
        *,
        language: str,
        timezone: str,
        allow_overrides: bool,
        created_by: str,
        quorum: Quorum | None = None,
    ) -> int:
        now = self.clock()
        row = AnnouncementRow(
            coalition_id=coalition_id,
            title=title,
            state=AnnouncementState.DRAFT.value,
            language=language,
            timezone=timezone,
            allow_overrides=allow_overrides,
            created_by=created_by,
            created_at=now,
            updated_at=now,
            **_quorum_columns(quorum),
        )
        self.session.add(row)
        await self.session.flush()
        return row.id

    async def add_version(self, announcement_id: int, wording: Wording, content_hash: str, created_by: str) -> Version:
        number = await self.session.scalar(
            sa.select(sa.func.coalesce(sa.func.max(VersionRow.number), 0)).where(
                VersionRow.announcement_id == announcement_id
            )
        )
        row = VersionRow(
            announcement_id=announcement_id,
            number=int(number or 0) + 1,
            text=wording.text,
            variants={p.value: t for p, t in wording.variants.items()},
            images=[
                {
                    "sha256": i.sha256,
                    "alt": i.alt,
                    "mime": i.mime,
                    "width": i.width,
                    "height": i.height,
                    "size": i.size,
                }
                for i in wording.images
            ],
            content_hash=content_hash,
            created_by=created_by,
            created_at=self.clock(),
        )
        self.session.add(row)
        await self.session.flush()
        await self.update(announcement_id, current_version=row.number)
        return to_version(row)

    async def get(self, announcement_id: int, *, for_update: bool = False) -> Announcement | None:
        query = sa.select(AnnouncementRow).where(AnnouncementRow.id == announcement_id)
        if for_update:
            query = query.with_for_update()
        row = await self.session.scalar(query)
        return await self._announcement(row) if row else None

    async def list(
        self, coalition_id: int | None = None, states: Iterable[AnnouncementState] | None = None
    ) -> builtins.list[Announcement]:
        query = sa.select(AnnouncementRow).order_by(AnnouncementRow.id)
        if coalition_id is not None:
            query = query.where(AnnouncementRow.coalition_id == coalition_id)
        if states is not None:
            query = query.where(AnnouncementRow.state.in_([s.value for s in states]))
        return [await self._announcement(row) for row in await self.session.scalars(query)]

    async def update(self, announcement_id: int, **values: Any) -> None:
        """Sets columns by name; ``quorum`` (a :class:`Quorum` or None) sets the columns that hold it."""
        if "quorum" in values:
            values |= _quorum_columns(values.pop("quorum"))
        values = {k: (v.value if isinstance(v, AnnouncementState) else v) for k, v in values.items()}
        await self.session.execute(
            sa.update(AnnouncementRow)
            .where(AnnouncementRow.id == announcement_id)
            .values(updated_at=self.clock(), **values)
        )

    async def quorum_judged(self, now: datetime) -> builtins.list[int]:
        """The open announcements with a quorum whose moment has come (the sign-on deadline, else the
        publication instant) and whose room was not told yet that it was missed."""
        moment = sa.func.coalesce(AnnouncementRow.deadline, AnnouncementRow.publish_at)
        query = sa.select(AnnouncementRow.id).where(
            AnnouncementRow.state == AnnouncementState.OPEN.value,
            sa.or_(AnnouncementRow.quorum_towns.is_not(None), AnnouncementRow.quorum_percent.is_not(None)),
            AnnouncementRow.quorum_missed_at.is_(None),
            moment <= now,
        )
        return list(await self.session.scalars(query.order_by(AnnouncementRow.id)))

    async def versions(self, announcement_id: int) -> builtins.list[Version]:
        query = sa.select(VersionRow).where(VersionRow.announcement_id == announcement_id).order_by(VersionRow.number)
        return [to_version(row) for row in await self.session.scalars(query)]

    async def _announcement(self, row: AnnouncementRow) -> Announcement:
        version = None
        if row.current_version is not None:
            version_row = await self.session.scalar(
                sa.select(VersionRow).where(
                    VersionRow.announcement_id == row.id, VersionRow.number == row.current_version
                )
            )
            version = to_version(version_row) if version_row else None
        return Announcement(
            id=row.id,
            coalition_id=row.coalition_id,
            title=row.title,
            state=AnnouncementState(row.state),
            language=row.language,
            allow_overrides=row.allow_overrides,
            created_by=row.created_by,
            created_at=row.created_at,
            current_version=version,
            deadline=row.deadline,
            publish_at=row.publish_at,
            timezone=row.timezone,
            quorum=_quorum(row),
            quorum_missed_at=row.quorum_missed_at,
            prestage=row.prestage,
        )


def _quorum_columns(quorum: Quorum | None) -> dict[str, int | None]:
    """The columns that hold ``quorum`` (both empty when there is none), for :meth:`create` and :meth:`update`."""
    return {"quorum_towns": quorum.towns if quorum else None, "quorum_percent": quorum.percent if quorum else None}


def _quorum(row: AnnouncementRow) -> Quorum | None:
    if row.quorum_towns is not None:
        return Quorum(towns=row.quorum_towns)
    return Quorum(percent=row.quorum_percent) if row.quorum_percent is not None else None
