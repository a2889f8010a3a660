"""Towns' network accounts: linking, encrypted secrets and sessions, key rotation."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from hub.domain import permissions
from hub.domain.identifiers import check_web_url, normalize_bluesky_handle, normalize_mastodon_handle
from hub.domain.model import Account, Platform, Town
from hub.errors import InvalidInput, NotFound
from hub.services.coalitions import get_town
from hub.services.context import Hub
from hub.store.repositories import EncryptedSecrets

DEFAULT_BLUESKY_SERVICE = "https://bsky.social"


@dataclass(frozen=True, slots=True)
class Credentials:
    """Decrypted secrets, for publishers only; never logged (its repr hides them)."""

    account: Account
    secret: str
    session: str | None

    def __repr__(self) -> str:
        return f"Credentials(account={self.account.id}, platform={self.account.platform})"


class AccountService:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

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
        async with self.hub.store.unit() as uow:
            town = await get_town(uow, town_id)
            actor = await self.hub.actor(uow, actor_id)
            permissions.require_officer(actor, town.id, town.name)
            account = await uow.accounts.upsert(
                town.id, platform, identifier, server, self.hub.box.encrypt(secret.strip())
            )
            if not town.profile.get(platform.value):
                await uow.towns.update_profile(town.id, {**town.profile, platform.value: identifier})
            await uow.audit.append(
                actor_id,
                "account.link",
                town_id=town.id,
                details={"platform": platform.value, "identifier": identifier, "server": server},
            )
            return account

    async def of_town(self, town_id: int) -> list[Account]:
        async with self.hub.store.unit() as uow:
            return await uow.accounts.of_town(town_id)

    async def all(self) -> list[tuple[Town, Account]]:
        async with self.hub.store.unit() as uow:
            accounts = await uow.accounts.list()
            towns = {t.id: t for t in await uow.towns.list()}
            return [(towns[a.town_id], a) for a in accounts if a.town_id in towns]

    async def credentials(self, account_id: int) -> Credentials:
        async with self.hub.store.unit() as uow:
            account = await uow.accounts.get(account_id)
            stored = await uow.accounts.secrets(account_id)
        if account is None or stored is None:
            raise NotFound("error.account.unknown", id=str(account_id))
        session = self.hub.box.decrypt(stored.session) if stored.session else None
        return Credentials(account, self.hub.box.decrypt(stored.secret), session)

    async def save_session(self, account_id: int, session: str | None) -> None:
        """Keeps a network session (tokens) encrypted, so that we log in once, not per post."""
        async with self.hub.store.unit() as uow:
            stored = await uow.accounts.secrets(account_id)
            if stored is None:
                raise NotFound("error.account.unknown", id=str(account_id))
            encrypted = self.hub.box.encrypt(session) if session else None
            await uow.accounts.store_secrets(EncryptedSecrets(account_id, stored.secret, encrypted))

    async def rotate_keys(self, actor_id: str) -> int:
        """Re-encrypts every stored secret under the newest key; returns how many accounts were rewritten."""
        async with self.hub.store.unit() as uow:
            permissions.require_admin(await self.hub.actor(uow, actor_id))
            rows = await uow.accounts.all_secrets()
            for row in rows:
                session = self.hub.box.rotate(row.session) if row.session else None
                await uow.accounts.store_secrets(
                    EncryptedSecrets(row.account_id, self.hub.box.rotate(row.secret), session)
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
