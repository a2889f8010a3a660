"""The web pages as a person sees them, in a real browser (headless Chromium, see tests/integration/browser.py).

A campaign of five towns is published for real on the local doubles (tests/integration/web_campaign.py) and the
hub's endpoint serves its pages; Chromium opens each of them, the test reads what is shown, follows the links,
downloads the CSV, switches the language, takes screenshots (in the test's folder) and runs axe-core: no serious
or critical accessibility violation, no request off 127.0.0.1, no script error, no dialog.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import feedparser
import pytest

from hub.core import Hub
from hub.urls import public_path
from hub.web.app import HttpEndpoint, Monitoring
from sandbox.fleet import COORDINATOR
from tests.integration.browser import Visit
from tests.integration.web_campaign import REASON, SIGNATORIES, TEXT, TOWNS, Campaign, published_campaign


@pytest.fixture
async def campaign(hub: Hub, tmp_path: Path) -> AsyncIterator[Campaign]:
    async with published_campaign(hub, tmp_path) as published:
        yield published


async def check_page(visit: Visit, name: str) -> None:
    """What every page must be: screenshot kept, accessible, self-contained, quiet."""
    await visit.screenshot(name)
    assert await visit.accessibility_problems() == [], name
    assert visit.off_host() == [] and visit.errors == [] and visit.dialogs == []


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


async def test_the_status_page_shows_every_town_filters_searches_sorts_and_downloads_the_csv(
    campaign: Campaign, visit: Visit
) -> None:
    page = visit.page
    await page.goto(campaign.status)
    rows = page.locator("table.status tbody tr")
    assert await rows.count() == len(TOWNS)
    orleans = rows.filter(has_text="Orléans")
    assert "refusé" in await orleans.inner_text() and REASON in await orleans.inner_text()
    for name in SIGNATORIES:
        assert "signé" in await rows.filter(has_text=name).inner_text()
    await check_page(visit, "status")

    await page.select_option("#etat", "declined")
    await page.click("form.filters button[type=submit]")
    assert [await r.locator("th").inner_text() for r in await rows.all()] == ["Orléans 45234"]
    await check_page(visit, "status-declined")

    await page.select_option("#etat", "")
    await page.fill("#q", "kremlin bicetre")
    await page.click("form.filters button[type=submit]")
    assert (await rows.count(), "Le Kremlin-Bicêtre" in await rows.first.inner_text()) == (1, True)

    await page.fill("#q", "")
    await page.select_option("#tri", "code")
    await page.select_option("#sens", "desc")
    await page.click("form.filters button[type=submit]")
    codes = [(await r.locator("th .code").inner_text()) for r in await rows.all()]
    assert codes == sorted((code for code, _ in TOWNS), reverse=True)

    async with page.expect_download() as waiting:
        await page.get_by_role("link", name="CSV").click()
    download = await waiting.value
    saved = visit.folder.parent / download.suggested_filename
    await download.save_as(saved)
    table = list(csv.reader(io.StringIO(saved.read_text("utf-8-sig"))))
    assert [row[0] for row in table[1:]] == codes and len(table[0]) > 5
    assert any(REASON in row for row in table)

    await page.get_by_role("link", name="English").click()
    assert await page.get_attribute("html", "lang") == "en"
    assert "declined" in (await rows.filter(has_text="Orléans").inner_text()).lower()
    await check_page(visit, "status-en")


async def test_the_public_page_lists_the_signatories_whose_eight_posts_open_on_the_local_servers(
    campaign: Campaign, visit: Visit
) -> None:
    page = visit.page
    await page.goto(campaign.public)
    rows = page.locator("table.towns tbody tr")
    assert sorted([await r.locator("th").inner_text() for r in await rows.all()]) == sorted(SIGNATORIES)
    assert "Orléans" not in await page.inner_text("main")
    assert await page.get_attribute('meta[property="og:title"]', "content") == "Départ de X"
    assert await page.get_attribute('meta[property="og:url"]', "content") == campaign.public
    await check_page(visit, "public")

    links = [await a.get_attribute("href") for a in await rows.locator("a").all()]
    assert len(links) == 2 * len(SIGNATORIES) and len(set(links)) == len(links)
    posts = [
        (await row.locator("th").inner_text(), await link.get_attribute("href") or "")
        for row in await rows.all()
        for link in await row.locator("a").all()
    ]
    for name, href in posts:
        assert href.startswith("http://127.0.0.1:"), href
        response = await page.goto(href)
        assert response is not None and response.status == 200, href
        assert f"{name} quitte X et vous donne rendez-vous ici" in await page.inner_text("body"), href
    assert visit.off_host() == []

    await page.goto(campaign.public + "?lang=en")
    assert await page.get_attribute("html", "lang") == "en"
    await check_page(visit, "public-en")


async def test_the_coalition_page_and_its_atom_feed(campaign: Campaign, visit: Visit) -> None:
    page = visit.page
    await page.goto(campaign.coalition)
    await page.get_by_role("link", name="Départ de X").click()
    assert page.url == campaign.public
    await page.go_back()
    await check_page(visit, "coalition")

    response = await page.goto(campaign.feed)
    assert response is not None and response.status == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(await response.body())
    assert not feed.bozo, feed.bozo_exception
    assert feed.version == "atom10"
    [entry] = feed.entries
    assert entry.title == "Départ de X" and entry.link == campaign.public


async def test_a_title_with_a_script_shows_as_text_and_runs_nothing(campaign: Campaign, visit: Visit) -> None:
    hub, fleet = campaign.hub, campaign.fleet
    title = "<script>alert(1)</script>"
    announcement = await hub.announcements.propose(COORDINATOR, fleet.coalition_id, title, TEXT)
    await hub.links.open_public(COORDINATOR, fleet.coalition_id, announcement.id)
    issued = await hub.links.issue(COORDINATOR, fleet.coalition_id, announcement.id)
    for url in (campaign.base + issued.path, campaign.base + public_path(fleet.coalition_id, announcement.id)):
        await visit.page.goto(url)
        assert title in await visit.page.inner_text("h1")
        assert await visit.page.locator("main script").count() == 0
    await visit.page.goto(campaign.coalition)
    assert title in await visit.page.inner_text("main")
    await visit.page.wait_for_timeout(200)
    await check_page(visit, "script-title")


async def test_a_wrong_or_replaced_status_link_shows_the_same_page_as_an_unknown_address(
    campaign: Campaign, visit: Visit
) -> None:
    hub, fleet = campaign.hub, campaign.fleet
    await hub.links.issue(COORDINATOR, fleet.coalition_id, fleet.announcement.id)  # as !lien N again
    replaced = await visit.page.goto(campaign.status)
    assert replaced is not None and replaced.status == 404
    shown = await visit.page.inner_text("main")
    unknown = await visit.page.goto(campaign.base + "/s/" + "x" * 43)
    assert unknown is not None and unknown.status == 404
    assert await visit.page.inner_text("main") == shown and "Orléans" not in shown
    await check_page(visit, "not-found")
