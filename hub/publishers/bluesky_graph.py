"""Writing records other than posts on a Bluesky account: a coalition's starter pack (its reference list, the
list's items, the pack) and reposts. It borrows the session handling of :class:`BlueskyPublisher` (login once,
refresh when stale: its public ``session_of`` and ``with_session``) and its error boundary, and speaks XRPC
over the publisher's HTTP session.

- ``com.atproto.repo.putRecord`` writes a record at a chosen rkey, creating or replacing it: the caller
  chooses and keeps the rkey before the first write, so a write repeated after a crash changes nothing.
- ``com.atproto.repo.applyWrites`` writes many records in one commit (at most :data:`WRITES_PER_CALL`).
- ``com.atproto.repo.listRecords`` pages through a collection (100 a page) to read what is really there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hub.domain.model import Account
from hub.publishers.bluesky import BlueskyPublisher, PdsSession, xrpc_boundary
from hub.publishers.xrpc import XrpcFailure

#: The PDS's cap on one applyWrites call.
WRITES_PER_CALL = 200
PAGE = 100


@dataclass(frozen=True, slots=True)
class Repo:
    """Who the account is: its DID (records' at-uris) and handle (web addresses)."""

    did: str
    handle: str


@dataclass(frozen=True, slots=True)
class Listed:
    """A record as listRecords gives it."""

    rkey: str
    value: dict[str, Any]


def create(collection: str, rkey: str, value: dict[str, Any]) -> dict[str, Any]:
    """An applyWrites create."""
    record = {"$type": collection, **value}
    return {"$type": "com.atproto.repo.applyWrites#create", "collection": collection, "rkey": rkey, "value": record}


def delete(collection: str, rkey: str) -> dict[str, Any]:
    """An applyWrites delete."""
    return {"$type": "com.atproto.repo.applyWrites#delete", "collection": collection, "rkey": rkey}


class RepoWriter:
    """Record writes on one publisher's accounts."""

    def __init__(self, publisher: BlueskyPublisher) -> None:
        self.publisher = publisher

    async def repo(self, account: Account) -> Repo:
        async with xrpc_boundary():
            session = await self.publisher.session_of(account)
        return Repo(session.did, session.handle)

    async def resolve(self, account: Account, handle: str) -> str | None:
        """A handle's DID as the account's PDS resolves it, or None."""
        async with xrpc_boundary():
            session = await self.publisher.session_of(account)
            return await self.publisher.resolve_handle(session.pds, handle)

    async def put(self, account: Account, collection: str, rkey: str, value: dict[str, Any]) -> None:
        async def call(s: PdsSession) -> Any:
            body = {"repo": s.did, "collection": collection, "rkey": rkey, "record": {"$type": collection, **value}}
            return await self.send(s, "POST", "com.atproto.repo.putRecord", body)

        async with xrpc_boundary():
            await self.publisher.with_session(account, call)

    async def apply(self, account: Account, writes: Sequence[dict[str, Any]]) -> None:
        """Every write, in as few commits as the PDS allows."""
        for start in range(0, len(writes), WRITES_PER_CALL):
            batch = list(writes[start : start + WRITES_PER_CALL])

            async def call(s: PdsSession, batch: list[dict[str, Any]] = batch) -> Any:
                body = {"repo": s.did, "writes": batch}
                return await self.send(s, "POST", "com.atproto.repo.applyWrites", body)

            async with xrpc_boundary():
                await self.publisher.with_session(account, call)

    async def records(self, account: Account, collection: str) -> list[Listed]:
        """Every record of ``collection`` on the account's repo."""
        found: list[Listed] = []
        cursor: str | None = None
        while True:

            async def call(s: PdsSession, cursor: str | None = cursor) -> Any:
                params = {"repo": s.did, "collection": collection, "limit": str(PAGE)}
                return await self.send(
                    s, "GET", "com.atproto.repo.listRecords", params | ({"cursor": cursor} if cursor else {})
                )

            async with xrpc_boundary():
                page = await self.publisher.with_session(account, call)
            found += [Listed(r["uri"].rsplit("/", 1)[1], r.get("value", {})) for r in page.get("records", [])]
            cursor = page.get("cursor")
            if not cursor or not page.get("records"):
                return found

    async def send(self, session: PdsSession, verb: str, method: str, data: dict[str, Any]) -> Any:
        """One XRPC call on the session's PDS (parameters for a GET, a JSON body for a POST); its answer, or
        :class:`XrpcFailure`, which the callers' :func:`xrpc_boundary` turns into a publish error."""
        url = f"{session.pds}/xrpc/{method}"
        options: dict[str, Any] = {"json": data} if verb == "POST" else {"params": data}
        async with self.publisher.http.request(verb, url, headers=session.auth(), **options) as answer:
            body = await answer.json(content_type=None) if answer.content_length != 0 else {}
            if answer.status >= 300:
                body = body if isinstance(body, dict) else {}
                error, message = str(body.get("error", "")), str(body.get("message", ""))
                raise XrpcFailure(answer.status, error, message, {k.lower(): v for k, v in answer.headers.items()})
            return body
