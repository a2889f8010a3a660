"""Towns' network accounts: linking, encrypted secrets and sessions, key rotation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard
from urllib.parse import urlsplit

from hub.domain import permissions
from hub.domain.identifiers import check_web_url, normalize_bluesky_handle, normalize_mastodon_handle
from hub.domain.model import Account, Credential, Platform, Town
from hub.errors import InvalidInput, NotFound, UnissonError
from hub.publishers.base import PermanentPublishError, Publisher
from hub.publishers.bluesky_identity import BlueskyIdentity, find_account
from hub.services import revocation
from hub.services.coalitions import get_town
from hub.services.context import ServiceContext
from hub.store import UnitOfWork
from hub.store.repositories import EncryptedSecrets, HealthRecord

log = logging.getLogger(__name__)

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


@dataclass(frozen=True, slots=True)
class Unlinked:
    """An account the hub forgot: ``revoked`` is True when its token was revoked at the server, False when that
    failed, None when the token was not the hub's to revoke (a password or a pasted token)."""

    town: Town
    account: Account
    revoked: bool | None


@dataclass(frozen=True, slots=True)
class BrokenAccount:
    """An account that stopped working, to be told to ``officers`` (Matrix ids) with the command that fixes it."""

    alert_id: int
    town: Town
    account: Account
    problem: UnissonError
    officers: tuple[str, ...]


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
        *,
        oauth_app_id: int | None = None,
    ) -> Account:
        """Links (or re-links) a town's account; the secret is encrypted before it is stored.

        With ``oauth_app_id`` the secret is a token issued to that app of ours; a token it replaces is revoked.
        """
        identifier, server, secret = linking_input(platform, identifier, secret, server)
        async with self.context.store.unit() as uow:
            town = await get_town(uow, town_id)
            actor = await self.context.actor(uow, actor_id)
            permissions.require_officer(actor, town.id, town.name)
            linked = await uow.accounts.of_town(town.id)
            replaced = await revocation.revocable(uow, linked)
            same = any(a.platform is platform and (a.identifier, a.server) == (identifier, server) for a in linked)
            account = await uow.accounts.upsert(
                town.id,
                platform,
                identifier,
                server,
                self.context.box.encrypt(secret),
                _credential(platform, oauth_app_id),
                oauth_app_id,
            )
            if not town.profile.get(platform.value):
                await uow.towns.update_profile(town.id, {**town.profile, platform.value: identifier})
            # Posts already frozen for this account are checked and prepared again with the new credentials.
            if not same and (left := await uow.outbox.staged_of(account.id)):
                log.warning(
                    "account %s linked to %s: %d post(s) scheduled on the former account stay there (delete them "
                    "there by hand, or they will also be published)",
                    account.id,
                    identifier,
                    left,
                )
            await uow.outbox.prepare_again(account.id, same_account=same)
            await uow.audit.append(
                actor_id,
                "account.link",
                town_id=town.id,
                details={"platform": platform.value, "identifier": identifier, "server": server},
            )
        # A server that hands out the same token again must not see it revoked right after it was linked.
        box, kept = self.context.box, secret
        await revocation.revoke(
            self.context, [r for r in replaced if r.account.platform is platform and box.decrypt(r.token) != kept]
        )
        return account

    async def find_bluesky(self, handle: str, server: str | None = None) -> BlueskyIdentity:
        """Checks that a Bluesky handle exists and finds its PDS (any server), before a password is asked for."""
        handle = normalize_bluesky_handle(handle)
        settings = self.context.settings
        return await find_account(
            handle, check_web_url(server) if server else None, settings.bluesky_plc_url, settings.publish_timeout
        )

    async def unlink(self, actor_id: str, town_id: int, platform: Platform) -> Unlinked:
        """Revokes the account's token at its server (when it is the hub's to revoke), then forgets the account."""
        async with self.context.store.unit() as uow:
            town = await get_town(uow, town_id)
            permissions.require_officer(await self.context.actor(uow, actor_id), town.id, town.name)
            account = next((a for a in await uow.accounts.of_town(town.id) if a.platform is platform), None)
            if account is None:
                raise NotFound("error.account.not_linked", town=town.name, network=platform.value.capitalize())
            tokens = await revocation.revocable(uow, [account])
        failed = await revocation.revoke(self.context, tokens)
        async with self.context.store.unit() as uow:
            await uow.accounts.delete(account.id)
            await uow.audit.append(
                actor_id, "account.unlink", town_id=town.id, details={"platform": platform.value, "revoked": not failed}
            )
        return Unlinked(town, account, (not failed) if tokens else None)

    async def connect(
        self, actor_id: str, town_id: int, platform: Platform, identifier: str, secret: str, server: str | None = None
    ) -> Health:
        """Links an account and checks it at once (credentials, limits, server reachable)."""
        account = await self.link(actor_id, town_id, platform, identifier, secret, server)
        return await self.verify(account.id, alert=False)

    async def verify(self, account_id: int, *, alert: bool = True) -> Health:
        """Asks the network whether the account can publish; records the answer and the server's limits.

        An account that worked and now needs a person (revoked token, deleted account, changed password) raises
        an alert for its officers, unless ``alert`` is False (the officer linking it sees the answer already).
        """
        async with self.context.store.unit() as uow:
            account = await uow.accounts.get(account_id)
            town = await uow.towns.get(account.town_id) if account else None
        if account is None or town is None:
            raise NotFound("error.account.unknown", id=str(account_id))
        checked = await self.ask(account)
        async with self.context.store.unit() as uow:
            if not (alert and await _alerted(uow, checked)):
                await _record(uow, checked)
            account = await uow.accounts.get(account.id) or account
        return Health(town, account, checked.problem)

    async def ask(self, account: Account) -> Checked:
        """Asks the network whether ``account`` can publish, without recording the answer (see :meth:`record`)."""
        return await check_account(self.context.publisher(account.platform), account)

    async def record(self, checks: Sequence[Checked]) -> None:
        """Records many accounts' checks in one transaction (the pre-flight checks thousands)."""
        async with self.context.store.unit() as uow:
            alerted = {c.account.id for c in checks if await _alerted(uow, c)}
            await uow.accounts.record_healths([_health(c) for c in checks if c.account.id not in alerted])

    async def broken(self) -> list[BrokenAccount]:
        """The alerts not yet told to the officers, oldest first."""
        async with self.context.store.unit() as uow:
            alerts = await uow.alerts.due()
            accounts = await uow.accounts.many(a.account_id for a in alerts)
            officers = await uow.roles.officers_by_town({a.town_id for a in alerts})
            towns = {t.id: t for t in await uow.towns.list()}
        return [
            BrokenAccount(
                a.id,
                towns[a.town_id],
                accounts[a.account_id],
                _problem_of(a.problem),
                tuple(officers.get(a.town_id, ())),
            )
            for a in alerts
            if a.account_id in accounts and a.town_id in towns
        ]

    async def alert_told(self, alert_id: int) -> None:
        async with self.context.store.unit() as uow:
            await uow.alerts.sent(alert_id, self.context.clock())

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


