"""Pre-flight: some minutes before the instant, check every account and upload what can be uploaded.

At the instant each post is then a single request. A problem found now (a revoked token, a deleted account,
an image refused) is reported at once to the town, while there is still time to fix it; a town that re-links
its account is checked again (the hub forgets the delivery's pre-flight when the account changes).

Thousands of accounts are checked in about the time their servers take to answer, at most
``per_host_concurrency`` requests at once per server: the secrets and sessions of all of them are read in one
transaction, and what is found (accounts' health, prepared deliveries, reports) is written in batches, never
one transaction per account.

What is found is never lost nor found twice: a batch whose write fails (the database out of reach a moment) is
kept and written at the next try, before any delivery is looked at again; a round ends only once each of its
deliveries is done, even when one of them meets an unexpected error. A delivery prepared twice would be staged
twice, and its second staging would overwrite what the first one did (a post published early, for one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from hub.core import Hub
from hub.dispatch.gate import Gates
from hub.dispatch.gateway import BatchingGateway
from hub.dispatch.jobs import Attempt, JobFactory
from hub.dispatch.retry import as_failure
from hub.domain import prestage
from hub.domain.model import Account, AnnouncementState, Failure, ReportKind
from hub.errors import UnissonError
from hub.publishers.base import Publisher
from hub.services.accounts import Checked
from hub.store import UnitOfWork
from hub.store.outbox import Preflighted

log = logging.getLogger(__name__)

#: How often deliveries whose pre-flight met a passing problem are tried again.
RETRY_EVERY = timedelta(minutes=1)
#: How often what the pre-flight found is written while it runs (a crash loses at most this much work).
WRITE_EVERY_SECONDS = 0.25
#: Checks under way at once, over all servers, per server's allowance: bounds the sockets and the tasks awake.
SLOTS_PER_HOST_ALLOWANCE = 8


@dataclass(frozen=True, slots=True)
class _Ready:
    """A delivery's pre-flight: what :meth:`publish` will reuse, or the problem found."""

    attempt: Attempt
    prepared: dict[str, Any] | None
    failure: Failure | None
    #: What became of its pre-staging (see :mod:`hub.domain.prestage`), if it was tried.
    schedule: dict[str, Any] | None = None


