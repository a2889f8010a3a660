"""Readings of the towns' post counts: the planned rounds and the snapshots each one took."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa

from hub.domain.model import AnnouncementState, DeliveryState, Platform
from hub.domain.reach import Counts, PostToRead, Round, Snapshot
from hub.store.models import AccountRow, AnnouncementRow, DeliveryRow, PostCountRow, ReachRoundRow
from hub.store.repositories.base import Repository

#: Announcements whose posts are (at least partly) online, and so worth reading.
_READABLE = (AnnouncementState.PUBLISHED.value, AnnouncementState.PARTIALLY_FAILED.value)


def _to_round(row: ReachRoundRow) -> Round:
    return Round(row.id, row.announcement_id, row.number, row.due_at, row.attempts, row.read_at, row.told_at)


class ReachRepository(Repository):
    async def unplanned(self, limit: int = 50) -> builtins.list[tuple[int, datetime]]:
        """Published announcements with no reading planned yet, with the time their last post went online."""
        planned = sa.select(ReachRoundRow.announcement_id)
        query = (
            sa.select(AnnouncementRow.id, sa.func.max(DeliveryRow.published_at))
            .join(DeliveryRow, DeliveryRow.announcement_id == AnnouncementRow.id)
            .where(AnnouncementRow.state.in_(_READABLE), AnnouncementRow.id.not_in(planned))
            .where(DeliveryRow.published_at.is_not(None))
            .group_by(AnnouncementRow.id)
            .limit(limit)
        )
        return [(i, at) for i, at in (await self.session.execute(query)) if at is not None]

    async def plan(self, announcement_id: int, times: Sequence[datetime]) -> None:
        for number, due in enumerate(times, start=1):
            self.session.add(ReachRoundRow(announcement_id=announcement_id, number=number, due_at=due))
        await self.session.flush()

    async def due(self, now: datetime, limit: int = 10) -> builtins.list[Round]:
        # A retracted announcement's readings are left unread: its posts are gone on purpose.
        query = (
            sa.select(ReachRoundRow)
            .join(AnnouncementRow, AnnouncementRow.id == ReachRoundRow.announcement_id)
            .where(ReachRoundRow.read_at.is_(None), ReachRoundRow.due_at <= now)
            .where(AnnouncementRow.state.in_(_READABLE))
            .order_by(ReachRoundRow.due_at)
            .limit(limit)
        )
        return [_to_round(row) for row in await self.session.scalars(query)]

    async def rounds(self, announcement_id: int) -> builtins.list[Round]:
        query = (
            sa.select(ReachRoundRow)
            .where(ReachRoundRow.announcement_id == announcement_id)
            .order_by(ReachRoundRow.number)
        )
        return [_to_round(row) for row in await self.session.scalars(query)]

    async def postpone(self, round_id: int, due_at: datetime) -> None:
        """A failed reading: tried again at ``due_at``."""
        row = await self.session.get(ReachRoundRow, round_id)
        if row is not None:
            row.attempts += 1
            row.due_at = due_at

    async def posts(self, announcement_id: int) -> builtins.list[PostToRead]:
        """The announcement's posts that went online (retracted ones are gone: not read)."""
        query = (
            sa.select(
                DeliveryRow.id,
                DeliveryRow.town_id,
                DeliveryRow.platform,
                DeliveryRow.remote_id,
                AccountRow.server,
                AccountRow.id,
            )
            .join(AccountRow, AccountRow.id == DeliveryRow.account_id)
            .where(DeliveryRow.announcement_id == announcement_id, DeliveryRow.state == DeliveryState.PUBLISHED.value)
            .where(DeliveryRow.remote_id.is_not(None))
            .order_by(DeliveryRow.id)
        )
        rows = await self.session.execute(query)
        return [
            PostToRead(i, town, Platform(platform), str(remote), server, account)
            for i, town, platform, remote, server, account in rows
        ]

    async def record(self, round_: Round, snapshots: Iterable[Snapshot]) -> None:
        """Keeps one round's snapshots and marks it read, in one transaction (a crash keeps neither)."""
        now = self.clock()
        for shot in snapshots:
            c = shot.counts
            self.session.add(
                PostCountRow(
                    delivery_id=shot.delivery_id,
                    round_number=round_.number,
                    taken_at=now,
                    likes=c.likes,
                    reposts=c.reposts,
                    replies=c.replies,
                    quotes=c.quotes,
                    deleted=c.deleted,
                )
            )
        await self.session.execute(sa.update(ReachRoundRow).where(ReachRoundRow.id == round_.id).values(read_at=now))

    async def snapshots(self, announcement_id: int, number: int) -> builtins.list[Snapshot]:
        query = (
            sa.select(PostCountRow, DeliveryRow.town_id, DeliveryRow.platform)
            .join(DeliveryRow, DeliveryRow.id == PostCountRow.delivery_id)
            .where(DeliveryRow.announcement_id == announcement_id, PostCountRow.round_number == number)
            .order_by(PostCountRow.delivery_id)
        )
        return [
            Snapshot(
                row.delivery_id,
                town,
                Platform(platform),
                Counts(row.likes, row.reposts, row.replies, row.quotes, row.deleted),
            )
            for row, town, platform in await self.session.execute(query)
        ]

    async def untold(self, limit: int = 20) -> builtins.list[tuple[Round, int]]:
        """Rounds read but not yet told in their room, with their coalition."""
        query = (
            sa.select(ReachRoundRow, AnnouncementRow.coalition_id)
            .join(AnnouncementRow, AnnouncementRow.id == ReachRoundRow.announcement_id)
            .where(ReachRoundRow.read_at.is_not(None), ReachRoundRow.told_at.is_(None))
            .order_by(ReachRoundRow.read_at, ReachRoundRow.id)
            .limit(limit)
        )
        return [(_to_round(row), coalition) for row, coalition in await self.session.execute(query)]

    async def mark_told(self, round_id: int) -> None:
        await self.session.execute(
            sa.update(ReachRoundRow).where(ReachRoundRow.id == round_id).values(told_at=self.clock())
        )
