"""The outbox's queries: claiming due deliveries, recording the outcomes of attempts, pre-flight.

Claiming is one statement: an ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING``, so that
several workers on one PostgreSQL never take the same delivery; SQLite has one writer at a time (transactions
begin immediately, see :mod:`hub.store.database`), which gives the same guarantee there. Workers' heartbeats
are :mod:`hub.store.repositories.workers`, the reports a failure leaves :mod:`hub.store.repositories.reports`.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa

from hub.domain.model import (
    AnnouncementState,
    Delivery,
    DeliveryState,
    Failure,
    Platform,
    Progress,
    ReportKind,
)
from hub.domain.prestage import on_server
from hub.store.models import AnnouncementRow, DeliveryRow, ReportRow, WorkerRow
from hub.store.repositories.base import Repository
from hub.store.repositories.mapping import (
    WORKING_COLUMNS,
    failure_json,
    failure_of,
    to_delivery,
    working_delivery,
)
from hub.store.repositories.unstagings import unstage
from hub.store.threads import MAIN, READY_TO_DELETE, READY_TO_POST, cancel_followups, part_of, reply_targets

_D, _A = DeliveryState, AnnouncementState
_CLAIMABLE = sa.or_(
    sa.and_(DeliveryRow.state == _D.PENDING.value, AnnouncementRow.state == _A.PUBLISHING.value, READY_TO_POST),
    sa.and_(DeliveryRow.state == _D.RETRACTING.value, AnnouncementRow.state == _A.RETRACTING.value, READY_TO_DELETE),
)
_DELIVERIES = cast(sa.Table, DeliveryRow.__table__)
#: Records a post made: one compiled statement, executed for a whole batch (executemany).
_PUBLISHED = (
    sa.update(_DELIVERIES)
    .where(
        _DELIVERIES.c.id == sa.bindparam("b_id"),
        _DELIVERIES.c.state != _D.PUBLISHED.value,  # not NOT IN: expanding lists cannot be executed many times
        _DELIVERIES.c.state != _D.RETRACTED.value,
    )
    .values(
        state=_D.PUBLISHED.value,
        claimed_by=None,
        remote_id=sa.bindparam("b_remote_id"),
        remote_url=sa.bindparam("b_remote_url"),
        published_at=sa.bindparam("b_at"),
        error=None,
        attempts=_DELIVERIES.c.attempts + 1,
    )
)
#: A pre-flight's outcome, prepared or failed: each statement executed once for a whole batch (executemany).
_PREPARED = (
    sa.update(_DELIVERIES)
    .where(_DELIVERIES.c.id == sa.bindparam("b_id"), _DELIVERIES.c.state == _D.PENDING.value)
    .values(preflight_error=None, prepared=sa.bindparam("b_prepared"))
)
_STAGED = (
    sa.update(_DELIVERIES)
    .where(_DELIVERIES.c.id == sa.bindparam("b_id"), _DELIVERIES.c.state == _D.PENDING.value)
    .values(schedule=sa.bindparam("b_schedule"))
)
_NOT_PREPARED = (
    sa.update(_DELIVERIES)
    .where(_DELIVERIES.c.id == sa.bindparam("b_id"), _DELIVERIES.c.state == _D.PENDING.value)
    .values(preflight_error=sa.bindparam("b_error"))
)
#: What a claim reads back: what the worker acts on. Not the dates nor the errors kept for the room, which
#: thousands of claimed rows at the instant would parse (dates and JSON) for nothing. The working columns
#: first, in :func:`~hub.store.repositories.mapping.working_delivery`'s order (see :func:`_claimed`).
_CLAIMED_COLUMNS = tuple(
    _DELIVERIES.c[name] for name in (*WORKING_COLUMNS, "version_number", "remote_key", "prepared", "claims", "schedule")
)
_DUE = (
    sa.select(DeliveryRow.id)
    .join(AnnouncementRow, AnnouncementRow.id == DeliveryRow.announcement_id)
    .where(_CLAIMABLE, DeliveryRow.next_attempt_at <= sa.bindparam("b_now"))
    .order_by(DeliveryRow.next_attempt_at, DeliveryRow.id)
    .limit(sa.bindparam("b_limit", type_=sa.Integer))
    .with_for_update(of=DeliveryRow, skip_locked=True)
)
#: Takes the due deliveries; plain rows, not ORM objects: thousands are claimed at the instant, and nothing here
#: is changed through the session (building the objects cost more CPU than the post's request).
_CLAIM = (
    sa.update(_DELIVERIES)
    .where(_DELIVERIES.c.id.in_(_DUE.scalar_subquery()))
    .values(
        state=DeliveryState.CLAIMED.value,
        claimed_by=sa.bindparam("b_worker"),
        claimed_until=None,
        updated_at=sa.bindparam("b_now"),
        claims=DeliveryRow.claims + 1,
        remote_key=sa.case(
            # The key the publishers must find stored before they send, written by the claim itself (committed
            # before any request), so that at the instant a post is one request and no write: Mastodon's first
            # attempt time, and the Bluesky rkey the pre-flight chose. A key stored earlier is kept.
            (DeliveryRow.remote_key.is_not(None), DeliveryRow.remote_key),
            (DeliveryRow.platform == Platform.MASTODON.value, sa.bindparam("b_now_text", type_=sa.String)),
            (DeliveryRow.platform == Platform.BLUESKY.value, DeliveryRow.prepared["rkey"].as_string()),
            else_=None,
        ),
    )
    .returning(*_CLAIMED_COLUMNS)
)
#: A claimed delivery goes back to what it was: a post to delete if it has one, else a post to make.
_UNCLAIMED = sa.case(
    (DeliveryRow.remote_id.is_not(None), DeliveryState.RETRACTING.value), else_=DeliveryState.PENDING.value
)


#: Where a claimed row holds its parent's id.
_PARENT = WORKING_COLUMNS.index("parent_id")


def _claimed(row: tuple[Any, ...], parents: dict[int, str]) -> Claimed:
    """A claimed row (:data:`_CLAIMED_COLUMNS`), its values unpacked at once: read by name, the thousands of
    rows claimed at the instant cost more CPU than building their deliveries."""
    *working, version_number, remote_key, prepared, claims, schedule = row
    delivery = working_delivery(*working)  # its dates and errors, not read, are left unset
    parent = parents.get(delivery.parent_id) if delivery.parent_id is not None else None
    return Claimed(delivery, version_number, remote_key, prepared, claims == 1, parent, schedule)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery a worker holds, with what it needs to act: prepared uploads, the stored remote key."""

    delivery: Delivery
    version_number: int
    remote_key: str | None
    prepared: dict[str, Any] | None
    #: True on the delivery's first claim: nothing was sent for it before.
    first_attempt: bool = False
    #: The remote id of a follow-up's or a pin's parent post (the post it answers, or the post it pins).
    parent_remote_id: str | None = None
    #: Where its pre-staged scheduled status stands (see :mod:`hub.domain.prestage`), if it was pre-staged.
    schedule: dict[str, Any] | None = None

    @property
    def deleting(self) -> bool:
        """True when the task is to delete the delivery's post (the announcement is being retracted)."""
        return self.delivery.remote_id is not None


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """What became of one attempt: published (``remote_id``), retracted, to retry at ``retry_at``, or failed."""

    delivery_id: int
    state: DeliveryState
    remote_id: str | None = None
    remote_url: str | None = None
    retry_at: datetime | None = None
    failure: Failure | None = None
    detail: str | None = None
    #: When the server answered: a post made is dated by it (else by the write, a batch later).
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Preflighted:
    """A delivery's pre-flight: what the publisher will reuse, or the problem found."""

    delivery_id: int
    prepared: dict[str, Any] | None
    failure: Failure | None = None
    #: What became of its pre-staging, if it was tried (see :mod:`hub.domain.prestage`).
    schedule: dict[str, Any] | None = None