class Preflight:
    def __init__(self, hub: Hub, gates: Gates, gateway: BatchingGateway | None = None) -> None:
        """With the dispatcher's ``gateway``, the secrets and sessions of a batch are read at once."""
        self.hub = hub
        self.gates = gates
        self.jobs = JobFactory(hub.store, hub.box if gateway is not None else None, gateway)
        self._next_retry: dict[int, datetime] = {}
        self._slots = asyncio.Semaphore(SLOTS_PER_HOST_ALLOWANCE * hub.settings.per_host_concurrency)
        self._checks: list[Checked] = []
        self._ready: list[_Ready] = []

    async def run(self, now: datetime) -> int:
        """Prepares the deliveries of announcements whose instant is within the lead time; returns how many."""
        lead = timedelta(minutes=self.hub.settings.preflight_minutes)
        prepared = 0
        await self._write()  # what a round whose write failed found: written before anything is looked at again
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
            account = attempt.job.account
            if account.id not in verified:
                verified[account.id] = asyncio.create_task(self._verify(account))
        done = asyncio.Event()
        writing = asyncio.create_task(self._write_while_running(done), name="preflight-writes")
        try:
            # Every delivery runs to its end: an error in one must not leave the others running into the next
            # round, which would prepare (and stage) them a second time.
            results = await asyncio.gather(
                *(self._prepare(a, verified[a.job.account.id]) for a in attempts), return_exceptions=True
            )
        finally:
            done.set()  # not cancelled: a batch being written must not be lost half-way
            await writing
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]

    async def _verify(self, account: Account) -> Failure | None:
        async with self._slots, self.gates.of(account.server).slot(lambda: None):
            checked = await self.hub.accounts.ask(account)
        self._checks.append(checked)
        return as_failure(checked.problem) if checked.problem is not None else None

    async def _prepare(self, attempt: Attempt, verified: asyncio.Task[Failure | None]) -> None:
        failure = await verified
        account = attempt.job.account
        prepared = schedule = None
        if failure is None:
            publisher = self.hub.publisher(account.platform)
            try:
                async with self._slots, self.gates.of(account.server).slot(lambda: publisher.host_pace(account.server)):
                    prepared = await publisher.prepare(attempt.job)
                    schedule = await self._stage(publisher, attempt, prepared)
            except UnissonError as error:
                failure = as_failure(error)
        self._ready.append(_Ready(attempt, prepared, failure, schedule))
        if failure is not None:
            log.info("pre-flight of delivery %s: %s", attempt.claimed.delivery.id, failure.key)

    async def _stage(self, publisher: Publisher, attempt: Attempt, prepared: dict[str, Any]) -> dict[str, Any] | None:
        """Hands the post to its server ahead of the instant, if its announcement asks for it and there is still
        time (see :mod:`hub.domain.prestage`). A failure here fails nothing: the post is then made at the instant."""
        settings, instant = self.hub.settings, attempt.announcement.publish_at
        lead = timedelta(seconds=settings.mastodon_prestage_lead_seconds)
        if instant is None or not prestage.wanted(attempt.announcement.prestage, settings.mastodon_prestage):
            return None
        if not prestage.in_time(instant, self.hub.clock(), lead):
            return None
        try:
            return await publisher.stage(replace(attempt.job, prepared=prepared), instant)
        except UnissonError as error:
            log.info("delivery %s not pre-staged: %s", attempt.claimed.delivery.id, error.message_key)
            return None

    # --- writing what was found, in batches ----------------------------------------------------------

    async def _write_while_running(self, done: asyncio.Event) -> None:
        """Writes every :data:`WRITE_EVERY_SECONDS`, and once more when ``done`` is set; a write that fails is
        tried again at the next tick (the last one's error is the round's, its batch kept for the next round)."""
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), WRITE_EVERY_SECONDS)
            if done.is_set():
                break
            try:
                await self._write()
            except Exception as error:  # kept by _write; the database may be back at the next tick
                log.warning("pre-flight: writing what was found failed, trying again (%s)", type(error).__name__)
        await self._write()

    async def _write(self) -> None:
        """Writes what was found since the last write; if that fails, keeps it to be written at the next try."""
        checks, self._checks = self._checks, []
        ready, self._ready = self._ready, []
        try:
            await self._write_batch(checks, ready)
        except BaseException:
            self._checks, self._ready = checks + self._checks, ready + self._ready
            raise

    async def _write_batch(self, checks: list[Checked], ready: list[_Ready]) -> None:
        if checks:
            await self.hub.accounts.record(checks)
        if ready:
            async with self.hub.store.unit() as uow:
                outcomes = [
                    Preflighted(r.attempt.claimed.delivery.id, r.prepared, r.failure, r.schedule) for r in ready
                ]
                await uow.outbox.prepared_many(outcomes, self.hub.clock())
                for r in ready:
                    if _worth_reporting(r):
                        await _report(uow, r, r.failure)
                    if (early := _published_early(r)) is not None:
                        await _report(uow, r, early)


def _worth_reporting(ready: _Ready) -> bool:
    """A permanent problem is told to the town once, not again at each retry of the pre-flight."""
    failure = ready.failure
    return failure is not None and failure.permanent and ready.attempt.claimed.delivery.preflight_error != failure


def _published_early(ready: _Ready) -> Failure | None:
    """A server that ignored ``scheduled_at`` published the post before its time: the coordinators are told
    (it was deleted at once, and is made again at the instant)."""
    schedule = ready.schedule or {}
    if not prestage.published_early(schedule) or prestage.published_early(ready.attempt.claimed.schedule):
        return None  # not early, or told already (a pre-flight done again keeps the record)
    account = ready.attempt.job.account
    params = {
        "identifier": account.identifier,
        "host": urlsplit(account.server).netloc or account.server,
        "url": str(schedule.get("url") or ""),
    }
    key = "publish.mastodon.published_early" + ("" if schedule.get("deleted") == "yes" else ".kept")
    return Failure(key, params, permanent=False)


async def _report(uow: UnitOfWork, ready: _Ready, problem: Failure | None) -> None:
    delivery = ready.attempt.claimed.delivery
    await uow.reports.add(
        ReportKind.PREFLIGHT_FAILED,
        ready.attempt.announcement.coalition_id,
        delivery.announcement_id,
        town_id=delivery.town_id,
        platform=ready.attempt.job.account.platform,
        problem=problem,
    )
