"""An aiohttp session opened on first use and closed with its owner (for the low-priority readers and writers)."""

from __future__ import annotations

import aiohttp


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