def needs_person(problem: UnissonError | None) -> TypeGuard[PermanentPublishError]:
    """Whether only an officer can fix it: the account must be linked again."""
    return isinstance(problem, PermanentPublishError) and problem.reconnect


def _alert_of(problem: UnissonError) -> tuple[str, dict[str, object]]:
    """The error recorded on the account (French, as every stored error) and the alert's problem."""
    return problem.message("fr"), {"key": problem.message_key, "params": {k: str(v) for k, v in problem.params.items()}}


def _problem_of(stored: dict[str, object]) -> UnissonError:
    params = stored.get("params")
    return UnissonError(str(stored.get("key")), **(params if isinstance(params, dict) else {}))


def _credential(platform: Platform, oauth_app_id: int | None) -> Credential:
    if oauth_app_id is not None:
        return Credential.OAUTH
    return Credential.APP_PASSWORD if platform is Platform.BLUESKY else Credential.ACCESS_TOKEN


async def check_account(publisher: Publisher, account: Account) -> Checked:
    """Asks the network whether ``account`` can publish; a refusal is returned in :class:`Checked`, not raised.

    Shared by the towns' accounts and the coalitions' own (:mod:`hub.services.coalition_accounts`)."""
    try:
        check = await publisher.verify(account)
    except UnissonError as error:  # publish errors and our own refusals alike are reported, not raised
        return Checked(account, error, None)
    return Checked(account, None, check.limits)


def linking_input(platform: Platform, identifier: str, secret: str, server: str | None) -> tuple[str, str, str]:
    """What an account is linked with, checked: its identifier and server normalized, its secret trimmed (and
    present). Shared by the towns' accounts and the coalitions' own."""
    identifier, server = normalize_account(platform, identifier, server)
    if not secret.strip():
        raise InvalidInput("error.account.secret_required")
    return identifier, server, secret.strip()


def normalize_account(platform: Platform, identifier: str, server: str | None) -> tuple[str, str]:
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


async def _alerted(uow: UnitOfWork, checked: Checked) -> bool:
    """Whether a check found a working account now needing a person, and raised its alert (which records the
    error: the officers are told once, at the first failure)."""
    problem = checked.problem
    return needs_person(problem) and await uow.alerts.broke(checked.account.id, *_alert_of(problem))


def _health(checked: Checked) -> HealthRecord:
    problem = checked.problem
    return HealthRecord(checked.account.id, problem.message("fr") if problem else None, checked.limits)
