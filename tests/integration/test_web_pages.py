"""The web pages through aiohttp's test client, on SQLite and PostgreSQL: who sees what (a wrong, revoked or
expired link sees nothing), escaping, security headers, the table's filters, search, sort and CSV, the public
page and its card, the coalition's page and Atom feed."""

from __future__ import annotations

import asyncio
import csv
import io
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from hub.core import Hub
from hub.domain.model import Announcement, AnnouncementState, DeliveryState, Platform
from hub.store.models import DeliveryRow
from hub.urls import coalition_path, feed_path, public_path, status_csv_path, status_path
from hub.web.app import Monitoring, make_app
from hub.web.pages import CSP
from tests.conftest import Clock
from tests.integration.helpers import (
    KREMLIN,
    PANTIN,
    SAINT_REMY,
    Setup,
    build_coalition,
    link_bluesky,
    link_mastodon,
)

TITLE = "<script>alert(1)</script> Départ de X"
REASON = "Pas avant le <b>conseil</b> municipal"
ATOM = "{http://www.w3.org/2005/Atom}"


@dataclass
class Campaign:
    hub: Hub
    setup: Setup
    announcement: Announcement
    client: TestClient[web.Request, web.Application]

    async def status_link(self) -> str:
        link = await self.hub.links.issue(self.setup.coordinator, self.setup.coalition.id, self.announcement.id)
        return link.token

    @property
    def public(self) -> str:
        return public_path(self.setup.coalition.id, self.announcement.id)


async def _campaign(hub: Hub, tmp_path: Path) -> tuple[Setup, Announcement]:
    """Pantin and Saint-Rémy sign (with accounts), Le Kremlin-Bicêtre declines with a reason; locked for
    20 January 2026 at 9:00, with a delivery per account."""
    setup = await build_coalition(hub, tmp_path, (PANTIN, KREMLIN, SAINT_REMY))
    announcement = await hub.announcements.propose(
        setup.coordinator, setup.coalition.id, TITLE, "{ville} quitte X : nous restons joignables sur {site}."
    )
    for code in (PANTIN, SAINT_REMY):
        await link_bluesky(hub, setup, code)
        await link_mastodon(hub, setup, code)
        await hub.announcements.sign(setup.officer(code), announcement.id)
    await hub.announcements.decline(setup.officer(KREMLIN), announcement.id, reason=REASON)
    await hub.announcements.schedule(setup.coordinator, announcement.id, "20/01/2026 9h")
    await hub.announcements.lock(setup.coordinator, announcement.id)
    return setup, announcement


async def _publish(hub: Hub, announcement_id: int) -> None:
    """As if the dispatcher had posted everything: each delivery published with its link."""
    async with hub.store.unit() as uow:
        rows = list(
            await uow.session.scalars(sa.select(DeliveryRow).where(DeliveryRow.announcement_id == announcement_id))
        )
        for row in rows:
            row.state = DeliveryState.PUBLISHED.value
            row.remote_url = f"https://{row.platform}.example/post/{row.town_id}"
            row.published_at = hub.clock()
        await uow.announcements.update(announcement_id, state=AnnouncementState.PUBLISHED)


@pytest.fixture
async def campaign(hub: Hub, tmp_path: Path) -> AsyncIterator[Campaign]:
    setup, announcement = await _campaign(hub, tmp_path)
    app = make_app(Monitoring(hub, asyncio.Event(), ()))
    async with TestClient(TestServer(app)) as client:
        yield Campaign(hub, setup, announcement, client)


# --- access ---------------------------------------------------------------------------------------------------


async def test_the_status_page_answers_only_a_live_link(campaign: Campaign, clock: Clock) -> None:
    client = campaign.client
    unknown = await client.get("/s/" + "x" * 43)
    assert unknown.status == 404
    nothing = await unknown.text()
    old = await campaign.status_link()
    token = await campaign.status_link()
    revoked = await client.get(status_path(old))
    assert revoked.status == 404 and await revoked.text() == nothing
    assert (await client.get(status_csv_path(old))).status == 404
    page = await client.get(status_path(token))
    assert page.status == 200
    assert page.headers["Cache-Control"] == "no-store" and "noindex" in page.headers["X-Robots-Tag"]
    assert page.headers["Referrer-Policy"] == "no-referrer"
    clock.now += timedelta(days=campaign.hub.settings.status_link_days, seconds=1)
    expired = await client.get(status_path(token))
    assert expired.status == 404 and await expired.text() == nothing
    assert "Pantin" not in nothing and "script" not in nothing


async def test_every_answer_carries_the_security_headers(campaign: Campaign) -> None:
    token = await campaign.status_link()
    for path in (status_path(token), "/nowhere", "/static/unisson.css", "/healthz"):
        response = await campaign.client.get(path)
        assert response.headers["Content-Security-Policy"] == CSP, path
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert response.headers["Referrer-Policy"] == "no-referrer", path
    css = await campaign.client.get("/static/unisson.css")
    assert css.status == 200 and css.content_type == "text/css"


# --- the coordinators' table ----------------------------------------------------------------------------------


