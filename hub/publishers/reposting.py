"""Reposting a town's post from a coalition's own account, and undoing it, exactly once each.

- Bluesky: an ``app.bsky.feed.repost`` record ``{subject: {uri, cid}, createdAt}`` at an rkey the caller chose
  and stored before the first attempt; every attempt first asks the account's repo whether that rkey already
  holds the repost (an earlier attempt whose answer was lost), so a retry never makes a second one. The
  subject's cid is read from the town's own PDS (``getRecord``, public). Undo: ``deleteRecord``.
- Mastodon-API servers: ``POST /api/v1/statuses/:id/reblog`` (a server answers a second boost of the same
  status with the first one) and ``/unreblog``. A status of another server is first found on the coalition's
  server by its URL (``/api/v2/search?resolve=true``). Boosts count towards the account's 300 statuses per
  3 hours, which the caller plans for; a 429 says when to try again.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

import aiohttp

from hub.domain.model import Account
from hub.publishers.base import PermanentPublishError, RateLimit, TransientPublishError
from hub.publishers.bluesky import BlueskyPublisher, PdsSession, xrpc_boundary
from hub.publishers.bluesky_graph import RepoWriter
from hub.publishers.http import LazyHttp
from hub.publishers.mastodon_errors import failure
from hub.publishers.xrpc import XrpcFailure

REPOST = "app.bsky.feed.repost"


class BlueskyReposts:
    def __init__(self, publisher: BlueskyPublisher) -> None:
        self.publisher = publisher
        self.writer = RepoWriter(publisher)

    async def repost(self, account: Account, rkey: str, target_uri: str) -> str:
        """The repost's at-uri; made at ``rkey`` unless it already is there."""
        async with xrpc_boundary():
            session = await self.publisher.session_of(account)
            uri = f"at://{session.did}/{REPOST}/{rkey}"
            if await self._exists(account, rkey):
                return uri
            subject = await self._strong_ref(target_uri)
            now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            record = {"$type": REPOST, "subject": subject, "createdAt": now}

            async def create(s: PdsSession) -> Any:
                body = {"repo": s.did, "collection": REPOST, "rkey": rkey, "record": record}
                return await self.writer.send(s, "POST", "com.atproto.repo.createRecord", body)

            await self.publisher.with_session(account, create)
            return uri

    async def undo(self, account: Account, rkey: str) -> None:
        async def remove(s: PdsSession) -> Any:
            body = {"repo": s.did, "collection": REPOST, "rkey": rkey}
            return await self.writer.send(s, "POST", "com.atproto.repo.deleteRecord", body)

        async with xrpc_boundary():
            await self.publisher.with_session(account, remove)

    async def _exists(self, account: Account, rkey: str) -> bool:
        async def get(s: PdsSession) -> Any:
            params = {"repo": s.did, "collection": REPOST, "rkey": rkey}
            return await self.writer.send(s, "GET", "com.atproto.repo.getRecord", params)

        try:
            await self.publisher.with_session(account, get)
        except XrpcFailure as missing:
            if missing.status == 400 and missing.error in ("RecordNotFound", "InvalidRequest"):
                return False
            raise
        return True

    async def _strong_ref(self, uri: str) -> dict[str, str]:
        did, collection, rkey = uri.removeprefix("at://").split("/")
        pds = await self.publisher.pds_of(did)
        url = f"{pds.rstrip('/')}/xrpc/com.atproto.repo.getRecord"
        params = {"repo": did, "collection": collection, "rkey": rkey}
        async with self.publisher.http.get(url, params=params) as answer:
            if answer.status != 200:
                raise PermanentPublishError("publish.repost.gone", uri=uri)
            found = await answer.json(content_type=None)
        return {"uri": uri, "cid": str(found["cid"])}


class MastodonReposts:
    def __init__(self, secret: Any, *, timeout: float = 10.0) -> None:
        #: ``await secret(account_id)``: the account's access token.
        self.secret = secret
        self._http = LazyHttp(timeout)

    async def repost(self, account: Account, target_id: str, target_url: str, target_server: str) -> str:
        """Boosts the status; returns its id on the coalition's server (for the undo)."""
        same = target_server.rstrip("/") == account.server.rstrip("/")
        local = target_id if same else await self._find(account, target_url)
        await self._call(account, "POST", f"/api/v1/statuses/{local}/reblog")
        return local

    async def undo(self, account: Account, status_id: str) -> None:
        await self._call(account, "POST", f"/api/v1/statuses/{status_id}/unreblog")

    async def _find(self, account: Account, url: str) -> str:
        params = {"q": url, "type": "statuses", "resolve": "true", "limit": "1"}
        found = await self._call(account, "GET", "/api/v2/search", params)
        statuses = found.get("statuses", []) if isinstance(found, dict) else []
        if not statuses:
            raise PermanentPublishError("publish.repost.gone", uri=url)
        return str(statuses[0]["id"])

    async def _call(self, account: Account, verb: str, path: str, params: dict[str, str] | None = None) -> Any:
        headers = {"Authorization": f"Bearer {await self.secret(account.id)}"}
        url = account.server.rstrip("/") + path
        try:
            async with self._http.session().request(verb, url, headers=headers, params=params) as answer:
                body = await answer.json(content_type=None) if answer.content_length != 0 else None
                if answer.status >= 300:
                    raise failure(answer.status, body, account, _pace(answer.headers))
                return body
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise TransientPublishError("publish.repost.network", detail=type(error).__name__) from error

    async def close(self) -> None:
        await self._http.close()


def _pace(headers: Any) -> RateLimit | None:
    with contextlib.suppress(KeyError, ValueError):
        reset = datetime.fromisoformat(headers["X-RateLimit-Reset"].replace("Z", "+00:00"))
        return RateLimit(int(headers["X-RateLimit-Limit"]), int(headers["X-RateLimit-Remaining"]), reset)
    return None
