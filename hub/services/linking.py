"""Linking a town's Mastodon account the way apps do: OAuth 2 authorization code, with PKCE where the server
offers it. The officer never handles a long-lived secret.

1. :meth:`MastodonLinking.start`: Unisson is registered once per server and redirect URI (least scopes), a
   request is stored — bound to the officer, the town and the direct conversation, expiring after
   :data:`~hub.domain.oauth.REQUEST_MINUTES` minutes, its state hashed and its PKCE verifier encrypted — and
   the authorization link is returned.
2. The officer approves on their server. Without ``UNISSON_PUBLIC_URL`` the server shows a code, which they send
   back with ``!code`` (:meth:`MastodonLinking.finish_with_code`); with it, the server sends them back to the
   hub's callback page (:meth:`MastodonLinking.finish_with_state`).
3. The code is exchanged once, the account read from the server, the token stored encrypted and checked.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.domain import permissions
from hub.domain.model import Platform, Town
from hub.domain.oauth import (
    OUT_OF_BAND,
    REQUEST_MINUTES,
    new_pkce,
    new_state,
    scopes_for,
    state_hash,
    target_of,
)
from hub.errors import UnissonError
from hub.publishers.mastodon_oauth import Registration, authorize_url
from hub.services.accounts import AccountService, Health
from hub.services.coalitions import get_town
from hub.services.context import ServiceContext
from hub.store.repositories import StoredApp, StoredRequest
from hub.urls import OAUTH_CALLBACK_PATH, absolute


class NoPendingRequest(UnissonError):
    key = "error.oauth.no_request"


class RequestExpired(UnissonError):
    key = "error.oauth.expired"


class RequestUsed(UnissonError):
    key = "error.oauth.used"


@dataclass(frozen=True, slots=True)
class Authorization:
    """What the officer is sent: the link to open, and whether a code will come back to paste."""

    town: Town
    server: str
    url: str
    #: True: the server redirects to the hub's page; False: the officer pastes the code it shows.
    redirect: bool
    expires_at: datetime


class MastodonLinking:
    def __init__(self, context: ServiceContext, accounts: AccountService) -> None:
        self.context = context
        self.accounts = accounts

    @property
    def redirect_uri(self) -> str:
        return absolute(self.context.settings, OAUTH_CALLBACK_PATH) or OUT_OF_BAND

    async def start(
        self, actor_id: str, town_id: int, where: str, room_id: str, server: str | None = None
    ) -> Authorization:
        """Registers Unisson on the server if need be and opens a request; returns the link to approve it.

        ``where`` is a server or a handle; ``server`` a URL when the server is not the handle's domain.
        """
        target = target_of(where, server)
        async with self.context.store.unit() as uow:
            town = await get_town(uow, town_id)
            permissions.require_officer(await self.context.actor(uow, actor_id), town.id, town.name)
            app = await uow.oauth.app(target.server, self.redirect_uri)
        app = app or await self._register(target.server)
        pkce = new_pkce() if app.pkce else None
        state = new_state()
        expires_at = self.context.clock() + timedelta(minutes=REQUEST_MINUTES)
        verifier = self.context.box.encrypt(pkce.verifier) if pkce else None
        async with self.context.store.unit() as uow:
            await uow.oauth.forget_before(self.context.clock())
            await uow.oauth.add_request(
                state_hash(state), actor_id, town.id, room_id, app.id, target.domain, verifier, expires_at
            )
        challenge = pkce.challenge if pkce else None
        url = authorize_url(app.server, app.client_id, app.redirect_uri, app.scopes, state, challenge)
        return Authorization(town, app.server, url, app.redirect_uri != OUT_OF_BAND, expires_at)

    async def finish_with_code(self, actor_id: str, room_id: str, code: str) -> Health:
        """The code the officer pasted, for their latest request in this conversation."""
        async with self.context.store.unit() as uow:
            request = await uow.oauth.latest(actor_id, room_id)
        if request is None:
            raise NoPendingRequest()
        return await self._finish(request, code.strip())

    async def finish_with_state(self, state: str, code: str) -> Health:
        """The server's redirect to the hub's page: the state names the request."""
        async with self.context.store.unit() as uow:
            request = await uow.oauth.by_state(state_hash(state))
        if request is None:
            raise NoPendingRequest()
        return await self._finish(request, code.strip())

    async def _finish(self, request: StoredRequest, code: str) -> Health:
        self._check_open(request)
        async with self.context.store.unit() as uow:
            app = await uow.oauth.app_by_id(request.app_id)
            # Single use, decided before the exchange: two answers racing for one request cannot both link.
            if app is None or not await uow.oauth.use(request.id):
                raise RequestUsed()
        registration = Registration(app.client_id, self.context.box.decrypt(app.client_secret))
        verifier = self.context.box.decrypt(request.verifier) if request.verifier else None
        client = self.context.oauth_client()
        token = await client.exchange(app.server, registration, app.redirect_uri, code, verifier)
        try:
            # The account the server vouches for, whatever the officer typed.
            identifier = f"@{await client.username(app.server, token)}@{request.domain}"
            account = await self.accounts.link(
                request.user_id, request.town_id, Platform.MASTODON, identifier, token, app.server, oauth_app_id=app.id
            )
        except UnissonError:
            # Not kept (the officer lost their role meanwhile, the server did not answer): not left valid either.
            with contextlib.suppress(UnissonError):
                await client.revoke(app.server, registration, token)
            raise
        return await self.accounts.verify(account.id, alert=False)

    def _check_open(self, request: StoredRequest) -> None:
        if request.used_at is not None:
            raise RequestUsed()
        if request.expires_at <= self.context.clock():
            raise RequestExpired(minutes=REQUEST_MINUTES)

    async def _register(self, server: str) -> StoredApp:
        client = self.context.oauth_client()
        auth = await client.discover(server)
        scopes = scopes_for(auth.scopes)
        registration = await client.register(server, self.redirect_uri, scopes)
        secret = self.context.box.encrypt(registration.client_secret)
        async with self.context.store.unit() as uow:
            # Another officer may have registered the app meanwhile: keep the first one.
            existing = await uow.oauth.app(server, self.redirect_uri)
            return existing or await uow.oauth.add_app(
                server, self.redirect_uri, registration.client_id, secret, scopes, auth.pkce
            )
