"""The aiohttp sessions of the publishers: the one that posts at the instant, and one opened on first use and
closed with its owner (for the low-priority readers and writers)."""

from __future__ import annotations

import aiohttp


def posting_session(timeout: float | None = None) -> aiohttp.ClientSession:
    """A session for thousands of API calls at once: no connection cap (the dispatcher bounds concurrency per
    host; aiohttp's default of 100 would make 1,600 towns queue behind each other on one server), and no cookie
    jar (the APIs authenticate each request by its token; a jar would be read and written at every request)."""
    return aiohttp.ClientSession(
        headers={"User-Agent": "Unisson"},
        timeout=aiohttp.ClientTimeout(total=timeout),
        connector=aiohttp.TCPConnector(limit=0),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


class LazyHttp:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._http: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
