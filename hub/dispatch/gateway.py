"""The hub's side of :class:`hub.publishers.base.Gateway`: secrets and sessions from the encrypted store.

:class:`StoreGateway` reads them when asked; the dispatcher's :class:`BatchingGateway` makes few transactions
for many posts:

- Secrets and network sessions are read once per claimed batch (:meth:`prime`) instead of once per post, and
  decrypted when a publisher first asks for them (a Bluesky post with a session never needs the password); a
  session the publisher saves replaces the cached one.
- The keys a publisher must store before sending (Bluesky's rkey, Mastodon's first attempt) are stored by
  group commit (:class:`GroupCommit`): every key asked for within a few milliseconds is written in one
  transaction, and each caller goes on only once its key is committed, so "stored before sending" still holds.
  Sessions a publisher saves (logins and refreshes, thousands at the pre-flight) are stored the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Generic, Protocol, TypeVar

from hub.services.accounts import AccountService
from hub.store import Store

#: How long a key waits for others to share its transaction.
GATHER_SECONDS = 0.005

K = TypeVar("K")
V = TypeVar("V")
R = TypeVar("R")


class Source(Protocol):
    """Where the gateway reads: the hub's store and its accounts service (which decrypts)."""

    @property
    def store(self) -> Store: ...

    @property
    def accounts(self) -> AccountService: ...


class StoreGateway:
    def __init__(self, hub: Source) -> None:
        self.hub = hub

    async def secret(self, account_id: int) -> str:
        return (await self.hub.accounts.credentials(account_id)).secret

    async def session(self, account_id: int) -> str | None:
        return (await self.hub.accounts.credentials(account_id)).session

    async def save_session(self, account_id: int, session: str | None) -> None:
        await self.hub.accounts.save_session(account_id, session)

    async def remember_remote_key(self, delivery_id: int, key: str) -> str:
        """Stored (and committed) before the request that uses it is sent; a key stored earlier wins, so a
        stale job can never replace the first attempt's key."""
        async with self.hub.store.unit() as uow:
            return await uow.deliveries.keep_first_remote_key(delivery_id, key)

    async def remember_previous_pin(self, delivery_id: int, previous: dict[str, Any]) -> dict[str, Any]:
        """Committed before the pin is changed, so that a crash right after cannot lose the previous pin."""
        async with self.hub.store.unit() as uow:
            return await uow.deliveries.keep_first_prepared(delivery_id, previous)

    async def remember_schedule(self, delivery_id: int, schedule: dict[str, Any]) -> None:
        async with self.hub.store.unit() as uow:
            await uow.deliveries.set_schedules({delivery_id: schedule})

    async def ignores_scheduling(self, server: str) -> bool:
        async with self.hub.store.unit() as uow:
            return await uow.servers.ignores_scheduling(server)

    async def found_ignoring_scheduling(self, server: str) -> None:
        # Kept apart from the posts that showed it: cancelling their announcement must not make the hub forget,
        # which would cost a town of that server another post published hours early.
        async with self.hub.store.unit() as uow:
            await uow.servers.found_ignoring_scheduling(server)


class GroupCommit(Generic[K, V, R]):
    """Values asked to be stored within :data:`GATHER_SECONDS` of each other are written by one ``write`` (one
    transaction); each caller goes on only once its value is committed.

    A key asked for again while it waits shares the first call's outcome; with ``keep_first`` false the later
    value replaces the earlier one in the write.
    """

    def __init__(self, write: Callable[[dict[K, V]], Awaitable[dict[K, R]]], *, keep_first: bool, name: str) -> None:
        self._write_batch = write
        self._keep_first = keep_first
        self._name = name
        self._waiting: dict[K, tuple[V, asyncio.Future[R]]] = {}
        self._writer: asyncio.Task[None] | None = None

    async def store(self, key: K, value: V) -> R:
        waiting = self._waiting.get(key)
        if waiting is not None:
            if not self._keep_first:
                self._waiting[key] = (value, waiting[1])
            return await asyncio.shield(waiting[1])
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting[key] = (value, future)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_soon(), name=self._name)
        return await asyncio.shield(future)

    async def _write_soon(self) -> None:
        while self._waiting:  # values asked for while a batch was being written go in the next one
            await asyncio.sleep(GATHER_SECONDS)
            batch, self._waiting = self._waiting, {}
            await self._write(batch)

    async def _write(self, batch: dict[K, tuple[V, asyncio.Future[R]]]) -> None:
        try:
            stored = await self._write_batch({key: value for key, (value, _) in batch.items()})
        except Exception as error:
            for _, future in batch.values():
                if not future.done():
                    future.set_exception(error)
            return
        for key, (_, future) in batch.items():
            if future.done():
                continue
            if key in stored:
                future.set_result(stored[key])
            else:
                future.set_exception(LookupError(f"{self._name}: {key} does not exist"))

    async def close(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer


class BatchingGateway(StoreGateway):
    def __init__(self, hub: Source) -> None:
        super().__init__(hub)
        self._secrets: dict[int, str | Callable[[], str]] = {}
        self._sessions: dict[int, str | Callable[[], str | None] | None] = {}
        self._keys = GroupCommit(self._write_keys, keep_first=True, name="remote-keys")
        self._saved_sessions = GroupCommit(self._write_sessions, keep_first=False, name="sessions")
        self._schedules = GroupCommit(self._write_schedules, keep_first=False, name="schedules")

    def prime(self, account_id: int, secret: Callable[[], str], session: Callable[[], str | None]) -> None:
        """Remembers how to decrypt an account's secret and session for the posts about to be made (a relink is
        seen at the next batch)."""
        self._secrets[account_id] = secret
        self._sessions[account_id] = session

    async def secret(self, account_id: int) -> str:
        cached = self._secrets.get(account_id)
        if cached is None:
            return await super().secret(account_id)
        if callable(cached):
            cached = self._secrets[account_id] = cached()
        return cached

    async def session(self, account_id: int) -> str | None:
        if account_id not in self._sessions:
            return await super().session(account_id)
        cached = self._sessions[account_id]
        if callable(cached):
            cached = self._sessions[account_id] = cached()
        return cached

    async def save_session(self, account_id: int, session: str | None) -> None:
        """Saved by group commit: at the pre-flight, thousands of accounts log in within seconds."""
        await self._saved_sessions.store(account_id, session)
        if account_id in self._sessions:
            self._sessions[account_id] = session

    async def remember_remote_key(self, delivery_id: int, key: str) -> str:
        return await self._keys.store(delivery_id, key)

    async def remember_schedule(self, delivery_id: int, schedule: dict[str, Any]) -> None:
        """By group commit: at the pre-flight, thousands of posts are staged within seconds."""
        await self._schedules.store(delivery_id, schedule)

    async def _write_schedules(self, schedules: dict[int, dict[str, Any]]) -> dict[int, None]:
        async with self.hub.store.unit() as uow:
            return await uow.deliveries.set_schedules(schedules)

    async def _write_keys(self, keys: dict[int, str]) -> dict[int, str]:
        async with self.hub.store.unit() as uow:
            return await uow.deliveries.keep_first_remote_keys(keys)

    async def _write_sessions(self, sessions: dict[int, str | None]) -> dict[int, None]:
        await self.hub.accounts.save_sessions(sessions)
        return dict.fromkeys(sessions)

    async def close(self) -> None:
        await self._keys.close()
        await self._saved_sessions.close()
        await self._schedules.close()
