"""``unisson demo`` tells its story and leaves real posts on the local servers.

In the process: the stage (real Synapse, the real PDS where installed, the Mastodon double, the hub, the bot)
and the story; then the servers themselves are asked what each town published, every link the demo printed is
followed, and the logins it prints for the stay-up mode really open the room. As a command:
``python -m bot.cli --lang en demo --once --doubles`` narrates in English and exits with 0.
Every wait is bounded: a hang fails the test instead of blocking the run.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path
from typing import Any

import aiohttp
import feedparser
from nio import RoomGetEventResponse, RoomGetStateEventResponse

from demo.cast import DECLINING, SIGNING, TOWNS
from demo.people import until
from demo.script import Result, play, stay_up
from demo.servers import bluesky_posts_url, mastodon_statuses_url
from demo.stage import DemoOptions, Stage, open_stage
from hub.domain.model import Platform
from hub.i18n import translate
from hub.urls import feed_path
from tests.integration.browser import Visit

ROOT = Path(__file__).resolve().parents[2]
#: The whole story takes about 40 s here; the bound leaves room for a slow machine.
STORY_SECONDS = 240.0
STEPS = (
    "demo.step.servers",
    "demo.step.coalition",
    "demo.step.propose",
    "demo.step.sign",
    "demo.step.decline",
    "demo.step.edit",
    "demo.step.sign_again",
    "demo.step.lock",
    "demo.step.publish",
    "demo.step.recap",
    "demo.step.links",
    "demo.step.pages",
)


def step_lines(lines: list[str], lang: str) -> list[int]:
    """Where each narrated step is in the output (a step's key may carry fields: match its first words)."""
    found = []
    for key in STEPS:
        start = translate(key, lang).split("{")[0].strip()
        found.append(next(i for i, line in enumerate(lines) if line.strip().startswith(start)))
    return found


async def get_json(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url) as response:
        assert response.status == 200, (url, response.status, await response.text())
        return await response.json()


async def server_side_posts(stage: Stage, http: aiohttp.ClientSession, code: str) -> dict[Platform, list[str]]:
    """The texts each server holds for the town's account (the Mastodon double also answers in process)."""
    did = stage.bluesky_accounts[code].did
    records = (await get_json(http, bluesky_posts_url(stage.bluesky, did)))["records"]
    statuses = await get_json(http, mastodon_statuses_url(stage.mastodon_url, stage.mastodon_accounts[code]))
    in_process = stage.mastodon.statuses(stage.mastodon_accounts[code].username)
    assert [s.id for s in in_process] == [s["id"] for s in reversed(statuses)]
    return {
        Platform.BLUESKY: [r["value"]["text"] for r in records],
        Platform.MASTODON: [s.text for s in in_process],
    }


async def check_servers(stage: Stage, result: Result, lines: list[str]) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        for town in TOWNS:
            name = stage.towns[town.code].name
            posts = await server_side_posts(stage, http, town.code)
            if town.code == DECLINING:
                assert posts == {Platform.BLUESKY: [], Platform.MASTODON: []}
                assert town.code not in result.links
                continue
            for platform in (Platform.BLUESKY, Platform.MASTODON):
                [text] = posts[platform]
                assert text.startswith(f"{name} quitte X et vous donne rendez-vous ici"), text
                assert f"{stage.sites_url}/{town.slug}" in text
                link = result.links[town.code][platform]
                assert any(link in line for line in lines), f"{link} printed"
                record = await get_json(http, link)
                assert name in str(record), link
        # The recap's Mastodon links are the statuses' public pages; they open on the local double.
        for outcome in result.outcomes:
            if outcome.delivery.platform is Platform.MASTODON:
                url = outcome.delivery.remote_url or ""
                assert url and any(url in line for line in lines)
                async with http.get(url) as page:
                    assert page.status == 200 and outcome.town.name in await page.text()


async def check_logins(stage: Stage, result: Result, lines: list[str]) -> None:
    """The stay-up mode prints accounts that sign in to the homeserver and are in the room."""
    stop = asyncio.Event()
    staying = asyncio.create_task(stay_up(stage, result, stop))
    try:
        await asyncio.sleep(0.1)  # the logins are printed before the first wait
        assert translate("demo.stay.stop", "fr", number=result.number) in lines
        assert translate("demo.stay.homeserver", "fr", url=stage.synapse.url, server="unisson.test") in lines
        assert len(stage.logins) == 1 + len(TOWNS)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            for login in stage.logins:
                printed = translate("demo.stay.login", "fr", name=login.name, user=login.user_id, password="")
                assert any(line.startswith(printed) and login.password in line for line in lines)
                body = {
                    "type": "m.login.password",
                    "identifier": {"type": "m.id.user", "user": login.user_id},
                    "password": login.password,
                }
                async with http.post(f"{stage.synapse.url}/_matrix/client/v3/login", json=body) as answer:
                    assert answer.status == 200, await answer.text()
                    token = (await answer.json())["access_token"]
                rooms = await get_json_auth(http, f"{stage.synapse.url}/_matrix/client/v3/joined_rooms", token)
                assert stage.room_id in rooms["joined_rooms"]
        assert not staying.done()
    finally:
        stop.set()
        await asyncio.wait_for(staying, 5)


async def check_secret_is_deleted(stage: Stage) -> None:
    """The bot is a moderator of the room, so a secret pasted there is really deleted (docs/security.md)."""
    officer = stage.officers[SIGNING[0].code]
    levels = await officer.client.room_get_state_event(stage.room_id, "m.room.power_levels")
    assert isinstance(levels, RoomGetStateEventResponse)
    assert levels.content["users"][stage.bot.user_id] == 50 >= levels.content.get("redact", 50)
    event_id = await officer.say(stage.room_id, "mot de passe : abcd-1234-efgh-5678")

    async def deleted() -> bool | None:
        answer = await officer.client.room_get_event(stage.room_id, event_id)
        assert isinstance(answer, RoomGetEventResponse), answer
        return "redacted_because" in answer.event.source.get("unsigned", {}) or None

    await until(deleted, "the secret's deletion", seconds=30)


async def get_json_auth(http: aiohttp.ClientSession, url: str, token: str) -> Any:
    async with http.get(url, headers={"Authorization": f"Bearer {token}"}) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def check_pages(stage: Stage, result: Result, lines: list[str], visit: Visit) -> None:
    """The pages the demo prints, in a browser: the public page's eight posts open on the local servers, the
    coordinators' table shows the five towns and Orléans' reason, the feed is valid Atom; the recap links there."""
    page = visit.page
    recap = translate("bot.links.page", "fr") + " " + result.public_page
    assert any(recap in line for line in lines), "the recap links to the public page"
    assert translate("demo.pages.public", "fr", url=result.public_page) in lines
    await page.goto(result.public_page)
    rows = page.locator("table.towns tbody tr")
    names = [stage.towns[t.code].name for t in SIGNING]
    assert sorted([await r.locator("th").inner_text() for r in await rows.all()]) == sorted(names)
    await visit.screenshot("demo-public")
    assert await visit.accessibility_problems() == []
    posts = [
        (await row.locator("th").inner_text(), await link.get_attribute("href") or "")
        for row in await rows.all()
        for link in await row.locator("a").all()
    ]
    assert len(posts) == 8
    for name, href in posts:
        response = await page.goto(href)
        assert response is not None and response.status == 200, href
        assert name in await page.inner_text("body"), href

    assert translate("demo.pages.status", "fr", url=result.status_page, command="!lien") in lines
    await page.goto(result.status_page)
    rows = page.locator("table.status tbody tr")
    assert await rows.count() == len(TOWNS)
    reason = translate("demo.decline.reason", "fr")
    assert reason in await rows.filter(has_text=stage.towns[DECLINING].name).inner_text()
    await visit.screenshot("demo-status")
    assert await visit.accessibility_problems() == []
    response = await page.goto(stage.pages_url + feed_path(stage.coalition_id))
    assert response is not None and response.status == 200
    feed = feedparser.parse(await response.body())
    assert not feed.bozo and [e.link for e in feed.entries] == [result.public_page]
    assert visit.off_host() == [] and visit.errors == [] and visit.dialogs == []


async def test_the_demo_tells_the_story_and_leaves_the_posts_on_the_local_servers(tmp_path: Path, visit: Visit) -> None:
    lines: list[str] = []
    options = DemoOptions(lang="fr", data_dir=tmp_path / "demo")
    async with asyncio.timeout(STORY_SECONDS), open_stage(options, lines.append) as stage:
        result = await play(stage)
        await check_servers(stage, result, lines)
        await check_pages(stage, result, lines, visit)
        await check_secret_is_deleted(stage)
        await check_logins(stage, result, lines)

    steps = step_lines(lines, "fr")
    assert steps == sorted(steps), "the steps are told in order"
    kremlin = "  Le Kremlin-Bicêtre (94043) — Bluesky kremlin-bicetre.test, Mastodon @kremlin_bicetre@mastodon.test"
    assert kremlin in lines
    assert any(
        line.startswith(f"  Unisson › ✅ Annonce n°{result.number} « Départ de X » publiée : 8/8 publication(s)")
        for line in lines
    )
    assert any("❌ Orléans — motif : Le conseil municipal doit d'abord en délibérer." in line for line in lines)
    assert translate("demo.link.none", "fr", town="Orléans") in lines
    assert len(result.links) == len(SIGNING)
    assert (tmp_path / "demo" / ".unisson-demo").is_file()


async def test_the_command_runs_once_in_english_and_exits_cleanly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNISSON_")}
    folder = tmp_path / "demo"
    (folder / "old").mkdir(parents=True)
    (folder / ".unisson-demo").touch()  # a previous run's folder: emptied, not refused
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "--lang",
        "en",
        "demo",
        "--once",
        "--doubles",
        "--data",
        str(folder),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), STORY_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError("unisson demo --once did not end in time") from None
    output = out.decode()
    assert process.returncode == 0, output + err.decode()
    lines = output.splitlines()
    steps = step_lines(lines, "en")
    assert steps == sorted(steps)
    assert "  Bluesky (test double: " in output and "(real PDS" not in output
    assert re.search(r'✅ Announcement #1 "Leaving X" published: 8/8 post\(s\) online, for 4 town\(s\)\.', output)
    assert "  Orléans: declined, nothing was posted." in lines
    assert "> {ville} is leaving X and will meet you here" in output and "quitte X" not in output
    assert not (folder / "old").exists()
    assert translate("demo.stay.header", "en").strip() not in output, "--once does not stay up"
