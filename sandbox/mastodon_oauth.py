"""The OAuth 2 side of the Mastodon double (mounted by :class:`sandbox.mastodon.MastodonDouble`).

Like the rest of the double it is **not** Mastodon: it reproduces, point by point, what Mastodon (through
Doorkeeper) documents for apps that link an account, and nothing else. Wordings marked "(unverified)" were read
from Doorkeeper's locale file or Mastodon's source, not checked against a running server.

Points reproduced
-----------------
1. ``POST /api/v1/apps`` (form or JSON) ``{client_name, redirect_uris, scopes, website}``: every registration
   makes a new confidential app (Mastodon issues no public clients) and answers ``{id, name, website,
   redirect_uri, redirect_uris, client_id, client_secret, scopes, vapid_key}``. ``redirect_uris`` is one URI, a
   list, or several separated by new lines; each must be absolute (``urn:ietf:wg:oauth:2.0:oob`` allowed).
   ``scopes`` defaults to ``read``; an unknown scope or a missing name or redirect: 422 ``Validation failed:
   ...`` (wording unverified).
2. ``GET /.well-known/oauth-authorization-server`` (Mastodon 4.3+): issuer, the endpoints, ``scopes_supported``
   (with ``profile``), ``response_types_supported: ["code"]``, ``code_challenge_methods_supported: ["S256"]``,
   the grant types and client authentication methods. ``OAuthProvider(metadata=False)`` answers 404 and makes
   the server an older one (no ``profile`` scope, no PKCE), as Mastodon before 4.3.
3. ``GET /oauth/authorize?response_type=code&client_id&redirect_uri&scope&state[&code_challenge
   &code_challenge_method=S256]``: a tiny consent page. The double has no login: the page asks which local
   account approves (the person is "signed in" as the account they name) and offers Authorize / Deny. An
   unknown client, a redirect URI the app did not register, a scope the app did not register or a PKCE method
   other than S256: the page shows the error and redirects nowhere (as Doorkeeper does for client and
   redirect errors). ``scope`` defaults to the app's scopes.
4. ``POST /oauth/authorize`` (the consent form): with the out-of-band redirect the page shows the code; with a
   real redirect URI, 302 to it with ``code`` and ``state``; Deny redirects with ``error=access_denied`` (or
   shows it, out of band). A code lives 10 minutes and works once (Doorkeeper's defaults).
5. ``POST /oauth/token`` (form or JSON): ``grant_type=authorization_code`` with client authentication in the
   body or HTTP Basic, ``code``, ``redirect_uri`` (the one the code was made for) and, when the code was asked
   with a challenge, ``code_verifier`` (S256 checked). Answers ``{access_token, token_type: "Bearer", scope,
   created_at}``. A used, expired, foreign or unknown code, a wrong redirect or verifier: 400 ``{"error":
   "invalid_grant", "error_description": ...}``; bad client credentials: 401 ``invalid_client``. A code used
   twice also revokes the token the first use issued (RFC 6749 §4.1.2 recommends it; unverified for Mastodon).
   ``grant_type=client_credentials`` issues an app-only token.
6. ``POST /oauth/revoke`` ``{client_id, client_secret, token}`` (RFC 7009): 200 ``{}`` whether or not the
   token existed; a token of another app: 403 ``unauthorized_client``; bad client credentials: 401
   ``invalid_client``. A revoked token gets 401 "The access token was revoked" from every endpoint.
7. Tokens carry exactly the scopes granted, enforced per endpoint by the double (``verify_credentials``
   accepts ``profile``, ``read:accounts`` or ``read``; posting needs ``write:statuses``; media ``write:media``).

For tests: :attr:`OAuthProvider.apps`, :meth:`OAuthProvider.token_of` (the token an approval produced, to check
its revocation) and ``revoked(token)``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web

if TYPE_CHECKING:
    from sandbox.mastodon import MastodonDouble

OUT_OF_BAND = "urn:ietf:wg:oauth:2.0:oob"
#: Mastodon 4.3's scopes (``follow`` is deprecated but still accepted).
SCOPES = frozenset(
    {
        "read",
        "write",
        "push",
        "follow",
        "profile",
        *(
            f"{kind}:{what}"
            for kind, names in (
                ("read", "accounts blocks bookmarks favourites filters follows lists mutes notifications search"),
                ("read", "statuses"),
                ("write", "accounts blocks bookmarks conversations favourites filters follows lists media"),
                ("write", "mutes notifications reports statuses"),
            )
            for what in names.split()
        ),
    }
)
#: Before 4.3 there was no ``profile`` scope.
OLD_SCOPES = SCOPES - {"profile"}
CODE_SECONDS = 600
INVALID_GRANT = (
    "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in "
    "the authorization request, or was issued to another client."
)
INVALID_CLIENT = (
    "Client authentication failed due to unknown client, no client authentication included, or unsupported "
    "authentication method."
)


@dataclass
class App:
    """A registered application (always confidential)."""

    id: str
    name: str
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    scopes: frozenset[str]
    website: str | None = None


@dataclass
class _Grant:
    """An authorization code waiting to be exchanged."""

    app: App
    username: str
    scopes: frozenset[str]
    redirect_uri: str
    challenge: str | None
    expires_at: float
    used: bool = False
    tokens: list[str] = field(default_factory=list)


class OAuthError(Exception):
    """An OAuth error answer: ``{"error", "error_description"}`` with an HTTP status."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(error)
        self.status, self.error, self.description = status, error, description

    def response(self) -> web.Response:
        body = {"error": self.error, "error_description": self.description}
        return web.json_response(body, status=self.status)


