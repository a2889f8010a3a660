"""A coalition's own accounts (its association's, its coordinators'): linked in a direct message by an admin or
a coordinator, checked at once, kept encrypted like a town's. They amplify the towns' posts and hold the
coalition's starter pack.

The checks reuse the towns' publishers, given a gateway that reads these accounts' secrets instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub.domain.model import Coalition, Platform
from hub.domain.reach import CoalitionAccount
from hub.errors import NotFound, UnissonError
from hub.publishers import registry
from hub.publishers.base import Publisher
from hub.services.accounts import check_account, linking_input
from hub.services.coalitions import coordinated
from hub.services.context import ServiceContext
from hub.store.repositories import EncryptedSecrets


@dataclass(frozen=True, slots=True)
class CoalitionHealth:
    """A coalition account after a check: ``problem`` is None when it can post."""

    coalition: Coalition
    account: CoalitionAccount
    problem: UnissonError | None


class CoalitionGateway:
    """The publishers' :class:`~hub.publishers.base.Gateway` for the coalitions' own accounts."""

    def __init__(self, context: ServiceContext) -> None:
        self.context = context

    async def _stored(self, account_id: int) -> EncryptedSecrets:
        async with self.context.store.unit() as uow:
            stored = await uow.coalition_accounts.secrets(account_id)
        if stored is None:
            raise NotFound("error.account.unknown", id=str(account_id))
        return stored

    async def secret(self, account_id: int) -> str:
        return self.context.box.decrypt((await self._stored(account_id)).secret)

    async def session(self, account_id: int) -> str | None:
        stored = await self._stored(account_id)
        return self.context.box.decrypt(stored.session) if stored.session else None

    async def save_session(self, account_id: int, session: str | None) -> None:
        encrypted = self.context.box.encrypt(session) if session else None
        async with self.context.store.unit() as uow:
            await uow.coalition_accounts.store_session(account_id, encrypted)

    async def remember_remote_key(self, delivery_id: int, key: str) -> str:
        # Reposts keep their own keys (:mod:`hub.services.reposts`); no delivery belongs to a coalition account.
        return key

    async def remember_previous_pin(self, delivery_id: int, previous: dict[str, Any]) -> dict[str, Any]:
        # A coalition's account reposts, it never pins: no delivery of a pin belongs to it.
        return previous

    async def remember_schedule(self, delivery_id: int, schedule: dict[str, Any]) -> None:
        # A coalition's account reposts, nothing of it is pre-staged.
        return None

    async def ignores_scheduling(self, server: str) -> bool:
        return False

    async def found_ignoring_scheduling(self, server: str) -> None:
        return None  # nothing of a coalition's account is pre-staged


class CoalitionAccountService:
    def __init__(self, context: ServiceContext, publishers: Mapping[Platform, Publisher] | None = None) -> None:
        self.context = context
        self.gateway = CoalitionGateway(context)
        #: The publishers that act for the coalitions' accounts (built on first use unless given).
        self.publishers = publishers

    def publisher(self, platform: Platform) -> Publisher:
        if self.publishers is None:
            self.publishers = registry.build_publishers(self.gateway, self.context.settings)
        return self.publishers[platform]

    async def find_coalition(self, text: str) -> Coalition:
        """The coalition named ``text`` (any case) or numbered ``text``."""
        wanted = text.strip().casefold()
        async with self.context.store.unit() as uow:
            for coalition in await uow.coalitions.list():
                if wanted in (coalition.name.casefold(), str(coalition.id)):
                    return coalition
        raise NotFound("error.coalition.not_found", text=text.strip())

    async def connect(
        self, actor_id: str, coalition_id: int, platform: Platform, identifier: str, secret: str, server: str | None
    ) -> CoalitionHealth:
        """Links (or re-links) the coalition's account, then checks it at once."""
        identifier, server, secret = linking_input(platform, identifier, secret, server)
        async with self.context.store.unit() as uow:
            coalition = await coordinated(self.context, uow, actor_id, coalition_id)
            secret_box = self.context.box.encrypt(secret)
            account = await uow.coalition_accounts.upsert(
                coalition.id, platform, identifier, server, secret_box, actor_id
            )
            details = {"platform": platform.value, "identifier": identifier, "server": server}
            await uow.audit.append(actor_id, "coalition_account.link", coalition_id=coalition.id, details=details)
        return await self.verify(account.id)

    async def verify(self, account_id: int) -> CoalitionHealth:
        """Asks the network whether the account can post; records the answer and the server's limits."""
        async with self.context.store.unit() as uow:
            account = await uow.coalition_accounts.get(account_id)
            coalition = await uow.coalitions.get(account.coalition_id) if account else None
        if account is None or coalition is None:
            raise NotFound("error.account.unknown", id=str(account_id))
        checked = await check_account(self.publisher(account.platform), account.as_account())
        async with self.context.store.unit() as uow:
            error_text = checked.problem.message("fr") if checked.problem else None
            await uow.coalition_accounts.record_health(account.id, error=error_text, limits=checked.limits)
            account = await uow.coalition_accounts.get(account.id) or account
        return CoalitionHealth(coalition, account, checked.problem)

    async def of_coalition(self, coalition_id: int) -> list[CoalitionAccount]:
        async with self.context.store.unit() as uow:
            return await uow.coalition_accounts.of_coalition(coalition_id)

    async def unlink(self, actor_id: str, coalition_id: int, platform: Platform) -> bool:
        async with self.context.store.unit() as uow:
            coalition = await coordinated(self.context, uow, actor_id, coalition_id)
            removed = await uow.coalition_accounts.unlink(coalition.id, platform)
            details = {"platform": platform.value}
            await uow.audit.append(actor_id, "coalition_account.unlink", coalition_id=coalition.id, details=details)
            return removed
