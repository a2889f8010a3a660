"""A real browser for the tests: Debian's headless Chromium driven by Playwright, axe-core for accessibility.

``./run tests`` installs Chromium from Debian's packages; Playwright drives that system browser
(``executable_path``) and never downloads one. The flags keep it off the network on this closed machine: no
background updates, no QUIC, no sync. Every test gets a fresh page that records each request it makes (the pages
must load nothing from outside 127.0.0.1), each dialog that opens (none should: the titles are escaped) and each
script error; screenshots go to ``screenshots/`` in the test's temporary folder.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Dialog, Page, Route, async_playwright

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
#: Requests a page may make: to the test's own servers, and inline data.
LOCAL_HOSTS = frozenset({"127.0.0.1"})
_NETWORK = frozenset({"http", "https", "ws", "wss"})
#: axe-core impacts that fail a page.
BLOCKING = frozenset({"serious", "critical"})


@dataclass
class Visit:
    """One browser page and what it did: requests, dialogs, script errors; screenshots and axe on demand."""

    page: Page
    folder: Path
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def screenshot(self, name: str) -> Path:
        """The whole page as ``screenshots/NAME.png`` in the test's folder (kept with the test's files)."""
        path = self.folder / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 0
        return path

    async def accessibility_problems(self) -> list[str]:
        """axe-core's serious and critical violations on the current page, one line each (none expected)."""
        results = await Axe().run(self.page)
        return [
            f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']]}"
            for v in results.response["violations"]
            if v.get("impact") in BLOCKING
        ]

    def off_host(self) -> list[str]:
        """Requests to anything but the local servers (``data:`` and ``about:`` are not requests to a host)."""
        return [url for url in self.requests if urlsplit(url).scheme in _NETWORK and not _local(url)]


def _local(url: str) -> bool:
    return urlsplit(url).hostname in LOCAL_HOSTS


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Browser]:
    """One headless Chromium for the session (a new context per test keeps tests apart)."""
    if not await asyncio.to_thread(CHROMIUM.exists):
        pytest.fail(f"{CHROMIUM} is missing: `./run tests` installs Debian's chromium package")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=list(FLAGS))
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def visit(chromium: Browser, tmp_path: Path) -> AsyncIterator[Visit]:
    """A fresh page (French, like most users) recording its requests; anything off 127.0.0.1 is refused."""
    context = await chromium.new_context(locale="fr-FR", accept_downloads=True)
    page = await context.new_page()
    folder = tmp_path / "screenshots"
    folder.mkdir()
    seen = Visit(page, folder)
    page.on("request", lambda request: seen.requests.append(request.url))
    page.on("pageerror", lambda error: seen.errors.append(str(error)))

    async def dismiss(dialog: Dialog) -> None:
        seen.dialogs.append(dialog.message)
        await dialog.dismiss()

    async def only_local(route: Route) -> None:
        if _local(route.request.url):
            await route.continue_()
        else:
            await route.abort("blockedbyclient")

    page.on("dialog", dismiss)
    await context.route("**/*", only_local)
    try:
        yield seen
    finally:
        await context.close()
