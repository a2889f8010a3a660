"""The hub's side of :class:`hub.publishers.base.Gateway`: secrets and sessions from the encrypted store.

:class:`StoreGateway` reads them when asked; the dispatcher's :class:`BatchingGateway` makes few transactions
for many posts:

- Secrets and network sessions are read and decrypted once per claimed batch (:meth:`prime`) instead of once
  per post; a session the publisher saves replaces the cached one.
- The keys a publisher must store before sending (Bluesky's rkey, Mastodon's first attempt) are stored by
  group commit: every key asked for within a few milliseconds is written in one transaction, and each caller
  goes on only once its key is committed, so "stored before sending" still holds.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Protocol

from hub.services.accounts import AccountService
from hub.store import Store

#: How long a key waits for others to share its transaction.
GATHER_SECONDS = 0.005


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


class BatchingGateway(StoreGateway):
    def __init__(self, hub: Source) -> None:
        super().__init__(hub)
        self._secrets: dict[int, str] = {}
        self._sessions: dict[int, str | None] = {}
        self._waiting: dict[int, tuple[str, asyncio.Future[str]]] = {}
        self._writer: asyncio.Task[None] | None = None

    def prime(self, account_id: int, secret: str, session: str | None) -> None:
        """Remembers an account's secret and session for the posts about to be made (a relink is seen at the
        next batch)."""
        self._secrets[account_id] = secret
        self._sessions[account_id] = session

    async def secret(self, account_id: int) -> str:
        cached = self._secrets.get(account_id)
        return cached if cached is not None else await super().secret(account_id)

    async def session(self, account_id: int) -> str | None:
        if account_id in self._sessions:
            return self._sessions[account_id]
        return await super().session(account_id)

    async def save_session(self, account_id: int, session: str | None) -> None:
        await super().save_session(account_id, session)
        if account_id in self._sessions:
            self._sessions[account_id] = session

    async def remember_remote_key(self, delivery_id: int, key: str) -> str:
        waiting = self._waiting.get(delivery_id)
        if waiting is not None:  # a second attempt at the same delivery shares the first one's outcome
            return await asyncio.shield(waiting[1])
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiting[delivery_id] = (key, future)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_soon(), name="remote-keys")
        return await asyncio.shield(future)

    async def _write_soon(self) -> None:
        while self._waiting:  # keys asked for while a batch was being written go in the next one
            await asyncio.sleep(GATHER_SECONDS)
            batch, self._waiting = self._waiting, {}
            await self._write(batch)

    async def _write(self, batch: dict[int, tuple[str, asyncio.Future[str]]]) -> None:
        try:
            async with self.hub.store.unit() as uow:
                stored = await uow.deliveries.keep_first_remote_keys({i: k for i, (k, _) in batch.items()})
        except Exception as error:
            for _, future in batch.values():
                if not future.done():
                    future.set_exception(error)
            return
        for delivery_id, (_, future) in batch.items():
            if future.done():
                continue
            if delivery_id in stored:
                future.set_result(stored[delivery_id])
            else:
                future.set_exception(LookupError(f"delivery {delivery_id} does not exist"))

    async def close(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
