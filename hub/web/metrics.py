"""Prometheus metrics of one process, in a registry of its own (not the library's global one).

- ``unisson_deliveries{state}``: deliveries in the database by state, counted at each scrape. Every process
  reports the same database-wide numbers: aggregate them with ``max``, not ``sum``.
- ``unisson_publish_latency_seconds``: from an announcement's instant to each post the network accepted.
- ``unisson_publish_attempts_total``, ``unisson_publish_retries_total``: tries of a post, and those that failed
  for a passing reason and were planned again.
- ``unisson_rate_limit_waits_total``, ``unisson_rate_limit_wait_seconds_total``: waits for a server's rate-limit
  window to reset, and the seconds spent in them.
- ``process_*``: the process's CPU time, memory and open files.

Counters belong to this process and start at zero when it starts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric

from hub.domain.model import DeliveryState
from hub.store import Store

if TYPE_CHECKING:
    from hub.dispatch.worker import Dispatcher

log = logging.getLogger(__name__)

#: From "at the instant" to "two hours later, after retries" (the default retry window).
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)


class _DispatchCounters:
    """Reads the dispatcher's own counters at each scrape (zero in a process without a dispatcher)."""

    def __init__(self) -> None:
        self.dispatcher: Dispatcher | None = None

    def describe(self) -> Iterator[Metric]:
        return self._families(0, 0, 0, 0.0)

    def collect(self) -> Iterator[Metric]:
        d = self.dispatcher
        if d is None:
            return self._families(0, 0, 0, 0.0)
        return self._families(d.attempts, d.retries, d.gates.waits, d.gates.waited)

    @staticmethod
    def _families(attempts: int, retries: int, waits: int, waited: float) -> Iterator[Metric]:
        yield CounterMetricFamily("unisson_publish_attempts", "Tries of a post or a deletion.", value=attempts)
        yield CounterMetricFamily(
            "unisson_publish_retries", "Tries that failed for a passing reason and were planned again.", value=retries
        )
        yield CounterMetricFamily(
            "unisson_rate_limit_waits", "Waits for a server's rate-limit window to reset.", value=waits
        )
        yield CounterMetricFamily(
            "unisson_rate_limit_wait_seconds", "Seconds spent waiting for rate-limit windows to reset.", value=waited
        )


class Metrics:
    """The metrics of one process; :meth:`exposition` is the body of ``/metrics``."""

    def __init__(self, store: Store, *, timeout: float = 5.0) -> None:
        self.store = store
        self.timeout = timeout
        self.registry = CollectorRegistry()
        self.deliveries = Gauge(
            "unisson_deliveries", "Deliveries in the database, by state.", ["state"], registry=self.registry
        )
        self.publish_latency = Histogram(
            "unisson_publish_latency_seconds",
            "Seconds from an announcement's instant to each post the network accepted.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._dispatch = _DispatchCounters()
        self.registry.register(self._dispatch)
        ProcessCollector(registry=self.registry)

    def watch(self, dispatcher: Dispatcher) -> None:
        """Reports ``dispatcher``'s attempts, retries and rate-limit waits."""
        self._dispatch.dispatcher = dispatcher

    def published(self, instant: datetime | None, at: datetime) -> None:
        """A post was accepted at ``at`` for an announcement due at ``instant``."""
        if instant is not None:
            self.publish_latency.observe(max(0.0, (at - instant).total_seconds()))

    async def exposition(self) -> bytes:
        """Every metric in Prometheus' text format, the deliveries counted now."""
        await self._count_deliveries()
        return generate_latest(self.registry)

    async def _count_deliveries(self) -> None:
        try:
            async with asyncio.timeout(self.timeout), self.store.unit() as uow:
                totals = await uow.deliveries.totals()
        except Exception as error:  # the other metrics are still worth serving
            log.warning("metrics: deliveries could not be counted (%s)", type(error).__name__)
            self.deliveries.clear()  # no stale numbers: the series disappear until the database answers
            return
        for state in DeliveryState:
            self.deliveries.labels(state=state.value).set(totals[state])
