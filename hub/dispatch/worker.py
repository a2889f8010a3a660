"""The dispatcher worker: claims due deliveries and publishes them, concurrently, exactly once.

A main loop and side tasks:

- upkeep (twice a second, and at each announcement's instant): ask about quorums missed at their deadline,
  start due publications or hold late ones, close finished ones;
- claiming: as many due deliveries as there is room for, in one statement (see :mod:`hub.store.outbox`);
- attempts: one task per delivery, bounded per remote host (:mod:`hub.dispatch.gate`); outcomes are written
  in batches (:mod:`hub.dispatch.writer`) and retries decided by a :class:`~hub.dispatch.retry.RetryStrategy`;
- side tasks (:mod:`hub.dispatch.side_tasks`), each at its own pace: the heartbeat, taking back dead workers'
  claims, and the pre-flight of publications coming up (by the leading worker only). A long pre-flight thus
  never stops the heartbeat, nor delays claiming.

A worker killed at any moment loses nothing: its claims go back to the queue when its heartbeat stops, and a
retried delivery is recognised by the publishers (stored rkey, Idempotency-Key, our own record).

A worker outlasts its database going away (restarted, the network cut): each part waits and tries again (the
main loop every :data:`RECONNECT_SECONDS`), the posts under way finish and their outcomes wait in memory, and
the pool opens new connections once the server answers. Claims the worker may hold without working on them
(the answer to a claim lost with the connection) are then handed back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from hub.core import Hub
from hub.dispatch.gate import Gates
from hub.dispatch.gateway import BatchingGateway
from hub.dispatch.jobs import Attempt, JobFactory
from hub.dispatch.outage import OutageLog
from hub.dispatch.pins import pin_step
from hub.dispatch.preflight import Preflight
from hub.dispatch.retry import RetryStrategy, as_failure
from hub.dispatch.side_tasks import SideTasks
from hub.dispatch.unstaging import unstage_due
from hub.dispatch.writer import OutcomeWriter
from hub.domain.model import DeliveryKind, DeliveryState, Failure
from hub.errors import UnissonError
from hub.publishers.base import PermanentPublishError, PublishError, TransientPublishError
from hub.publishers.registry import build_publishers
from hub.store import unreachable
from hub.store.outbox import AttemptOutcome, Claimed

log = logging.getLogger(__name__)

HEARTBEAT = "dispatcher-heartbeat"
RECOVERY = "dispatcher-recovery"
PREFLIGHT = "dispatcher-preflight"
#: How long the main loop waits before trying again when the database is out of reach.
RECONNECT_SECONDS = 1.0
#: The coalitions' reposts (:mod:`hub.services.reposts`), reading the posts' counts (:mod:`hub.services.reach`),
#: keeping the starter packs current (:mod:`hub.services.starter_packs`): low priority, at its own pace.
REACH = "dispatcher-reach"
#: Taking back the scheduled statuses of posts no longer wanted (:mod:`hub.dispatch.unstaging`).
UNSTAGE = "dispatcher-unstage"
#: Seconds between two rounds of it.
UNSTAGE_SECONDS = 1.0


class AnotherDispatcher(UnissonError):
    key = "error.dispatch.another_worker"


class DispatchMetrics(Protocol):
    """What the dispatcher tells the process's metrics (see :mod:`hub.web.metrics`)."""

    def published(self, instant: datetime | None, at: datetime) -> None: ...


