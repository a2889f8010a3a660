"""The networks of the demo, all on loopback: Bluesky (the real PDS where it is installed, else the double),
Mastodon (the double: no real Mastodon server installs from the registries), and stand-ins for the towns' web
sites, so that the link cards of the Bluesky posts are read locally rather than from the Internet."""

from __future__ import annotations

import contextlib
import html
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlencode

from aiohttp import web

from sandbox.bluesky import BlueskyDouble
from sandbox.mastodon import MastodonDouble
from sandbox.pds import RunningPds, run_pds

#: The collection of Bluesky posts.
POST = "app.bsky.feed.post"


@dataclass(frozen=True, slots=True)
class BlueskyAccount:
    handle: str
    did: str
    app_password: str


class BlueskyServer(Protocol):
    """Where the towns' Bluesky accounts live: ``url`` is their PDS, ``plc_url`` resolves their DIDs."""

    @property
    def url(self) -> str: ...

    @property
    def plc_url(self) -> str: ...

    @property
    def real(self) -> bool: ...

    async def open_account(self, handle: str) -> BlueskyAccount: ...


@dataclass
class PdsServer:
    """The real ``@atproto/pds`` with its PLC directory: accounts are created over XRPC, with an app password."""

    pds: RunningPds
    real: bool = True

    @property
    def url(self) -> str:
        return self.pds.url

    @property
    def plc_url(self) -> str:
        return self.pds.plc_url

    async def open_account(self, handle: str) -> BlueskyAccount:
        created = await self.pds.create_account(handle, f"communication@{handle}", secrets.token_urlsafe(18))
        app_password = await self.pds.create_app_password(created.access_jwt, "unisson")
        return BlueskyAccount(handle, created.did, app_password)


@dataclass
class DoubleServer:
    """The Bluesky double, which is its own PLC directory."""

    double: BlueskyDouble
    url: str
    real: bool = False

    @property
    def plc_url(self) -> str:
        return self.url

    async def open_account(self, handle: str) -> BlueskyAccount:
        app_password = "-".join(secrets.token_hex(2) for _ in range(4))  # the xxxx-xxxx-xxxx-xxxx form
        return BlueskyAccount(handle, self.double.add_account(handle, app_password), app_password)


@contextlib.asynccontextmanager
async def bluesky_server(folder: Path, *, real: bool) -> AsyncIterator[BlueskyServer]:
    """The real PDS (its log in ``folder/pds.log``) when ``real``, else the double."""
    if real:
        async with run_pds(log_path=folder / "pds.log") as pds:
            yield PdsServer(pds)
    else:
        double = BlueskyDouble()
        async with double.serve() as url:
            yield DoubleServer(double, url)


def bluesky_post_url(server: BlueskyServer, remote_id: str) -> str:
    """A post (``at://DID/app.bsky.feed.post/RKEY``) as the local server gives it: ``getRecord`` needs no login."""
    repo, collection, rkey = remote_id.removeprefix("at://").split("/")
    query = urlencode({"repo": repo, "collection": collection, "rkey": rkey})
    return f"{server.url}/xrpc/com.atproto.repo.getRecord?{query}"


def bluesky_posts_url(server: BlueskyServer, did: str) -> str:
    """Every post of an account on the local server."""
    return f"{server.url}/xrpc/com.atproto.repo.listRecords?{urlencode({'repo': did, 'collection': POST})}"


@dataclass(frozen=True, slots=True)
class MastodonAccount:
    username: str
    id: str
    token: str


def open_mastodon_account(double: MastodonDouble, username: str, display_name: str) -> MastodonAccount:
    account = double.add_account(username, display_name=display_name, language="fr")
    return MastodonAccount(username, account.id, double.issue_token(username))


def mastodon_status_url(server: str, status_id: str) -> str:
    """A status on the local server (public statuses are readable without a token)."""
    return f"{server}/api/v1/statuses/{status_id}"


def mastodon_statuses_url(server: str, account: MastodonAccount) -> str:
    return f"{server}/api/v1/accounts/{account.id}/statuses"


#: Where the towns' sites server shows Bluesky posts as a web app would (``UNISSON_BLUESKY_APP_URL``).
BLUESKY_APP = "/bluesky"


@contextlib.asynccontextmanager
async def town_sites(pages: Mapping[str, tuple[str, str]], bluesky_url: str = "") -> AsyncIterator[str]:
    """Serves one page per town at ``/SLUG`` with its Open Graph title and description; gives the base URL.

    Under :data:`BLUESKY_APP` it also sends a post's web-app link (``/profile/HANDLE/post/RKEY``) to the post
    on the local Bluesky server at ``bluesky_url`` (the real PDS has no web app of its own)."""

    async def post(request: web.Request) -> web.Response:
        handle, rkey = request.match_info["handle"], request.match_info["rkey"]
        query = urlencode({"repo": handle, "collection": POST, "rkey": rkey})
        raise web.HTTPFound(f"{bluesky_url}/xrpc/com.atproto.repo.getRecord?{query}")

    async def page(request: web.Request) -> web.Response:
        found = pages.get(request.match_info["slug"])
        if found is None:
            raise web.HTTPNotFound()
        title, description = (html.escape(part, quote=True) for part in found)
        body = (
            f'<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>{title}</title>'
            f'<meta property="og:title" content="{title}">'
            f'<meta property="og:description" content="{description}"></head>'
            f"<body><h1>{title}</h1><p>{description}</p></body></html>"
        )
        return web.Response(text=body, content_type="text/html")

    app = web.Application()
    app.add_routes([web.get("/{slug}", page), web.get(BLUESKY_APP + "/profile/{handle}/post/{rkey}", post)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
