"""Pre-flight: some minutes before the instant, check every account and upload what can be uploaded.

At the instant each post is then a single request. A problem found now (a revoked token, a deleted account,
an image refused) is reported at once to the town, while there is still time to fix it; a town that re-links
its account is checked again (the hub forgets the delivery's pre-flight when the account changes).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from hub.core import Hub
from hub.dispatch.gate import Gates
from hub.dispatch.jobs import Attempt, JobFactory
from hub.dispatch.retry import as_failure
from hub.domain.model import AnnouncementState, Failure, ReportKind
from hub.errors import UnissonError

log = logging.getLogger(__name__)

#: How often deliveries whose pre-flight met a passing problem are tried again.
RETRY_EVERY = timedelta(minutes=1)


class Preflight:
    def __init__(self, hub: Hub, gates: Gates) -> None:
        self.hub = hub
        self.gates = gates
        self.jobs = JobFactory(hub.store)
        self._next_retry: dict[int, datetime] = {}
        # Bounds the checks under way (each ends with a write): thousands at once would queue on the database.
        self._slots = asyncio.Semaphore(2 * hub.settings.per_host_concurrency)

    async def run(self, now: datetime) -> int:
        """Prepares the deliveries of announcements whose instant is within the lead time; returns how many."""
        lead = timedelta(minutes=self.hub.settings.preflight_minutes)
        prepared = 0
        async with self.hub.store.unit() as uow:
            locked = await uow.announcements.list(states=[AnnouncementState.LOCKED])
        for announcement in locked:
            if announcement.publish_at is None or announcement.publish_at - lead > now:
                continue
            retry = now >= self._next_retry.get(announcement.id, now)
            async with self.hub.store.unit() as uow:
                waiting = await uow.outbox.to_prepare(announcement.id, retry_transient=retry)
            if retry:
                self._next_retry[announcement.id] = now + RETRY_EVERY
            if waiting:
                attempts, _ = await self.jobs.attempts(waiting)
                await self._prepare_all(attempts)
                prepared += len(attempts)
        return prepared

    async def _prepare_all(self, attempts: list[Attempt]) -> None:
        verified: dict[int, asyncio.Task[Failure | None]] = {}
        for attempt in attempts:
            account_id = attempt.job.account.id
            if account_id not in verified:
                verified[account_id] = asyncio.create_task(self._verify(attempt))
        await asyncio.gather(*(self._prepare(a, verified[a.job.account.id]) for a in attempts))

    async def _verify(self, attempt: Attempt) -> Failure | None:
        account = attempt.job.account
        async with self._slots, self.gates.of(account.server).slot(lambda: None):
            health = await self.hub.accounts.verify(account.id)
        return as_failure(health.problem) if health.problem is not None else None

    async def _prepare(self, attempt: Attempt, verified: asyncio.Task[Failure | None]) -> None:
        failure = await verified
        async with self._slots:
            await self._prepare_one(attempt, failure)

    async def _prepare_one(self, attempt: Attempt, failure: Failure | None) -> None:
        account = attempt.job.account
        prepared = None
        if failure is None:
            publisher = self.hub.publisher(account.platform)
            try:
                async with self.gates.of(account.server).slot(lambda: publisher.host_pace(account.server)):
                    prepared = await publisher.prepare(attempt.job)
            except UnissonError as error:
                failure = as_failure(error)
        async with self.hub.store.unit() as uow:
            await uow.outbox.prepared(attempt.claimed.delivery.id, prepared, failure, self.hub.clock())
            if failure is not None and failure.permanent and attempt.claimed.delivery.preflight_error != failure:
                await uow.reports.add(
                    ReportKind.PREFLIGHT_FAILED,
                    attempt.announcement.coalition_id,
                    attempt.claimed.delivery.announcement_id,
                    town_id=attempt.claimed.delivery.town_id,
                    platform=account.platform,
                    problem=failure,
                )
        if failure is not None:
            log.info("pre-flight of delivery %s: %s", attempt.claimed.delivery.id, failure.key)
