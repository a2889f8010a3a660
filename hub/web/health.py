"""Readiness: may this process be sent work?

Ready means: the process is not stopping, the database answers within a few seconds, its schema is at the
revision this version of Unisson was written for (neither behind nor ahead), and every part the process runs
(the bot, the dispatcher) is up. The answer names the first thing that is not, as a stable code.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from hub.store import Store, migrate

log = logging.getLogger(__name__)

#: A part's check: True while it runs.
Check = Callable[[], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Readiness:
    """The answer of ``/readyz``: ``ready``, and ``reason`` (a stable code) when it is not."""

    ready: bool
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"status": "ready" if self.ready else "not ready", "reason": self.reason, **self.details}


def _constant(value: bool) -> Check:
    async def check() -> bool:
        return value

    return check


class Health:
    """The parts of one process and how to tell whether they run."""

    def __init__(self, store: Store, stop: asyncio.Event, parts: Iterable[str] = (), *, timeout: float = 5.0) -> None:
        self.store = store
        self.stop = stop
        self.timeout = timeout
        self.head = migrate.head_revision()
        #: Every part this process runs, not running until it says so.
        self._parts: dict[str, Check] = {part: _constant(False) for part in parts}

    def up(self, part: str, running: bool = True) -> None:
        """Says that ``part`` runs (or, with ``running=False``, that it stopped)."""
        self._parts[part] = _constant(running)

    def watch(self, part: str, check: Check) -> None:
        """From now on, ``part`` runs while ``check`` says so (asked at each readiness request)."""
        self._parts[part] = check

    async def readiness(self) -> Readiness:
        if self.stop.is_set():
            return Readiness(False, "stopping")
        try:
            revision = await asyncio.wait_for(migrate.current_revision(self.store), self.timeout)
        except Exception as error:  # any failure to answer means not ready; the type says which
            log.warning("readiness: the database did not answer (%s)", type(error).__name__)
            return Readiness(False, "database_unreachable", {"error": type(error).__name__})
        schema = {"revision": revision, "head": self.head}
        if revision != self.head:
            return Readiness(False, "schema_outdated", {"schema": schema})
        parts = {name: await self._runs(check) for name, check in self._parts.items()}
        if not all(parts.values()):
            return Readiness(False, "not_running", {"schema": schema, "parts": parts})
        return Readiness(True, None, {"schema": schema, "parts": parts})

    async def _runs(self, check: Check) -> bool:
        try:
            return await asyncio.wait_for(check(), self.timeout)
        except Exception as error:
            log.warning("readiness: a check failed (%s)", type(error).__name__)
            return False
