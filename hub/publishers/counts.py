"""Reading what the towns' posts got (likes, reposts, replies, quotes) from the networks, after publication.

- Bluesky: ``app.bsky.feed.getPosts`` answers for at most 25 at-uris a call; it is the AppView's (the public one,
  unauthenticated, or one a PDS proxies to). A post it leaves out is gone.
- Mastodon-API servers: ``GET /api/v1/statuses?id[]=…`` (Mastodon 4.3+) answers for several statuses at once and
  leaves out those it cannot show; a server without it (an older Mastodon, Takahē…) is read one status at a time.
  A status left out of a batch is asked for alone: only a 404 there means deleted. The statuses are read with
  a token of the towns' own accounts on that server (:meth:`CountReader.mastodon`'s ``tokens``): some servers
  answer anonymous API reads 401 (``DISALLOW_UNAUTHENTICATED_API_ACCESS``). A token refused (401, or 403
  for a token without ``read`` scope) gives way to the next one, and the last resort is to read anonymously.

Reading is low priority and paced (one request at a time, a pause between them); any failure is raised as a
transient publish error, and the caller only delays its report.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import aiohttp

from hub.domain.reach import Counts
from hub.publishers.base import TransientPublishError
from hub.publishers.http import LazyHttp

#: getPosts's own cap (the lexicon's ``maxLength``).
BLUESKY_BATCH = 25
#: Mastodon caps ``id[]`` (20 is assumed, the documented number is missing): one batch stays within it.
MASTODON_BATCH = 20
#: Pause between two requests: counts can wait, the servers' limits are for publishing.
PAUSE_SECONDS = 0.2


class CountReader:
    """Reads post counts over HTTP; one per hub, closed with it."""

    def __init__(self, appview_url: str, *, timeout: float = 10.0, pause: float = PAUSE_SECONDS) -> None:
        self.appview_url = appview_url.rstrip("/")
        self.pause = pause
        self._http = LazyHttp(timeout)
        #: Servers found not to answer ``id[]`` batches: read one status at a time.
        self._no_batches: set[str] = set()

    async def bluesky(self, uris: Sequence[str]) -> dict[str, Counts]:
        """Counts by at-uri; a post the AppView leaves out is counted as deleted."""
        found: dict[str, Counts] = {}
        for start in range(0, len(uris), BLUESKY_BATCH):
            batch = uris[start : start + BLUESKY_BATCH]
            url = f"{self.appview_url}/xrpc/app.bsky.feed.getPosts"
            body = await self._get(url, [("uris", u) for u in batch])
            for post in body.get("posts", []) if isinstance(body, dict) else []:
                found[str(post.get("uri"))] = _bluesky_counts(post)
            await asyncio.sleep(self.pause)
        return {uri: found.get(uri, Counts(deleted=True)) for uri in uris}

    async def mastodon(self, server: str, ids: Sequence[str], tokens: Sequence[str] = ()) -> dict[str, Counts]:
        """Counts by status id on one server; a status the server no longer has is counted as deleted.

        ``tokens``: access tokens of accounts on that server, tried in turn; anonymous reads come last.
        """
        found: dict[str, Counts] = {}
        reader = _Readers(self, [*dict.fromkeys(tokens), None])
        if server not in self._no_batches:
            for start in range(0, len(ids), MASTODON_BATCH):
                batch = await self._mastodon_batch(reader, server, ids[start : start + MASTODON_BATCH])
                if batch is None:
                    self._no_batches.add(server)
                    break
                found.update(batch)
        for status_id in [i for i in ids if i not in found]:
            found[status_id] = await self._mastodon_one(reader, server, status_id)
        return found

    async def _mastodon_batch(self, reader: _Readers, server: str, ids: Sequence[str]) -> dict[str, Counts] | None:
        """None when the server does not know the batch endpoint (it reads ``statuses`` as a status id)."""
        url = f"{server.rstrip('/')}/api/v1/statuses"
        body = await reader.get(url, [("id[]", i) for i in ids])
        await asyncio.sleep(self.pause)
        if not isinstance(body, list):
            return None
        return {str(s.get("id")): _mastodon_counts(s) for s in body if isinstance(s, dict)}

    async def _mastodon_one(self, reader: _Readers, server: str, status_id: str) -> Counts:
        body = await reader.get(f"{server.rstrip('/')}/api/v1/statuses/{status_id}", [])
        await asyncio.sleep(self.pause)
        return _mastodon_counts(body) if isinstance(body, dict) else Counts(deleted=True)

    async def _get(
        self, url: str, params: list[tuple[str, str]], *, missing_ok: bool = False, token: str | None = None
    ) -> Any:
        """The JSON answer; None for a 404 or 400 when ``missing_ok``; :class:`_Refused` for a 401 or 403 with
        a token; a transient error for anything else."""
        headers = {"Authorization": f"Bearer {token}"} if token else None
        try:
            async with self._http.session().get(url, params=params, headers=headers) as response:
                if missing_ok and response.status in (400, 404, 422):
                    return None
                if token and response.status in (401, 403):
                    raise _Refused
                if response.status != 200:
                    raise TransientPublishError("publish.counts", status=str(response.status), url=url)
                return await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise TransientPublishError("publish.counts", status=type(error).__name__, url=url) from error

    async def close(self) -> None:
        await self._http.close()


class _Refused(Exception):
    """A token the server refused to read with (revoked, or without ``read`` scope)."""


class _Readers:
    """Who reads one server's statuses: its first token the server takes, else anonymous (the last resort)."""

    def __init__(self, reader: CountReader, tokens: list[str | None]) -> None:
        self.reader = reader
        self.tokens = tokens

    async def get(self, url: str, params: list[tuple[str, str]]) -> Any:
        while True:
            try:
                return await self.reader._get(url, params, missing_ok=True, token=self.tokens[0])
            except _Refused:
                self.tokens.pop(0)  # never the last: anonymous reads are not refused as a token is


def _number(value: object) -> int:
    return value if isinstance(value, int) else 0


def _bluesky_counts(post: dict[str, Any]) -> Counts:
    return Counts(
        _number(post.get("likeCount")),
        _number(post.get("repostCount")),
        _number(post.get("replyCount")),
        _number(post.get("quoteCount")),
    )


def _mastodon_counts(status: dict[str, Any]) -> Counts:
    return Counts(
        _number(status.get("favourites_count")),
        _number(status.get("reblogs_count")),
        _number(status.get("replies_count")),
        _number(status.get("quotes_count")),
    )
