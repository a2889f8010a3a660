"""The hub's side of :class:`hub.publishers.base.Gateway`: secrets and sessions from the encrypted store."""

from __future__ import annotations

from hub.services.context import Hub


class StoreGateway:
    def __init__(self, hub: Hub) -> None:
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
