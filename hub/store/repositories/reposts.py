"""The coalition's reposts of its towns' posts: what a coordinator asked for, and each repost's progress."""

from __future__ import annotations

import builtins
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from hub.domain.model import AnnouncementState, Platform
from hub.domain.reach import REPOST_STAGES
from hub.store.models import (
    AccountRow,
    AnnouncementRow,
    CoalitionAccountRow,
    DeliveryRow,
    RepostRequestRow,
    RepostRow,
)
from hub.store.repositories.base import Repository

PENDING, DONE, FAILED, UNDOING, UNDONE = "pending", "done", "failed", "undoing", "undone"
_ONLINE = (AnnouncementState.PUBLISHED.value, AnnouncementState.PARTIALLY_FAILED.value)
#: The stages after which nothing more is told: done, stopped.
_TOLD = REPOST_STAGES[-2:]
_WITHDRAWN = (AnnouncementState.RETRACTING.value, AnnouncementState.RETRACTED.value)


@dataclass(frozen=True, slots=True)
class Repost:
    """One repost to make (or undo), with what it points to."""

    id: int
    announcement_id: int
    account_id: int
    platform: Platform
    state: str
    remote_key: str | None
    remote_id: str | None
    attempts: int
    #: The town's post: its id on its network (Bluesky at-uri, Mastodon status id), public URL and server.
    target_id: str
    target_url: str
    target_server: str


