"""Each town's sign-on (or refusal) of an announcement."""

from __future__ import annotations

import builtins
from collections.abc import Sequence

import sqlalchemy as sa

from hub.domain.model import SignOn, SignOnState, SignOnSummary, Town
from hub.store.models import CoalitionTownRow, SignOnRow, TownRow
from hub.store.repositories.base import Repository
from hub.store.repositories.mapping import to_signon, to_town


class SignOnRepository(Repository):
    async def rows(self, announcement_id: int) -> dict[int, SignOnRow]:
        query = sa.select(SignOnRow).where(SignOnRow.announcement_id == announcement_id)
        return {row.town_id: row for row in await self.session.scalars(query)}

    async def list(self, announcement_id: int, towns: Sequence[Town]) -> list[SignOn]:
        """The sign-on of each of ``towns``: a town with no row is pending."""
        rows = await self.rows(announcement_id)
        return [to_signon(town, rows.get(town.id)) for town in towns]

    async def get(self, announcement_id: int, town: Town) -> SignOn:
        query = sa.select(SignOnRow).where(SignOnRow.announcement_id == announcement_id, SignOnRow.town_id == town.id)
        return to_signon(town, await self.session.scalar(query))

    async def summary(
        self, announcement_id: int, coalition_id: int, latest: int, everyone_up_to: int = 0
    ) -> SignOnSummary:
        """Counts per state over the coalition's members, and at most ``latest`` towns per state — every town
        when there are no more than ``everyone_up_to``.

        Signed and declined towns come most recent first (by the time of their decision), pending towns in the
        members' order. A few small queries, however many members the coalition has.
        """
        members = sa.select(CoalitionTownRow.town_id).where(CoalitionTownRow.coalition_id == coalition_id)
        counts = await self._counts(announcement_id, members)
        if sum(counts.values()) <= everyone_up_to:
            latest = max(latest, sum(counts.values()))
        declined = await self._latest(announcement_id, members, SignOnState.DECLINED, latest)
        signed = await self._latest(announcement_id, members, SignOnState.SIGNED, latest)
        return SignOnSummary(counts, declined, signed, await self._pending(announcement_id, coalition_id, latest))

    async def counts(self, announcement_id: int, coalition_id: int) -> dict[SignOnState, int]:
        """How many of the coalition's members are in each state (every state named): one small query."""
        members = sa.select(CoalitionTownRow.town_id).where(CoalitionTownRow.coalition_id == coalition_id)
        return await self._counts(announcement_id, members)

    async def _counts(self, announcement_id: int, members: sa.Select[tuple[int]]) -> dict[SignOnState, int]:
        """How many members are in each state (those without a sign-on are pending)."""
        counted = (
            sa.select(SignOnRow.state, sa.func.count())
            .where(SignOnRow.announcement_id == announcement_id, SignOnRow.town_id.in_(members))
            .group_by(SignOnRow.state)
        )
        counts = dict.fromkeys(SignOnState, 0)
        for state, count in (await self.session.execute(counted)).tuples():
            counts[SignOnState(state)] += count
        total = await self.session.scalar(sa.select(sa.func.count()).select_from(members.subquery())) or 0
        counts[SignOnState.PENDING] = total - counts[SignOnState.SIGNED] - counts[SignOnState.DECLINED]
        return counts

    async def _latest(
        self, announcement_id: int, members: sa.Select[tuple[int]], state: SignOnState, latest: int
    ) -> builtins.list[SignOn]:
        query = (
            sa.select(SignOnRow, TownRow)
            .join(TownRow, TownRow.id == SignOnRow.town_id)
            .where(SignOnRow.announcement_id == announcement_id, SignOnRow.state == state.value)
            .where(SignOnRow.town_id.in_(members))
            .order_by(SignOnRow.at.desc(), SignOnRow.town_id.desc())
            .limit(latest)
        )
        return [to_signon(to_town(town), row) for row, town in (await self.session.execute(query)).tuples()]

    async def _pending(self, announcement_id: int, coalition_id: int, latest: int) -> builtins.list[SignOn]:
        query = (
            sa.select(TownRow, SignOnRow)
            .join(CoalitionTownRow, CoalitionTownRow.town_id == TownRow.id)
            .outerjoin(
                SignOnRow, sa.and_(SignOnRow.town_id == TownRow.id, SignOnRow.announcement_id == announcement_id)
            )
            .where(CoalitionTownRow.coalition_id == coalition_id)
            .where(sa.or_(SignOnRow.id.is_(None), SignOnRow.state == SignOnState.PENDING.value))
            .order_by(TownRow.name, TownRow.id)
            .limit(latest)
        )
        return [to_signon(to_town(town), row) for town, row in (await self.session.execute(query)).tuples()]

    async def record(
        self,
        announcement_id: int,
        town_id: int,
        state: SignOnState,
        *,
        by: str,
        version_number: int | None,
        reason: str | None = None,
        override_text: str | None = None,
    ) -> None:
        query = sa.select(SignOnRow).where(SignOnRow.announcement_id == announcement_id, SignOnRow.town_id == town_id)
        row = await self.session.scalar(query)
        if row is None:
            row = SignOnRow(announcement_id=announcement_id, town_id=town_id)
            self.session.add(row)
        elif state is SignOnState.PENDING and row.state == SignOnState.SIGNED.value:
            row.previous_version_number = row.version_number
        row.state, row.version_number, row.by_user, row.at = state.value, version_number, by, self.clock()
        row.reason, row.override_text = reason, override_text
        await self.session.flush()

    async def reset_signed(self, announcement_id: int) -> builtins.list[int]:
        """Puts every signed town back to pending after a new wording; returns those towns."""
        rows = await self.rows(announcement_id)
        reset = []
        for town_id, row in rows.items():
            if row.state == SignOnState.SIGNED.value:
                row.previous_version_number = row.version_number
                row.state, row.version_number, row.at = SignOnState.PENDING.value, None, self.clock()
                reset.append(town_id)
        await self.session.flush()
        return sorted(reset)

    async def erase_for_town(self, town_id: int) -> None:
        await self.session.execute(
            sa.update(SignOnRow)
            .where(SignOnRow.town_id == town_id)
            .values(by_user=None, override_text=None, reason=None)
        )
