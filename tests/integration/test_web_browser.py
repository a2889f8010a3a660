"""The web pages as a person sees them, in a real browser (headless Chromium, see tests/integration/browser.py)."""

from __future__ import annotations

import asyncio
import json

from hub.services.context import Hub
from hub.web import HttpEndpoint, Monitoring
from tests.integration.browser import Visit


async def test_the_browser_opens_a_page_of_the_endpoint_and_stays_on_this_machine(hub: Hub, visit: Visit) -> None:
    endpoint = HttpEndpoint(Monitoring(hub, asyncio.Event(), ()))
    await endpoint.start("127.0.0.1", 0)
    try:
        response = await visit.page.goto(endpoint.url + "/healthz")
        assert response is not None and response.status == 200
        assert json.loads(await visit.page.inner_text("body")) == {"status": "alive"}
        await visit.screenshot("healthz")
    finally:
        await endpoint.stop()
    assert visit.requests == [endpoint.url + "/healthz"]
    assert not visit.off_host() and not visit.dialogs and not visit.errors