async def test_the_status_page_shows_every_town_and_escapes_what_people_wrote(campaign: Campaign) -> None:
    token = await campaign.status_link()
    html = await (await campaign.client.get(status_path(token), headers={"Accept-Language": "fr-FR,fr;q=0.9"})).text()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;conseil&lt;/b&gt;" in html and "<b>" not in html
    for name in ("Pantin", "Le Kremlin-Bicêtre", "Saint-Rémy-lès-Chevreuse"):
        assert name in html
    assert 'lang="fr"' in html and html.count("<h1>") == 1
    assert "Signé : 2" in html and "Refusé : 1" in html and "En attente : 0" in html
    assert "ville-93055.bsky.social" in html and "@ville93055@mastodon.example" in html
    assert "secret" not in html.lower() and "abcd-efgh" not in html
    english = await (await campaign.client.get(status_path(token) + "?lang=en")).text()
    assert 'lang="en"' in english and "Signed: 2" in english


async def test_filters_search_and_sort_are_query_parameters(campaign: Campaign) -> None:
    token = await campaign.status_link()

    async def rows(query: str) -> list[str]:
        html = await (await campaign.client.get(status_path(token) + query)).text()
        return [name for name in ("Pantin", "Le Kremlin-Bicêtre", "Saint-Rémy-lès-Chevreuse") if f">{name}" in html]

    assert await rows("?etat=declined") == ["Le Kremlin-Bicêtre"]
    assert await rows("?etat=signed") == ["Pantin", "Saint-Rémy-lès-Chevreuse"]
    assert await rows("?q=kremlin+bicetre") == ["Le Kremlin-Bicêtre"]
    assert await rows("?q=93055") == ["Pantin"]
    assert await rows("?etat=nonsense") == ["Pantin", "Le Kremlin-Bicêtre", "Saint-Rémy-lès-Chevreuse"]
    html = await (await campaign.client.get(status_path(token) + "?tri=code&sens=desc")).text()
    assert html.index(">Le Kremlin-Bicêtre") < html.index(">Pantin") < html.index(">Saint-Rémy-lès-Chevreuse")


async def test_the_csv_is_the_filtered_table_safe_for_spreadsheets(campaign: Campaign) -> None:
    token = await campaign.status_link()
    await campaign.hub.announcements.unlock(campaign.setup.coordinator, campaign.announcement.id)
    officer = campaign.setup.officer(KREMLIN)
    await campaign.hub.announcements.decline(officer, campaign.announcement.id, reason="=HYPERLINK(1)")
    response = await campaign.client.get(status_csv_path(token) + "?etat=declined")
    assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
    assert "attachment" in response.headers["Content-Disposition"]
    body = await response.read()
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Code", "Ville", "Signature"]
    assert [row[1] for row in rows[1:]] == ["Le Kremlin-Bicêtre"]
    assert rows[1][6] == "'=HYPERLINK(1)"


# --- public pages ---------------------------------------------------------------------------------------------


async def test_a_public_page_answers_once_published_or_opened_early(campaign: Campaign) -> None:
    client, hub = campaign.client, campaign.hub
    assert (await client.get(campaign.public)).status == 404
    assert (await client.get(coalition_path(campaign.setup.coalition.id))).status == 404
    await hub.links.open_public(campaign.setup.coordinator, campaign.setup.coalition.id, campaign.announcement.id)
    early = await (await client.get(campaign.public)).text()
    assert "Pantin" in early and "Le Kremlin-Bicêtre" not in early and REASON not in early
    assert "Pas encore publiée" in early
    assert (await client.get(public_path(campaign.setup.coalition.id + 1, campaign.announcement.id))).status == 404


async def test_the_public_page_links_each_post_and_makes_a_card(campaign: Campaign) -> None:
    await _publish(campaign.hub, campaign.announcement.id)
    response = await campaign.client.get(campaign.public, headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert response.status == 200 and "Cache-Control" not in response.headers
    html = await response.text()
    assert 'lang="en"' in html and "&lt;script&gt;" in html and "<script>" not in html
    pantin = campaign.setup.town(PANTIN).id
    for platform in Platform:
        assert f'href="https://{platform.value}.example/post/{pantin}"' in html
    assert "Signatory towns: 2 of 3" in html and "Le Kremlin-Bicêtre" not in html
    assert "[ville] quitte X" in html
    assert 'property="og:title" content="&lt;script&gt;alert(1)&lt;/script&gt; Départ de X"' in html
    assert 'name="twitter:card" content="summary"' in html
    assert f'href="http://{campaign.client.host}:{campaign.client.port}{campaign.public}"' in html  # canonical
    feed = feed_path(campaign.setup.coalition.id)
    assert f'<link rel="alternate" type="application/atom+xml" href="{feed}"' in html
    assert "Tuesday 20 January 2026 at 09:00" in html  # in words, in the announcement's zone
    assert "http://" not in html.replace(f"http://{campaign.client.host}", "")  # nothing from elsewhere


async def test_the_coalition_page_and_feed_list_the_published_announcements(campaign: Campaign) -> None:
    await _publish(campaign.hub, campaign.announcement.id)
    coalition_id = campaign.setup.coalition.id
    html = await (await campaign.client.get(coalition_path(coalition_id))).text()
    assert f'href="{campaign.public}"' in html and "&lt;script&gt;" in html
    response = await campaign.client.get(feed_path(coalition_id))
    assert response.status == 200 and response.content_type == "application/atom+xml"
    root = ET.fromstring(await response.read())
    assert root.tag == f"{ATOM}feed"
    [entry] = root.findall(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}title") == TITLE
    assert entry.find(f"{ATOM}link").get("href", "").endswith(campaign.public)  # type: ignore[union-attr]
    assert "[ville] quitte X" in (entry.findtext(f"{ATOM}content") or "")
