"""The aiohttp sessions of the publishers: the one that posts at the instant, and one opened on first use and
closed with its owner (for the low-priority readers and writers)."""

from __future__ import annotations

import aiohttp

#: aiohttp's own cap on the connections of a session, kept for the low-priority readers and writers.
_DEFAULT_CONNECTIONS = 100


def posting_session(timeout: float | None = None, connections: int = 0) -> aiohttp.ClientSession:
    """A session for API calls: no cookie jar (the APIs authenticate each request by its token; a jar would be
    read and written at every request) and, by default, no connection cap (the dispatcher bounds concurrency per
    host; aiohttp's default of 100 would make 1,600 towns queue behind each other on one server)."""
    return aiohttp.ClientSession(
        headers={"User-Agent": "Unisson"},
        timeout=aiohttp.ClientTimeout(total=timeout),
        connector=aiohttp.TCPConnector(limit=connections),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


class LazyHttp:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._http: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = posting_session(self.timeout, _DEFAULT_CONNECTIONS)
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
