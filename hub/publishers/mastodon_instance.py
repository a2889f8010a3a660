"""What the hub reads once about each Mastodon-API server: its domain and limits (``/api/v2/instance``, kept
``instance_ttl`` seconds) and which software it runs (kept for the life of the process; see
:mod:`hub.publishers.mastodon_server` for why it matters)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from hub.domain.model import Account
from hub.locks import KeyedLocks
from hub.publishers.base import PublishError
from hub.publishers.mastodon_answers import Answer, answer_object, instance_limits
from hub.publishers.mastodon_errors import host_of
from hub.publishers.mastodon_server import UNKNOWN, Software, from_nodeinfo, from_version, nodeinfo_link

log = logging.getLogger(__name__)


class Server(Protocol):
    """What the look-ups need of :class:`~hub.publishers.mastodon.MastodonPublisher`."""

    async def request(self, account: Account, method: str, path: str, token: str | None, **options: Any) -> Answer: ...


@dataclass(frozen=True, slots=True)
class Instance:
    domain: str
    limits: dict[str, Any]
    version: Any
    expires_at: float


class Servers:
    """The instances and software of the servers the hub posts to, read through ``server``."""

    def __init__(self, server: Server, instance_ttl: float) -> None:
        self.server = server
        self.instance_ttl = instance_ttl
        self._instances: dict[str, Instance] = {}
        self._instance_locks: KeyedLocks[str] = KeyedLocks()
        #: Per server, for the life of the process: a restart reads it again.
        self._software: dict[str, Software] = {}
        self._detections: KeyedLocks[str] = KeyedLocks()

    async def instance(self, account: Account) -> Instance:
        """The server's domain and limits, read once per ``instance_ttl`` for all its accounts."""
        server = account.server
        async with self._instance_locks.hold(server):
            loop = asyncio.get_running_loop()
            cached = self._instances.get(server)
            if cached is not None and cached.expires_at > loop.time():
                return cached
            answer = await self.server.request(account, "GET", "/api/v2/instance", None, accept=(404,))
            if answer.status == 404:  # Mastodon before 4.0 only has the first version
                answer = await self.server.request(account, "GET", "/api/v1/instance", None)
            body = answer_object(answer, account)
            domain = str(body.get("domain") or body.get("uri") or host_of(server))
            cached = Instance(domain, instance_limits(body), body.get("version"), loop.time() + self.instance_ttl)
            self._instances[server] = cached
            return cached

    def known_software(self, server: str) -> Software:
        """The software already read for ``server`` (unknown if it was not read yet)."""
        return self._software.get(server, UNKNOWN)

    async def software(self, account: Account) -> Software:
        """The software of the account's server, read once per server for the life of the process.

        A detection that fails (the server is down, answers nonsense) is not remembered: the server counts as
        unknown, which does not honour Idempotency-Key, until a later detection succeeds.
        """
        async with self._detections.hold(account.server):  # the accounts of one server verified together
            known = self._software.get(account.server)
            return known if known is not None else await self._detect(account)

    async def _detect(self, account: Account) -> Software:
        try:
            software = await self._nodeinfo(account)
            if not software.known:
                software = from_version((await self.instance(account)).version)
        except PublishError as error:
            log.info("%s: could not tell which software it runs (%s)", host_of(account.server), error.message_key)
            return UNKNOWN
        self._software[account.server] = software
        log.info("%s runs %s %s", host_of(account.server), software.name or "unknown software", software.version)
        return software

    async def _nodeinfo(self, account: Account) -> Software:
        """The software NodeInfo names; its document is read on the account's server, whatever host it names."""
        well_known = await self.server.request(account, "GET", "/.well-known/nodeinfo", None, accept=(404,))
        link = nodeinfo_link(well_known.body) if well_known.status == 200 else None
        if link is None:
            return UNKNOWN
        parts = urlsplit(link)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        document = await self.server.request(account, "GET", path, None, accept=(404,))
        return from_nodeinfo(document.body) if document.status == 200 else UNKNOWN