class Dispatcher:
    def __init__(
        self,
        hub: Hub,
        *,
        worker_id: str | None = None,
        strategy: RetryStrategy | None = None,
        max_in_flight: int = 1024,
        claim_batch: int = 256,
        upkeep_seconds: float = 0.5,
        grace_seconds: float = 10.0,
        metrics: DispatchMetrics | None = None,
    ) -> None:
        settings = hub.settings
        self.hub = hub
        self.clock: Callable[[], datetime] = hub.clock
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.strategy = strategy or RetryStrategy.from_settings(settings)
        self.max_in_flight = max_in_flight
        #: Deliveries claimed per statement: the first posts leave while the next batch is being claimed.
        self.claim_batch = claim_batch
        #: Room that must free before claiming again while more is due: whole batches, not a claim of a few rows
        #: each time a few attempts end (a quarter of the room when that is less than a batch).
        self.refill = min(claim_batch, max(1, max_in_flight // 4))
        self.upkeep_seconds = upkeep_seconds
        self.grace_seconds = grace_seconds
        self.metrics = metrics
        self.gates = Gates(settings.per_host_concurrency, self.clock)
        self.gateway: BatchingGateway | None = None
        if hub.publishers is None:  # otherwise the caller chose the publishers (tests, benchmarks)
            self.gateway = BatchingGateway(hub)
            hub.publishers = build_publishers(self.gateway, settings)
        self.jobs = JobFactory(hub.store, hub.box, self.gateway)
        self._wake = asyncio.Event()
        #: A retry just written wakes the loop, so that it plans to wake for it.
        self.writer = OutcomeWriter(hub.store, self.worker_id, self.clock, on_retry=self._wake.set)
        self.preflight = Preflight(hub, self.gates, self.gateway)
        #: The attempts under way, with their deliveries.
        self._tasks: dict[asyncio.Task[None], int] = {}
        self.side = SideTasks(on_end=self._wake.set)
        #: Whether the last claim filled all the room (more may be due): look again as soon as room frees.
        self._more = True
        #: Whether a turn failed since claims were last checked: this worker may hold claims it does not work on.
        self._unsure = False
        self._outage = OutageLog("dispatcher", log)
        self._next_upkeep: datetime | None = None
        self._next_instant: datetime | None = None
        #: Counters for the metrics and the benchmarks.
        self.attempts = 0
        self.retries = 0

    # --- lifecycle ---------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Works until ``stop`` is set, then lets in-flight posts finish (within the grace) and leaves.

        Raises :class:`~hub.dispatch.side_tasks.SideTaskStopped` (after leaving the same way) if a side task
        ended on its own: see :meth:`SideTasks.check <hub.dispatch.side_tasks.SideTasks.check>`.
        """
        await self._register()
        writer = asyncio.create_task(self.writer.run(), name="outbox-writer")
        stopping = asyncio.create_task(stop.wait(), name="dispatcher-stop")
        self._start_side_tasks()
        try:
            while not stop.is_set():
                self.side.check()
                await self._turn(stopping)
        finally:
            stopping.cancel()
            await self._leave(writer)

    async def _turn(self, stopping: asyncio.Task[bool]) -> None:
        """A step, then the wait for the next; with the database out of reach, a pause and nothing else."""
        try:
            if self._unsure:
                await self._hand_back_strays()
            await self.step()
        except Exception as error:
            if not unreachable(error):
                raise
            self._unsure = True
            self._outage.failed(error, RECONNECT_SECONDS)
            await asyncio.wait({stopping}, timeout=RECONNECT_SECONDS)
            return
        self._outage.succeeded()
        await self._sleep(stopping)

    async def _hand_back_strays(self) -> None:
        """Hands back the claims this worker holds but works on no more (after a failed turn).

        A claim committed whose answer was lost with the connection, or claimed deliveries whose jobs could not
        be read, would otherwise stay with this worker as long as it beats: no other worker takes them back.
        """
        busy = set(self._tasks.values()) | self.writer.holding()
        async with self.hub.store.unit() as uow:
            strays = await uow.outbox.release_idle(self.worker_id, busy)
        self._unsure = False
        if strays:
            log.warning("handed back %d deliveries claimed while the database was out of reach", strays)

    async def step(self) -> int:
        """One turn of the loop: upkeep when due, then claims; returns how many deliveries it claimed.

        Claims are looked for after each upkeep, when a known due time has come, or when the last claim
        filled all the room; not each time an attempt ends (which at the instant would be thousands of times).
        """
        now = self.clock()
        upkept = self._upkeep_due(now)
        if upkept:
            await self.upkeep(now)
        if not (upkept or self._more):
            return 0
        return await self._fill()

    async def upkeep(self, now: datetime) -> None:
        dispatch = self.hub.dispatch
        await self.hub.quorum.ask_when_missed(now)
        if await dispatch.start_due(now):
            await self._fill()  # a publication just started: its first posts leave before the rest of the upkeep
        await dispatch.hold_stalled(now)
        await self.writer.flush()
        await dispatch.finish_done()
        instant = await dispatch.next_instant()
        if instant is not None and instant <= now:
            # Already due: the claims take it (they go on while they fill the room), not one more upkeep per
            # step, which during a fan-out would be a dozen rounds of queries before the last posts leave.
            self._more, instant = True, None
        self._next_instant = instant
        self._next_upkeep = now + timedelta(seconds=self.upkeep_seconds)

    # --- claiming and attempting ----------------------------------------------------------------------

    def _free(self) -> int:
        return self.max_in_flight - len(self._tasks)

    async def _fill(self) -> int:
        room = min(self._free(), self.claim_batch)
        if room <= 0:
            return 0
        # The claim and what its attempts need (accounts, secrets, the frozen wording) in one transaction: at the
        # instant a dozen fewer, each some 1 ms of CPU on the embedded database. Committed before any request.
        async with self.hub.store.unit() as uow:
            claimed = await uow.outbox.claim(self.worker_id, self.clock(), room)
            attempts, orphans = await self.jobs.attempts(claimed, uow) if claimed else ([], [])
        self._more = len(claimed) == room
        if not claimed:
            return 0
        for orphan in orphans:
            self.writer.add(_failed(orphan, Failure("publish.account_gone")))
        for attempt in attempts:
            self._spawn(attempt)
        return len(claimed)

    def _spawn(self, attempt: Attempt) -> None:
        running = asyncio.create_task(self._try(attempt), name=f"delivery-{attempt.claimed.delivery.id}")
        self._tasks[running] = attempt.claimed.delivery.id
        running.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)
        if self._more and self._free() >= self.refill:
            # Room for a batch with more due: claim again; otherwise nothing to do before the next upkeep.
            self._wake.set()

    async def _try(self, attempt: Attempt) -> None:
        account = attempt.job.account
        publisher = self.hub.publisher(account.platform)
        async with self.gates.of(account.server).slot(lambda: publisher.host_pace(account.server)):
            self.attempts += 1
            try:
                outcome = await self._act(attempt)
            except PublishError as error:
                outcome = self._after_error(attempt, error)
            except UnissonError as error:
                outcome = _failed(attempt.claimed, as_failure(error))
            except Exception as error:  # a bug must neither lose the post nor stop the others: retry later
                log.exception("delivery %s: unexpected failure", attempt.claimed.delivery.id)
                outcome = self._after_error(
                    attempt, TransientPublishError("publish.unexpected", detail=type(error).__name__)
                )
        if self.metrics is not None and outcome.state is DeliveryState.PUBLISHED:
            self.metrics.published(attempt.announcement.publish_at, outcome.at or self.clock())
        self.writer.add(outcome)

    async def _act(self, attempt: Attempt) -> AttemptOutcome:
        delivery = attempt.claimed.delivery
        publisher = self.hub.publisher(attempt.job.account.platform)
        if delivery.kind is DeliveryKind.PIN:  # its remote id is the pinned post's: unpinned, never deleted
            return await pin_step(publisher, attempt)
        if attempt.claimed.deleting:
            assert delivery.remote_id is not None
            await publisher.delete(attempt.job.account, delivery.remote_id)
            return AttemptOutcome(delivery.id, DeliveryState.RETRACTED)
        if delivery.parent_id is not None and attempt.job.reply_to is None:  # never a follow-up without its post
            raise PermanentPublishError("publish.followup.parent_gone", uri="")
        published = await publisher.publish(attempt.job)
        return AttemptOutcome(delivery.id, DeliveryState.PUBLISHED, published.remote_id, published.url, at=self.clock())

    def _after_error(self, attempt: Attempt, error: PublishError) -> AttemptOutcome:
        claimed = attempt.claimed
        decision = self.strategy.for_delivery(
            error,
            claimed.delivery.attempts + 1,
            self.clock(),
            deleting=claimed.deleting,
            instant=attempt.announcement.publish_at,
        )
        failure = as_failure(error)
        if decision.retry_at is None:
            log.info("delivery %s failed: %s", claimed.delivery.id, failure.key)
            return _failed(claimed, failure)
        self.retries += 1
        waiting = DeliveryState.RETRACTING if claimed.deleting else DeliveryState.PENDING
        detail = _detail(error)
        return AttemptOutcome(claimed.delivery.id, waiting, retry_at=decision.retry_at, failure=failure, detail=detail)

    # --- waiting -------------------------------------------------------------------------------------

    def _upkeep_due(self, now: datetime) -> bool:
        if self._next_upkeep is None or now >= self._next_upkeep:
            return True
        return self._next_instant is not None and now >= self._next_instant

    async def _sleep(self, stopping: asyncio.Task[bool]) -> None:
        if self._more and self._free() >= self.refill:
            await asyncio.sleep(0)  # more is due and there is room for a batch: claim again at once
            return
        now = self.clock()
        wake_at = self._next_upkeep or now
        if self._next_instant is not None and now < self._next_instant < wake_at:
            wake_at = self._next_instant
        timeout = max(0.0, (wake_at - now).total_seconds())
        if self.writer.written.is_set():
            self.writer.written.clear()
            retry_at = self.writer.take_next_retry()
            if retry_at is not None and (self._next_instant is None or retry_at < self._next_instant):
                self._next_instant = retry_at  # a retry just planned: wake for it
                timeout = min(timeout, max(0.0, (retry_at - now).total_seconds()))
        self._wake.clear()
        waking = asyncio.create_task(self._wake.wait())
        try:
            await asyncio.wait({waking, stopping}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waking.cancel()

    # --- workers ---------------------------------------------------------------------------------------

    async def _register(self) -> None:
        now = self.clock()
        async with self.hub.store.unit() as uow:
            if self.hub.store.dialect == "sqlite":
                seen = await uow.workers.seen(self._alive_since(now))
                others = [w for w, host, pid in seen if w != self.worker_id and _running(host, pid)]
                if others:
                    raise AnotherDispatcher(worker=others[0])
            await uow.workers.beat(self.worker_id, socket.gethostname(), os.getpid(), now)
            # On SQLite this worker is the only one: whatever is claimed was left by a process that died.
            since = now if self.hub.store.dialect == "sqlite" else self._alive_since(now)
            recovered = await uow.outbox.recover(since)
        if recovered:
            log.info("took back %d deliveries from a stopped worker", recovered)

    def _start_side_tasks(self) -> None:
        settings = self.hub.settings
        self.side.every(HEARTBEAT, lambda: settings.worker_heartbeat_seconds, self._beat)
        self.side.every(RECOVERY, lambda: settings.worker_heartbeat_seconds, self._recover)
        self.side.every(PREFLIGHT, lambda: self.upkeep_seconds, self._preflight)
        self.side.every(REACH, lambda: settings.reach_check_seconds, self._read_reach)
        self.side.every(UNSTAGE, lambda: UNSTAGE_SECONDS, self._unstage)

    async def _beat(self) -> None:
        # A beat that hangs (a lost connection) is abandoned and tried again, rather than waited for forever.
        async with asyncio.timeout(self.hub.settings.worker_timeout_seconds):
            async with self.hub.store.unit() as uow:
                await uow.workers.beat(self.worker_id, socket.gethostname(), os.getpid(), self.clock())

    async def _recover(self) -> None:
        async with self.hub.store.unit() as uow:
            # Never its own claims: after a database outage longer than the timeout its heartbeat is old, but it
            # still works on them, and handing them back would send those posts twice.
            recovered = await uow.outbox.recover(self._alive_since(self.clock()), sparing=self.worker_id)
        if recovered:
            log.warning("took back %d deliveries from a worker that stopped answering", recovered)

    async def _preflight(self) -> None:
        now = self.clock()
        if await self._leading(now):
            await self.preflight.run(now)

    async def _unstage(self) -> None:
        if await self._leading(self.clock()):
            await unstage_due(self.hub)

    async def _read_reach(self) -> None:
        if await self._leading(self.clock()):
            await self.hub.reposts.run()
            await self.hub.reach.run()
            await self.hub.starter_packs.refresh_changed()

    async def _leading(self, now: datetime) -> bool:
        """One worker (the oldest id alive) runs the pre-flight, so towns are not told twice."""
        async with self.hub.store.unit() as uow:
            alive = await uow.workers.alive(self._alive_since(now))
        return not alive or alive[0] == self.worker_id

    async def _drain(self) -> None:
        """Lets the attempts under way finish within the grace, then cancels the rest."""
        if not self._tasks:
            return
        _, late = await asyncio.wait(set(self._tasks), timeout=self.grace_seconds)
        for task in late:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*late, return_exceptions=True)

    def _alive_since(self, now: datetime) -> datetime:
        return now - timedelta(seconds=self.hub.settings.worker_timeout_seconds)

    async def _leave(self, writer: asyncio.Task[None]) -> None:
        await self.side.stop(PREFLIGHT, RECOVERY, REACH, UNSTAGE)
        # The heartbeat goes on while the posts under way finish: were it silent, another worker would take
        # them back and send them again.
        try:
            await self._drain()
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            await self.writer.flush()
        finally:
            await self.side.stop()
        try:
            async with self.hub.store.unit() as uow:
                released = await uow.outbox.release(self.worker_id)
                await uow.workers.remove(self.worker_id)
        except Exception:
            # A courtesy, not a duty: what this worker still holds is taken back by the others' recovery once its
            # heartbeat is older than the worker timeout. A stop does not fail for it.
            log.warning("could not hand back this worker's claims while stopping; recovery will", exc_info=True)
            return
        if released:
            log.info("handed back %d deliveries not finished before stopping", released)


def _running(host: str, pid: int) -> bool:
    """Whether a worker may still be running: on another machine we cannot tell, so yes."""
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _failed(claimed: Claimed, failure: Failure) -> AttemptOutcome:
    return AttemptOutcome(claimed.delivery.id, DeliveryState.FAILED, failure=failure, detail=failure.key)


def _detail(error: PublishError) -> str:
    return str(error.params.get("detail") or error.message_key)[:300]