class OAuthProvider:
    """Apps, consent, codes, tokens and revocation for one :class:`~sandbox.mastodon.MastodonDouble`."""

    def __init__(self, double: MastodonDouble, *, metadata: bool = True) -> None:
        self.double = double
        #: False: a server older than Mastodon 4.3 (no well-known document, no ``profile`` scope, no PKCE).
        self.metadata = metadata
        self.apps: dict[str, App] = {}
        self._grants: dict[str, _Grant] = {}
        self._issuer: dict[str, str] = {}

    @property
    def scopes(self) -> frozenset[str]:
        return SCOPES if self.metadata else OLD_SCOPES

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/v1/apps", self._register),
            web.get("/.well-known/oauth-authorization-server", self._metadata),
            web.get("/oauth/authorize", self._consent_page),
            web.post("/oauth/authorize", self._decide),
            web.post("/oauth/token", self._token),
            web.post("/oauth/revoke", self._revoke),
        ]

    def token_of(self, client_id: str) -> list[str]:
        """Every token issued to the app ``client_id``, oldest first."""
        return [token for token, issuer in self._issuer.items() if issuer == client_id]

    # --- apps ----------------------------------------------------------------------------------------------

    async def _register(self, request: web.Request) -> web.Response:
        form = await _body(request)
        name = str(form.get("client_name") or "").strip()
        uris = _uris(form.get("redirect_uris"))
        scopes = frozenset(str(form.get("scopes") or "read").split())
        problems = [text for text in _app_problems(name, uris, scopes, self.scopes) if text]
        if problems:
            return web.json_response({"error": "Validation failed: " + ", ".join(problems)}, status=422)
        app = App(
            id=str(len(self.apps) + 1),
            name=name,
            client_id=secrets.token_urlsafe(32),
            client_secret=secrets.token_urlsafe(32),
            redirect_uris=uris,
            scopes=scopes,
            website=str(form.get("website") or "") or None,
        )
        self.apps[app.client_id] = app
        return web.json_response(_app_json(app))

    async def _metadata(self, request: web.Request) -> web.Response:
        if not self.metadata:
            raise web.HTTPNotFound()
        base = f"{request.scheme}://{request.host}"
        return web.json_response(
            {
                "issuer": f"{base}/",
                "service_documentation": "https://docs.joinmastodon.org/",
                "authorization_endpoint": f"{base}/oauth/authorize",
                "token_endpoint": f"{base}/oauth/token",
                "revocation_endpoint": f"{base}/oauth/revoke",
                "app_registration_endpoint": f"{base}/api/v1/apps",
                "scopes_supported": sorted(self.scopes),
                "response_types_supported": ["code"],
                "response_modes_supported": ["query", "fragment", "form_post"],
                "grant_types_supported": ["authorization_code", "client_credentials"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "code_challenge_methods_supported": ["S256"],
            }
        )

    # --- consent ---------------------------------------------------------------------------------------------

    def _checked(self, params: Mapping[str, str]) -> tuple[App, frozenset[str]]:
        """The app and scopes of an authorization request; raises a page-shown error (never redirects)."""
        app = self.apps.get(params.get("client_id", ""))
        if app is None:
            raise _page_error("invalid_client", INVALID_CLIENT)
        if params.get("redirect_uri") not in app.redirect_uris:
            raise _page_error("invalid_redirect_uri", "The requested redirect uri is malformed or doesn't match.")
        if params.get("response_type") != "code":
            raise _page_error("unsupported_response_type", "The response type is not supported.")
        scopes = frozenset((params.get("scope") or " ".join(sorted(app.scopes))).split())
        if not scopes <= app.scopes:
            raise _page_error("invalid_scope", "The requested scope is invalid, unknown, or malformed.")
        method = params.get("code_challenge_method")
        if params.get("code_challenge") and (method != "S256" or not self.metadata):
            raise _page_error("invalid_request", "The code challenge method must be S256.")
        return app, scopes

    async def _consent_page(self, request: web.Request) -> web.Response:
        try:
            app, scopes = self._checked(request.query)
        except OAuthError as error:
            return _html(f"<h1>{html.escape(error.error)}</h1><p>{html.escape(error.description)}</p>", 400)
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in request.query.items()
        )
        body = (
            f"<h1>Authorization required</h1><p><b>{html.escape(app.name)}</b> asks for: "
            f"{html.escape(' '.join(sorted(scopes)))}</p>"
            f'<form method="post" action="/oauth/authorize">{hidden}'
            '<label>Signed in as <input name="username" required></label>'
            '<button name="decision" value="approve">Authorize</button>'
            '<button name="decision" value="deny">Deny</button></form>'
        )
        return _html(body)

    async def _decide(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        try:
            app, scopes = self._checked(form)
        except OAuthError as error:
            return _html(f"<h1>{html.escape(error.error)}</h1>", 400)
        redirect = form["redirect_uri"]
        if form.get("decision") != "approve":
            return _answer(redirect, {"error": "access_denied", "state": form.get("state", "")})
        username = form.get("username", "")
        try:
            self.double.account(username)
        except KeyError:
            return _html("<h1>Unknown account</h1>", 422)
        code = secrets.token_urlsafe(32)
        self._grants[code] = _Grant(
            app, username, scopes, redirect, form.get("code_challenge") or None, self._now() + CODE_SECONDS
        )
        return _answer(redirect, {"code": code, "state": form.get("state", "")})

    # --- tokens ----------------------------------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        form = await _body(request)
        try:
            app = self._client(request, form)
            grant_type = form.get("grant_type")
            if grant_type == "client_credentials":
                scopes = frozenset(str(form.get("scope") or "read").split()) & app.scopes
                return self._issued(app, self.double.issue_app_token(scopes), scopes)
            if grant_type != "authorization_code":
                raise OAuthError(400, "unsupported_grant_type", "The authorization grant type is not supported.")
            grant = self._redeem(app, form)
        except OAuthError as error:
            return error.response()
        token = self.double.issue_token(grant.username, grant.scopes)
        grant.tokens.append(token)
        return self._issued(app, token, grant.scopes)

    def _redeem(self, app: App, form: Mapping[str, Any]) -> _Grant:
        grant = self._grants.get(str(form.get("code") or ""))
        if grant is None or grant.app is not app or grant.expires_at < self._now():
            raise OAuthError(400, "invalid_grant", INVALID_GRANT)
        if grant.used:
            for token in grant.tokens:  # a replayed code: whoever holds it may have stolen it
                self.double.revoke_token(token)
            raise OAuthError(400, "invalid_grant", INVALID_GRANT)
        grant.used = True
        if form.get("redirect_uri") != grant.redirect_uri:
            raise OAuthError(400, "invalid_grant", INVALID_GRANT)
        if grant.challenge is not None and _challenge(str(form.get("code_verifier") or "")) != grant.challenge:
            raise OAuthError(400, "invalid_grant", INVALID_GRANT)
        return grant

    def _issued(self, app: App, token: str, scopes: frozenset[str]) -> web.Response:
        self._issuer[token] = app.client_id
        return web.json_response(
            {
                "access_token": token,
                "token_type": "Bearer",
                "scope": " ".join(sorted(scopes)),
                "created_at": int(self._now()),
            }
        )

    async def _revoke(self, request: web.Request) -> web.Response:
        form = await _body(request)
        try:
            app = self._client(request, form)
        except OAuthError as error:
            return error.response()
        token = str(form.get("token") or "")
        issuer = self._issuer.get(token)
        if issuer is not None and issuer != app.client_id:
            return OAuthError(403, "unauthorized_client", "You are not authorized to revoke this token").response()
        if issuer is not None:
            self.double.revoke_token(token)
        return web.json_response({})

    def _client(self, request: web.Request, form: Mapping[str, Any]) -> App:
        client_id, client_secret = _basic(request) or (
            str(form.get("client_id") or ""),
            str(form.get("client_secret") or ""),
        )
        app = self.apps.get(client_id)
        if app is None or not secrets.compare_digest(app.client_secret, client_secret):
            raise OAuthError(401, "invalid_client", INVALID_CLIENT)
        return app

    def _now(self) -> float:
        return self.double.now().timestamp()


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        loaded = await request.json()
        return loaded if isinstance(loaded, dict) else {}
    return {k: v for k, v in (await request.post()).items() if isinstance(v, str)}


def _basic(request: web.Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        return None
    client_id, _, client_secret = base64.b64decode(header[6:]).decode("utf-8").partition(":")
    return client_id, client_secret


def _uris(value: object) -> tuple[str, ...]:
    items = value if isinstance(value, list) else str(value or "").splitlines()
    return tuple(str(item).strip() for item in items if str(item).strip())


def _app_problems(name: str, uris: tuple[str, ...], scopes: frozenset[str], known: frozenset[str]) -> list[str]:
    absolute = all(uri == OUT_OF_BAND or (urlsplit(uri).scheme and urlsplit(uri).netloc) for uri in uris)
    return [
        "" if name else "Application name can't be blank",
        "" if uris else "Redirect URI can't be blank",
        "" if absolute else "Redirect URI must be an absolute URI.",
        "" if scopes <= known else "Scopes must be a list of known scopes",
    ]


def _app_json(app: App) -> dict[str, Any]:
    return {
        "id": app.id,
        "name": app.name,
        "website": app.website,
        "redirect_uri": "\n".join(app.redirect_uris),
        "redirect_uris": list(app.redirect_uris),
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "client_secret_expires_at": 0,
        "scopes": sorted(app.scopes),
        "vapid_key": "",
    }


def _page_error(error: str, description: str) -> OAuthError:
    return OAuthError(400, error, description)


def _answer(redirect: str, params: Mapping[str, str]) -> web.Response:
    """Out of band: a page showing the code (or the error); otherwise a redirect carrying it."""
    if redirect == OUT_OF_BAND:
        if "code" in params:
            return _html(f'<h1>Authorization code</h1><p>Copy this code:</p><code id="code">{params["code"]}</code>')
        return _html(f"<h1>{html.escape(params['error'])}</h1>", 400)
    wanted = {k: v for k, v in params.items() if v}
    raise web.HTTPFound(redirect + ("&" if "?" in redirect else "?") + urlencode(wanted))


def _html(body: str, status: int = 200) -> web.Response:
    page = f"<!doctype html><html><head><title>Mastodon double</title></head><body>{body}</body></html>"
    return web.Response(text=page, status=status, content_type="text/html")
