"""Mastodon's OAuth 2 endpoints, as an app that links accounts uses them: discovery, app registration, the
authorization link, the code exchange, revocation.

Every failure becomes one of our errors here, with a message that says what to do; no secret (client secret,
code, verifier, token) ever appears in an error, a log line or a repr.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from hub.errors import UnissonError

log = logging.getLogger(__name__)

CLIENT_NAME = "Unisson"


class OAuthUnavailable(UnissonError):
    """The server does not let apps register: the officer pastes a token instead."""

    key = "error.oauth.unavailable"


class ServerUnreachable(UnissonError):
    key = "error.oauth.unreachable"


class CodeRefused(UnissonError):
    key = "error.oauth.code_refused"


class RevocationFailed(UnissonError):
    key = "error.oauth.revoke_failed"


@dataclass(frozen=True, slots=True)
class ServerAuth:
    """What a server's ``/.well-known/oauth-authorization-server`` says (Mastodon 4.3+); older servers have none."""

    scopes: frozenset[str] | None
    pkce: bool


@dataclass(frozen=True, slots=True)
class Registration:
    client_id: str
    client_secret: str

    def __repr__(self) -> str:
        return "Registration(…)"


def authorize_url(
    server: str, client_id: str, redirect_uri: str, scopes: str, state: str, challenge: str | None
) -> str:
    """The link the officer opens to approve Unisson on their server."""
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scopes,
        "state": state,
    }
    if challenge is not None:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    return f"{server}/oauth/authorize?{urlencode(params)}"


class MastodonOAuthClient:
    """The HTTP calls; one session, opened on first use, closed by :meth:`close`."""

    def __init__(self, timeout: float = 10.0, http: aiohttp.ClientSession | None = None) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._http = http
        self._owns_http = http is None

    async def discover(self, server: str) -> ServerAuth:
        """The scopes and PKCE methods the server states; an older server states nothing (and has no PKCE)."""
        status, body = await self._call("GET", server, "/.well-known/oauth-authorization-server")
        if status != 200 or not isinstance(body, dict):
            return ServerAuth(None, False)
        scopes = body.get("scopes_supported")
        methods = body.get("code_challenge_methods_supported") or []
        return ServerAuth(frozenset(map(str, scopes)) if isinstance(scopes, list) else None, "S256" in methods)

    async def register(self, server: str, redirect_uri: str, scopes: str) -> Registration:
        form = {"client_name": CLIENT_NAME, "redirect_uris": redirect_uri, "scopes": scopes}
        status, body = await self._call("POST", server, "/api/v1/apps", form)
        if status != 200 or not isinstance(body, dict) or not body.get("client_id") or not body.get("client_secret"):
            log.info("%s does not register apps (HTTP %s)", server, status)
            raise OAuthUnavailable(server=server)
        return Registration(str(body["client_id"]), str(body["client_secret"]))

    async def exchange(self, server: str, app: Registration, redirect_uri: str, code: str, verifier: str | None) -> str:
        """The access token for ``code``; :class:`CodeRefused` if the server refuses the code."""
        form = {
            "grant_type": "authorization_code",
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "redirect_uri": redirect_uri,
            "code": code,
        }
        if verifier is not None:
            form["code_verifier"] = verifier
        status, body = await self._call("POST", server, "/oauth/token", form)
        if status == 200 and isinstance(body, dict) and body.get("access_token"):
            return str(body["access_token"])
        if 400 <= status < 500:
            raise CodeRefused(server=server)
        raise ServerUnreachable(server=server, detail=f"HTTP {status}")

    async def username(self, server: str, token: str) -> str:
        """The username of the token's account (``verify_credentials``)."""
        status, body = await self._call("GET", server, "/api/v1/accounts/verify_credentials", token=token)
        if status != 200 or not isinstance(body, dict) or not body.get("username"):
            raise ServerUnreachable(server=server, detail=f"HTTP {status}")
        return str(body["username"])

    async def revoke(self, server: str, app: Registration, token: str) -> None:
        form = {"client_id": app.client_id, "client_secret": app.client_secret, "token": token}
        status, _ = await self._call("POST", server, "/oauth/revoke", form)
        if status != 200:
            raise RevocationFailed(server=server, detail=f"HTTP {status}")

    async def close(self) -> None:
        if self._owns_http and self._http is not None:
            await self._http.close()
            self._http = None

    async def _call(
        self, method: str, server: str, path: str, form: Mapping[str, str] | None = None, token: str | None = None
    ) -> tuple[int, Any]:
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        try:
            async with self._session().request(method, server + path, data=form, headers=headers) as response:
                body = await response.json(content_type=None) if _is_json(response) else None
                return response.status, body
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise ServerUnreachable(server=server, detail=type(error).__name__) from None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=self._timeout)
        return self._http


def _is_json(response: aiohttp.ClientResponse) -> bool:
    return "json" in response.headers.get("Content-Type", "")