class RepostRepository(Repository):
    async def ask(self, announcement_id: int, by: str, order: Sequence[int]) -> None:
        """Records the request (a second one only changes the order of what is not planned yet)."""
        row = await self.session.get(RepostRequestRow, announcement_id)
        if row is None:
            row = RepostRequestRow(announcement_id=announcement_id, created_at=self.clock())
            self.session.add(row)
        row.requested_by, row.order = by, list(order)

    async def asked(self, announcement_id: int) -> bool:
        return await self.session.get(RepostRequestRow, announcement_id) is not None

    async def unplanned(self) -> builtins.list[tuple[int, int, builtins.list[int]]]:
        """Requests whose announcement is online and not planned yet: (announcement, coalition, town order)."""
        query = (
            sa.select(RepostRequestRow, AnnouncementRow.coalition_id)
            .join(AnnouncementRow, AnnouncementRow.id == RepostRequestRow.announcement_id)
            .where(RepostRequestRow.planned_at.is_(None), AnnouncementRow.state.in_(_ONLINE))
        )
        return [(r.announcement_id, c, [int(t) for t in r.order]) for r, c in await self.session.execute(query)]

    async def posts(self, announcement_id: int) -> builtins.list[tuple[int, int, Platform]]:
        """The announcement's posts online: (delivery, town, network)."""
        query = sa.select(DeliveryRow.id, DeliveryRow.town_id, DeliveryRow.platform).where(
            DeliveryRow.announcement_id == announcement_id,
            DeliveryRow.state == "published",
            DeliveryRow.remote_id.is_not(None),
        )
        return [(d, t, Platform(p)) for d, t, p in await self.session.execute(query)]

    async def plan(self, announcement_id: int, planned: Sequence[tuple[int, int, datetime]]) -> None:
        """One pending repost per (delivery, coalition account, when); marks the request planned."""
        now = self.clock()
        for delivery_id, account_id, due in planned:
            self.session.add(
                RepostRow(
                    announcement_id=announcement_id,
                    delivery_id=delivery_id,
                    coalition_account_id=account_id,
                    state=PENDING,
                    due_at=due,
                    created_at=now,
                )
            )
        await self.session.execute(
            sa.update(RepostRequestRow)
            .where(RepostRequestRow.announcement_id == announcement_id)
            .values(planned_at=now)
        )

    async def withdraw(self, now: datetime) -> int:
        """Reposts of retracted announcements: made ones are to undo (from ``now``), pending ones are dropped."""
        withdrawn = sa.select(AnnouncementRow.id).where(AnnouncementRow.state.in_(_WITHDRAWN))
        mine = RepostRow.announcement_id.in_(withdrawn)
        dropped = await self.session.execute(
            sa.update(RepostRow).where(mine, RepostRow.state == PENDING).values(state=UNDONE)
        )
        undo = await self.session.execute(
            sa.update(RepostRow).where(mine, RepostRow.state == DONE).values(state=UNDOING, due_at=now, attempts=0)
        )
        return int(getattr(dropped, "rowcount", 0)) + int(getattr(undo, "rowcount", 0))

    async def due(self, now: datetime, limit: int = 20) -> builtins.list[Repost]:
        query = (
            sa.select(
                RepostRow,
                CoalitionAccountRow.platform,
                DeliveryRow.remote_id,
                DeliveryRow.remote_url,
                AccountRow.server,
            )
            .join(CoalitionAccountRow, CoalitionAccountRow.id == RepostRow.coalition_account_id)
            .join(DeliveryRow, DeliveryRow.id == RepostRow.delivery_id)
            .join(AccountRow, AccountRow.id == DeliveryRow.account_id)
            .where(RepostRow.state.in_((PENDING, UNDOING)), RepostRow.due_at <= now)
            .order_by(RepostRow.due_at, RepostRow.id)
            .limit(limit)
        )
        return [
            Repost(
                r.id,
                r.announcement_id,
                r.coalition_account_id,
                Platform(p),
                r.state,
                r.remote_key,
                r.remote_id,
                r.attempts,
                str(target),
                str(url or ""),
                server,
            )
            for r, p, target, url, server in await self.session.execute(query)
        ]

    async def keep_first_key(self, repost_id: int, key: str) -> str:
        """Stores ``key`` unless the repost has one; returns the stored key."""
        await self.session.execute(
            sa.update(RepostRow).where(RepostRow.id == repost_id, RepostRow.remote_key.is_(None)).values(remote_key=key)
        )
        stored = await self.session.scalar(sa.select(RepostRow.remote_key).where(RepostRow.id == repost_id))
        return str(stored)

    async def finish(self, repost_id: int, state: str, remote_id: str | None = None, error: str | None = None) -> None:
        values: dict[str, object] = {"state": state, "last_error": error, "done_at": self.clock()}
        if remote_id is not None:
            values["remote_id"] = remote_id
        await self.session.execute(sa.update(RepostRow).where(RepostRow.id == repost_id).values(**values))

    async def later(self, repost_id: int, due_at: datetime, error: str) -> None:
        await self.session.execute(
            sa.update(RepostRow)
            .where(RepostRow.id == repost_id)
            .values(due_at=due_at, last_error=error, attempts=RepostRow.attempts + 1)
        )

    async def progress(self, announcement_id: int) -> dict[str, int]:
        query = sa.select(RepostRow.state).where(RepostRow.announcement_id == announcement_id)
        return dict(Counter(await self.session.scalars(query)))

    async def telling(self) -> builtins.list[tuple[int, int, str | None]]:
        """Planned requests whose end the room was not told yet: (announcement, coalition, last stage told)."""
        query = (
            sa.select(RepostRequestRow.announcement_id, AnnouncementRow.coalition_id, RepostRequestRow.told)
            .join(AnnouncementRow, AnnouncementRow.id == RepostRequestRow.announcement_id)
            .where(RepostRequestRow.planned_at.is_not(None), sa.func.coalesce(RepostRequestRow.told, "").not_in(_TOLD))
        )
        return [(a, c, told) for a, c, told in await self.session.execute(query)]

    async def told(self, announcement_id: int, stage: str) -> None:
        await self.session.execute(
            sa.update(RepostRequestRow).where(RepostRequestRow.announcement_id == announcement_id).values(told=stage)
        )

    async def span(self, announcement_id: int) -> tuple[datetime | None, datetime | None]:
        """When the first and the last repost are due (None, None before the plan)."""
        query = sa.select(sa.func.min(RepostRow.due_at), sa.func.max(RepostRow.due_at)).where(
            RepostRow.announcement_id == announcement_id
        )
        first, last = (await self.session.execute(query)).one()
        return first, last
