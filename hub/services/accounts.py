"""Towns' network accounts: linking, encrypted secrets and sessions, key rotation."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from hub.domain import permissions
from hub.domain.identifiers import check_web_url, normalize_bluesky_handle, normalize_mastodon_handle
from hub.domain.model import Account, Platform, Town
from hub.errors import InvalidInput, NotFound, UnissonError
from hub.services.coalitions import get_town
from hub.services.context import ServiceContext
from hub.store import UnitOfWork
from hub.store.repositories import EncryptedSecrets, HealthRecord

DEFAULT_BLUESKY_SERVICE = "https://bsky.social"


@dataclass(frozen=True, slots=True)
class Health:
    """An account after a check: ``problem`` is None when it can publish."""

    town: Town
    account: Account
    problem: UnissonError | None


@dataclass(frozen=True, slots=True)
class Checked:
    """What the network said of an account, not yet recorded: ``problem`` is None when it can publish."""

    account: Account
    problem: UnissonError | None
    limits: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Credentials:
    """Decrypted secrets, for publishers only; never logged (its repr hides them)."""

    account: Account
    secret: str
    session: str | None

    def __repr__(self) -> str:
        return f"Credentials(account={self.account.id}, platform={self.account.platform})"


class AccountService:
    def __init__(self, context: ServiceContext) -> None:
        self.context = context

    async def link(
        self,
        actor_id: str,
        town_id: int,
        platform: Platform,
        identifier: str,
        secret: str,
        server: str | None = None,
    ) -> Account:
        """Links (or re-links) a town's account; the secret is encrypted before it is stored."""
        identifier, server = _normalize(platform, identifier, server)
        if not secret.strip():
            raise InvalidInput("error.account.secret_required")
        async with self.context.store.unit() as uow:
            town = await get_town(uow, town_id)
            actor = await self.context.actor(uow, actor_id)
            permissions.require_officer(actor, town.id, town.name)
            account = await uow.accounts.upsert(
                town.id, platform, identifier, server, self.context.box.encrypt(secret.strip())
            )
            if not town.profile.get(platform.value):
                await uow.towns.update_profile(town.id, {**town.profile, platform.value: identifier})
            # Posts already frozen for this account are checked and prepared again with the new credentials.
            await uow.outbox.prepare_again(account.id)
            await uow.audit.append(
                actor_id,
                "account.link",
                town_id=town.id,
                details={"platform": platform.value, "identifier": identifier, "server": server},
            )
            return account

    async def connect(
        self, actor_id: str, town_id: int, platform: Platform, identifier: str, secret: str, server: str | None = None
    ) -> Health:
        """Links an account and checks it at once (credentials, limits, server reachable)."""
        account = await self.link(actor_id, town_id, platform, identifier, secret, server)
        return await self.verify(account.id)

    async def verify(self, account_id: int) -> Health:
        """Asks the network whether the account can publish; records the answer and the server's limits."""
        async with self.context.store.unit() as uow:
            account = await uow.accounts.get(account_id)
            town = await uow.towns.get(account.town_id) if account else None
        if account is None or town is None:
            raise NotFound("error.account.unknown", id=str(account_id))
        checked = await self.ask(account)
        async with self.context.store.unit() as uow:
            await _record(uow, checked)
            account = await uow.accounts.get(account.id) or account
        return Health(town, account, checked.problem)

    async def ask(self, account: Account) -> Checked:
        """Asks the network whether ``account`` can publish, without recording the answer (see :meth:`record`)."""
        try:
            check = await self.context.publisher(account.platform).verify(account)
        except UnissonError as error:  # publish errors and our own refusals alike are reported, not raised
            return Checked(account, error, None)
        return Checked(account, None, check.limits)

    async def record(self, checks: Sequence[Checked]) -> None:
        """Records many accounts' checks in one transaction (the pre-flight checks thousands)."""
        async with self.context.store.unit() as uow:
            await uow.accounts.record_healths([_health(c) for c in checks])

    async def verify_all(self, town_id: int | None = None) -> list[Health]:
        """Checks every linked account (of one town, or all), one network call each, concurrently."""
        accounts = [a for _, a in await self.all() if town_id is None or a.town_id == town_id]
        return list(await asyncio.gather(*(self.verify(a.id) for a in accounts)))

    async def of_town(self, town_id: int) -> list[Account]:
        async with self.context.store.unit() as uow:
            return await uow.accounts.of_town(town_id)

    async def all(self) -> list[tuple[Town, Account]]:
        async with self.context.store.unit() as uow:
            accounts = await uow.accounts.list()
            towns = {t.id: t for t in await uow.towns.list()}
            return [(towns[a.town_id], a) for a in accounts if a.town_id in towns]

    async def credentials(self, account_id: int) -> Credentials:
        async with self.context.store.unit() as uow:
            account = await uow.accounts.get(account_id)
            stored = await uow.accounts.secrets(account_id)
        if account is None or stored is None:
            raise NotFound("error.account.unknown", id=str(account_id))
        session = self.context.box.decrypt(stored.session) if stored.session else None
        return Credentials(account, self.context.box.decrypt(stored.secret), session)

    async def save_session(self, account_id: int, session: str | None) -> None:
        """Keeps a network session (tokens) encrypted, so that we log in once, not per post."""
        async with self.context.store.unit() as uow:
            stored = await uow.accounts.secrets(account_id)
            if stored is None:
                raise NotFound("error.account.unknown", id=str(account_id))
            encrypted = self.context.box.encrypt(session) if session else None
            await uow.accounts.store_secrets(EncryptedSecrets(account_id, stored.secret, encrypted))

    async def save_sessions(self, sessions: Mapping[int, str | None]) -> None:
        """Keeps many accounts' sessions in one transaction; an account unlinked meanwhile is skipped."""
        box = self.context.box
        async with self.context.store.unit() as uow:
            for account_id, session in sessions.items():
                await uow.accounts.store_session(account_id, box.encrypt(session) if session else None)

    async def rotate_keys(self, actor_id: str) -> int:
        """Re-encrypts every stored secret under the newest key; returns how many accounts were rewritten."""
        async with self.context.store.unit() as uow:
            permissions.require_admin(await self.context.actor(uow, actor_id))
            rows = await uow.accounts.all_secrets()
            for row in rows:
                session = self.context.box.rotate(row.session) if row.session else None
                await uow.accounts.store_secrets(
                    EncryptedSecrets(row.account_id, self.context.box.rotate(row.secret), session)
                )
            await uow.audit.append(actor_id, "key.rotate", details={"accounts": len(rows)})
            return len(rows)


def _normalize(platform: Platform, identifier: str, server: str | None) -> tuple[str, str]:
    if platform is Platform.BLUESKY:
        handle = normalize_bluesky_handle(identifier)
        return handle, check_web_url(server).rstrip("/") if server else DEFAULT_BLUESKY_SERVICE
    handle = normalize_mastodon_handle(identifier)
    instance = server or f"https://{handle.rsplit('@', 1)[1]}"
    instance = check_web_url(instance).rstrip("/")
    if not urlsplit(instance).netloc:
        raise InvalidInput("error.identifier.url", value=instance)
    return handle, instance


async def _record(uow: UnitOfWork, checked: Checked) -> None:
    health = _health(checked)
    await uow.accounts.record_health(health.account_id, error=health.error, limits=health.limits)


def _health(checked: Checked) -> HealthRecord:
    problem = checked.problem
    return HealthRecord(checked.account.id, problem.message("fr") if problem else None, checked.limits)
