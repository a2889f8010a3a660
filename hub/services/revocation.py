"""Revoking the OAuth tokens the hub holds, at their server, before the hub forgets them (an account unlinked, a
town erased, a token replaced). Only tokens issued to Unisson's own app can be revoked by it: a pasted token
belongs to an app of the officer's, which only they can revoke."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from hub.domain.model import Account, Credential
from hub.errors import UnissonError
from hub.publishers.mastodon_oauth import Registration
from hub.services.context import ServiceContext
from hub.store import UnitOfWork
from hub.store.repositories import StoredApp

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Revocable:
    """A token the hub may revoke, with the app it was issued to; both secrets still encrypted."""

    account: Account
    app: StoredApp
    token: bytes

    def __repr__(self) -> str:
        return f"Revocable(account={self.account.id})"


async def revocable(uow: UnitOfWork, accounts: Iterable[Account]) -> list[Revocable]:
    """The OAuth tokens among ``accounts``, read in the caller's transaction."""
    found = []
    for account in accounts:
        if account.credential is not Credential.OAUTH:
            continue
        app_id = await uow.accounts.oauth_app_of(account.id)
        app = await uow.oauth.app_by_id(app_id) if app_id is not None else None
        stored = await uow.accounts.secrets(account.id)
        if app is not None and stored is not None:
            found.append(Revocable(account, app, stored.secret))
    return found


async def revoke(context: ServiceContext, tokens: Iterable[Revocable]) -> list[Account]:
    """Revokes each token at its server; returns the accounts whose token could not be revoked."""
    failed = []
    for item in tokens:
        app = Registration(item.app.client_id, context.box.decrypt(item.app.client_secret))
        try:
            await context.oauth_client().revoke(item.account.server, app, context.box.decrypt(item.token))
        except UnissonError as error:
            log.warning("Could not revoke the token of account %s at %s: %s", item.account.id, item.app.server, error)
            failed.append(item.account)
    return failed