class OutboxRepository(Repository):
    async def claim(self, worker_id: str, now: datetime, limit: int) -> builtins.list[Claimed]:
        """Takes up to ``limit`` due deliveries for ``worker_id``, oldest due first."""
        # One statement built once: thousands of posts at the instant are claimed by a dozen executions of it.
        params = {"b_worker": worker_id, "b_now": now, "b_now_text": now.isoformat(), "b_limit": limit}
        rows = [tuple(row) for row in (await self.core(_CLAIM, params)).all()]
        parents = await reply_targets(self.session, (row[_PARENT] for row in rows if row[_PARENT] is not None))
        return [_claimed(row, parents) for row in rows]

    async def record(self, worker_id: str, outcomes: Sequence[AttemptOutcome], now: datetime) -> int:
        """Writes the outcomes of this worker's attempts; returns how many were written.

        A post made is always recorded (it exists, whoever holds the delivery now); any other outcome only
        while the delivery is still this worker's, so a worker taken for dead cannot undo its successor's work.
        Posts made (nearly every outcome at the instant) are written by one statement executed for all of them.
        """
        published = [o for o in outcomes if o.state is DeliveryState.PUBLISHED]
        written = await self._record_published(published, now) if published else 0
        failed = [o.delivery_id for o in outcomes if o.state is DeliveryState.FAILED]
        for outcome in outcomes:
            if outcome.state is DeliveryState.PUBLISHED:
                continue
            values: dict[str, Any] = {"state": outcome.state.value, "claimed_by": None, "updated_at": now}
            values |= _other_outcome(outcome)
            statement = (
                sa.update(DeliveryRow)
                .where(
                    DeliveryRow.id == outcome.delivery_id,
                    DeliveryRow.claimed_by == worker_id,
                    DeliveryRow.state == DeliveryState.CLAIMED.value,
                )
                .values(**values)
            )
            returned = await self.session.execute(
                statement.returning(
                    DeliveryRow.announcement_id, DeliveryRow.town_id, DeliveryRow.platform, DeliveryRow.kind
                ).execution_options(synchronize_session=False)
            )
            row = returned.first()
            if row is None:
                continue
            written += 1
            if outcome.state is DeliveryState.FAILED:
                announcement_id, town_id, platform, kind = row
                failure = part_of(outcome.failure, kind)
                await self._report_failure(announcement_id, town_id, platform, failure, now)
        await cancel_followups(self.session, failed, now)
        return written

    async def _record_published(self, outcomes: Sequence[AttemptOutcome], now: datetime) -> int:
        rows = [
            {"b_id": o.delivery_id, "b_remote_id": o.remote_id, "b_remote_url": o.remote_url, "b_at": o.at or now}
            for o in outcomes
        ]
        result = await self.core(_PUBLISHED.values(updated_at=now), rows)
        counted = int(getattr(result, "rowcount", -1))
        return counted if counted >= 0 else len(rows)

    async def _report_failure(
        self, announcement_id: int, town_id: int, platform: str, failure: Failure | None, now: datetime
    ) -> None:
        coalition_id = await self.session.scalar(
            sa.select(AnnouncementRow.coalition_id).where(AnnouncementRow.id == announcement_id)
        )
        if coalition_id is not None:
            self.session.add(
                ReportRow(
                    kind=ReportKind.DELIVERY_FAILED.value,
                    coalition_id=coalition_id,
                    announcement_id=announcement_id,
                    town_id=town_id,
                    platform=platform,
                    problem=failure_json(failure),
                    created_at=now,
                )
            )

    async def release(self, worker_id: str) -> int:
        """Hands back every delivery ``worker_id`` holds (a graceful stop)."""
        return await self._unclaim(DeliveryRow.claimed_by == worker_id)

    async def release_idle(self, worker_id: str, busy: Collection[int]) -> int:
        """Hands back the deliveries ``worker_id`` holds, but those in ``busy`` (the ones it works on)."""
        held = await self.session.scalars(
            sa.select(DeliveryRow.id).where(
                DeliveryRow.claimed_by == worker_id, DeliveryRow.state == DeliveryState.CLAIMED.value
            )
        )
        idle = [i for i in held if i not in busy]
        return await self._unclaim(DeliveryRow.id.in_(idle)) if idle else 0

    async def recover(self, alive_since: datetime, sparing: str | None = None) -> int:
        """Hands back the claims of workers whose last heartbeat is older than ``alive_since``, but those of
        ``sparing`` (the worker asking: alive, whatever its heartbeat says)."""
        alive = sa.select(WorkerRow.id).where(WorkerRow.heartbeat_at >= alive_since)
        gone: sa.ColumnElement[bool] = DeliveryRow.claimed_by.not_in(alive)
        silent: sa.ColumnElement[bool] = WorkerRow.heartbeat_at < alive_since
        if sparing is not None:
            gone = sa.and_(gone, DeliveryRow.claimed_by != sparing)
            silent = sa.and_(silent, WorkerRow.id != sparing)
        recovered = await self._unclaim(sa.or_(DeliveryRow.claimed_by.is_(None), gone))
        await self.session.execute(sa.delete(WorkerRow).where(silent))
        return recovered

    async def _unclaim(self, condition: sa.ColumnElement[bool]) -> int:
        result = await self.session.execute(
            sa.update(DeliveryRow)
            .where(DeliveryRow.state == DeliveryState.CLAIMED.value, condition)
            .values(state=_UNCLAIMED, claimed_by=None, claimed_until=None, updated_at=self.clock())
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0))

    async def untried(self, announcement_id: int) -> bool:
        """True if one of the announcement's posts waits without ever having been tried (their follow-ups and
        pins wait for them, untried, without that being a stall)."""
        query = sa.select(DeliveryRow.id).where(
            DeliveryRow.announcement_id == announcement_id,
            DeliveryRow.state == DeliveryState.PENDING.value,
            DeliveryRow.attempts == 0,
            MAIN,
        )
        return await self.session.scalar(query.limit(1)) is not None

    async def next_due(self) -> datetime | None:
        """When the next claimable delivery falls due (None: nothing waits)."""
        query = (
            sa.select(sa.func.min(DeliveryRow.next_attempt_at))
            .join(AnnouncementRow, AnnouncementRow.id == DeliveryRow.announcement_id)
            .where(_CLAIMABLE)
        )
        return await self.session.scalar(query)

    # --- pre-flight ----------------------------------------------------------------------------------

    async def to_prepare(self, announcement_id: int, retry_transient: bool) -> builtins.list[Claimed]:
        """Pending deliveries never prepared (and, if asked, those whose last pre-flight failed transiently)."""
        # A follow-up's job needs its parent's remote id, known once the parent is published: its claim prepares it.
        query = sa.select(DeliveryRow).where(
            DeliveryRow.announcement_id == announcement_id,
            DeliveryRow.state == DeliveryState.PENDING.value,
            DeliveryRow.prepared_at.is_(None),
            MAIN,
        )
        rows = [r for r in await self.session.scalars(query) if _worth_preparing(r.preflight_error, retry_transient)]
        return [Claimed(to_delivery(r), r.version_number, r.remote_key, r.prepared, schedule=r.schedule) for r in rows]

    async def prepared(
        self, delivery_id: int, prepared: dict[str, Any] | None, failure: Failure | None, now: datetime
    ) -> None:
        values: dict[str, Any] = {"preflight_error": failure_json(failure), "updated_at": now}
        if failure is None:
            values |= {"prepared": prepared, "prepared_at": now}
        await self.session.execute(
            sa.update(DeliveryRow)
            .where(DeliveryRow.id == delivery_id, DeliveryRow.state == DeliveryState.PENDING.value)
            .values(**values)
        )

    async def prepared_many(self, outcomes: Sequence[Preflighted], now: datetime) -> None:
        """:meth:`prepared` for a batch of deliveries, in two statements."""
        done = [{"b_id": o.delivery_id, "b_prepared": o.prepared} for o in outcomes if o.failure is None]
        failed = [{"b_id": o.delivery_id, "b_error": failure_json(o.failure)} for o in outcomes if o.failure]
        if done:
            await self.session.execute(_PREPARED.values(updated_at=now, prepared_at=now), done)
        if failed:
            await self.session.execute(_NOT_PREPARED.values(updated_at=now), failed)
        staged = [{"b_id": o.delivery_id, "b_schedule": o.schedule} for o in outcomes if o.schedule is not None]
        if staged:
            await self.session.execute(_STAGED.values(updated_at=now), staged)

    async def prepare_again(self, account_id: int, same_account: bool = True) -> builtins.list[int]:
        """Forgets the pre-flight of an account's pending deliveries (re-linked); returns their announcements.

        Their pre-staged scheduled statuses belong to the remote account, not to the link: with ``same_account``
        (a new token for it) they stay and are found again; linked to another account, they are forgotten, as the
        hub can no longer reach the former one (the caller tells the operator)."""
        query = sa.select(DeliveryRow.announcement_id).where(
            DeliveryRow.account_id == account_id, DeliveryRow.state == DeliveryState.PENDING.value, MAIN
        )
        announcements = sorted(set(await self.session.scalars(query)))
        values: dict[str, Any] = {"prepared": None, "prepared_at": None, "preflight_error": None}
        if not same_account:
            values["schedule"] = None
        await self.session.execute(
            sa.update(DeliveryRow)
            # Only posts: a pin keeps what it stored of the previous pin.
            .where(DeliveryRow.account_id == account_id, DeliveryRow.state == DeliveryState.PENDING.value, MAIN)
            .values(**values, updated_at=self.clock())
        )
        return announcements

    async def staged_of(self, account_id: int) -> int:
        """How many of an account's pending posts may have a scheduled status on its server."""
        query = sa.select(DeliveryRow.schedule).where(
            DeliveryRow.account_id == account_id,
            DeliveryRow.state == DeliveryState.PENDING.value,
            DeliveryRow.schedule.is_not(None),
        )
        return sum(1 for schedule in await self.session.scalars(query) if on_server(schedule))

    # --- an announcement's deliveries --------------------------------------------------------------------

    async def progress(self, announcement_id: int) -> Progress:
        """The towns' posts by state; ``waiting`` counts their follow-ups too (a publication ends with them)."""
        query = (
            sa.select(DeliveryRow.state, MAIN, sa.func.count())
            .where(DeliveryRow.announcement_id == announcement_id)
            .group_by(DeliveryRow.state, MAIN)
        )
        counts: dict[DeliveryState, int] = {}
        waiting = 0
        for state, main, n in (await self.session.execute(query)).tuples():
            if DeliveryState(state) in (_D.PENDING, _D.CLAIMED, _D.RETRACTING):
                waiting += int(n)
            if main:
                counts[DeliveryState(state)] = int(n)
        return Progress(
            total=sum(counts.values()) - counts.get(DeliveryState.CANCELLED, 0),
            published=counts.get(DeliveryState.PUBLISHED, 0),
            failed=counts.get(DeliveryState.FAILED, 0),
            waiting=waiting,
            retracted=counts.get(DeliveryState.RETRACTED, 0),
        )

    async def start_retracting(self, announcement_id: int, now: datetime) -> int:
        """Queues the deletion of every post the announcement made, follow-ups included (deleted first: see
        :mod:`hub.store.threads`); returns how many towns' posts. A post that failed after its pre-staging may be
        out all the same (its server published it; confirming it failed): its scheduled status is queued to be
        taken back, or the status it became deleted."""
        failed = sa.and_(DeliveryRow.announcement_id == announcement_id, MAIN)
        await unstage(self.session, failed, now, DeliveryState.FAILED)
        await self._retract(announcement_id, ~MAIN, now)
        return await self._retract(announcement_id, MAIN, now)

    async def _retract(self, announcement_id: int, kind: sa.ColumnElement[bool], now: datetime) -> int:
        result = await self.session.execute(
            sa.update(DeliveryRow)
            .where(
                DeliveryRow.announcement_id == announcement_id,
                kind,
                DeliveryRow.state == DeliveryState.PUBLISHED.value,
                DeliveryRow.remote_id.is_not(None),
            )
            .values(state=DeliveryState.RETRACTING.value, next_attempt_at=now, attempts=0, error=None, updated_at=now)
        )
        return int(getattr(result, "rowcount", 0))

    async def reschedule(self, announcement_id: int, now: datetime) -> None:
        """Makes an announcement's pending deliveries due now (a late publication the coordinator confirmed)."""
        await self.session.execute(
            sa.update(DeliveryRow)
            .where(DeliveryRow.announcement_id == announcement_id, DeliveryRow.state == DeliveryState.PENDING.value)
            .values(next_attempt_at=now, updated_at=now)
        )

    async def failed(self, announcement_id: int, ids: Iterable[int], failure: Failure, now: datetime) -> None:
        """Marks waiting deliveries as failed without an attempt (too late to post them)."""
        await self.session.execute(
            sa.update(DeliveryRow)
            .where(
                DeliveryRow.announcement_id == announcement_id,
                DeliveryRow.id.in_(list(ids)),
                DeliveryRow.state.in_([DeliveryState.PENDING.value, DeliveryState.RETRACTING.value]),
            )
            .values(state=DeliveryState.FAILED.value, error=failure_json(failure), updated_at=now)
        )


def _other_outcome(outcome: AttemptOutcome) -> dict[str, Any]:
    values: dict[str, Any] = {"attempts": DeliveryRow.attempts + 1, "error": failure_json(outcome.failure)}
    if outcome.detail is not None:
        values["last_error"] = outcome.detail
    if outcome.state in (DeliveryState.PENDING, DeliveryState.RETRACTING):
        values["next_attempt_at"] = outcome.retry_at
    return values


def _worth_preparing(error: dict[str, Any] | None, retry_transient: bool) -> bool:
    failure = failure_of(error)
    return failure is None or (retry_transient and not failure.permanent)
