"""Linking a town's Mastodon account by OAuth, with the bot on a real Synapse and the Mastodon double as the
server: the code flow and the redirect flow, wrong and replayed codes, unlinking and erasure revoke the token at
the server, and no secret in a room, a log line or the database in clear."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text

from bot.client import Bot
from hub.core import Hub
from hub.domain.model import Credential, Platform
from hub.services.linking import RequestExpired
from hub.services.onboarding import OnboardingService
from hub.web.app import HttpEndpoint, Monitoring
from sandbox.bluesky import BlueskyDouble
from sandbox.mastodon import MastodonDouble
from tests.conftest import ADMIN, Clock
from tests.integration import test_bot_admin as shared
from tests.integration.helpers import PANTIN
from tests.integration.test_bot_admin import _coalition_room, _content, _room_with_bot
from tests.integration.test_bot_basics import Person, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

# The bot on Synapse, an admin, an officer and the Mastodon double, as in test_bot_admin.
admin, member, bot, bot_settings, mastodon = (
    shared.admin,
    shared.member,
    shared.bot,
    shared.bot_settings,
    shared.mastodon,
)

HANDLE = "@pantin@social.pantin.test"
_LINK = re.compile(r"http://127\.0\.0\.1:\d+/oauth/authorize\?\S+")
_CODE = re.compile(r'<code id="code">([^<]+)</code>')
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@dataclass(frozen=True)
class Landed:
    status: int
    url: str
    headers: dict[str, str]
    text: str


async def _approve(url: str, username: str, *, follow: bool = False) -> Landed:
    """The officer's browser: opens the consent page and clicks Authorize as ``username``."""
    base = url.split("/oauth/", 1)[0]
    async with aiohttp.ClientSession() as browser:
        async with browser.get(url) as page:
            assert page.status == 200, await page.text()
            fields = dict(_HIDDEN.findall(await page.text()))
        form = {**{k: v.replace("&amp;", "&") for k, v in fields.items()}, "username": username, "decision": "approve"}
        async with browser.post(f"{base}/oauth/authorize", data=form, allow_redirects=follow) as answer:
            return Landed(answer.status, str(answer.url), dict(answer.headers), await answer.text())


async def _code(url: str, username: str = "pantin") -> str:
    match = _CODE.search((await _approve(url, username)).text)
    assert match, "the out-of-band page shows the code"
    return match.group(1)


async def _token_state(base_url: str, token: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {token}"}
        async with http.get(f"{base_url}/api/v1/accounts/verify_credentials", headers=headers) as answer:
            return answer.status, await answer.json()


async def _officer_in_direct(hub: Hub, admin: Person, member: Person, bot: Bot) -> tuple[str, int]:
    _, coalition_id = await _coalition_room(hub, admin, bot)
    added = await OnboardingService(hub).add_town(ADMIN, coalition_id, PANTIN)
    await hub.towns.appoint_officer(ADMIN, added.town.id, member.user_id)
    return await _room_with_bot(member, bot.user_id, is_direct=True), added.town.id


def _database_files(folder: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(folder.glob("unisson.db*")))


async def test_an_officer_links_mastodon_by_the_code_flow_and_a_replayed_or_wrong_code_is_refused(
    hub: Hub,
    bot: Bot,
    admin: Person,
    member: Person,
    mastodon: tuple[MastodonDouble, str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    double, base_url = mastodon
    double.add_account("pantin")
    direct, town_id = await _officer_in_direct(hub, admin, member, bot)

    asked = _content(await member.answer(direct, f"!compte mastodon {HANDLE} {base_url}"))
    assert "Autoriser" in asked["body"] and "!code" in asked["body"] and "10 minutes" in asked["body"]
    [url] = _LINK.findall(asked["body"])
    assert "code_challenge_method=S256" in url
    assert "scope=write%3Astatuses+write%3Amedia+write%3Aaccounts+profile" in url
    code = await _code(url)

    linked = _content(await member.answer(direct, f"!code {code}"))
    assert linked["body"].startswith(f"Le compte Mastodon {HANDLE} est relié pour Pantin"), linked["body"]
    [account] = await hub.accounts.of_town(town_id)
    assert account.credential is Credential.OAUTH and account.server == base_url and account.last_error is None
    [app] = double.oauth.apps.values()
    assert app.scopes == {"write:statuses", "write:media", "write:accounts", "profile"}
    [token] = double.oauth.token_of(app.client_id)
    assert (await _token_state(base_url, token))[0] == 200

    replayed = _content(await member.answer(direct, f"!code {code}"))
    assert "déjà servi" in replayed["body"]

    # A code made for another request (here, the one a newer request replaced) is refused by the server.
    first = _content(await member.answer(direct, f"!compte mastodon {HANDLE} {base_url}"))
    stale_code = await _code(_LINK.findall(first["body"])[0])
    await member.answer(direct, f"!compte mastodon {HANDLE} {base_url}")
    refused = _content(await member.answer(direct, f"!code {stale_code}"))
    assert "a refusé ce code" in refused["body"]
    wrong = _content(await member.answer(direct, "!code pas-le-bon-code"))
    assert "déjà servi" in wrong["body"] or "aucune liaison" in wrong["body"].lower()

    listed = _content(await member.answer(direct, "!comptes"))
    assert f"Mastodon {HANDLE} : fonctionne" in listed["body"] and "autorisation OAuth" in listed["body"]
    assert "Bluesky : aucun compte relié" in listed["body"]

    removed = _content(await member.answer(direct, "!compte retirer mastodon"))
    assert "révoquée sur le serveur" in removed["body"]
    status, body = await _token_state(base_url, token)
    assert (status, body) == (401, {"error": "The access token was revoked"})
    assert await hub.accounts.of_town(town_id) == []

    secrets = [token, code, stale_code, app.client_secret]
    for answer in (asked, linked, replayed, first, refused, listed, removed):
        assert not any(secret in str(answer) for secret in secrets)
    logged = caplog.text + "".join(repr(record.args) for record in caplog.records)
    assert not any(secret in logged for secret in secrets)


async def test_with_a_public_address_the_server_brings_the_officer_back_to_the_hub(
    hub: Hub, bot: Bot, admin: Person, member: Person, mastodon: tuple[MastodonDouble, str]
) -> None:
    double, base_url = mastodon
    double.add_account("pantin")
    endpoint = HttpEndpoint(Monitoring(hub, asyncio.Event(), ()))
    await endpoint.start("127.0.0.1", 0)
    hub.settings.public_url = endpoint.url
    try:
        direct, town_id = await _officer_in_direct(hub, admin, member, bot)
        asked = _content(await member.answer(direct, f"!compte mastodon {HANDLE} {base_url}"))
        assert "!code" not in asked["body"] and "!comptes" in asked["body"]
        [url] = _LINK.findall(asked["body"])
        assert "redirect_uri=http%3A%2F%2F127.0.0.1" in url

        landed = await _approve(url, "pantin", follow=True)
        assert landed.status == 200 and landed.url.startswith(f"{endpoint.url}/oauth/mastodon?")
        assert f"{HANDLE} est relié pour Pantin" in landed.text
        assert landed.headers["Cache-Control"] == "no-store" and landed.headers["Referrer-Policy"] == "no-referrer"
        [account] = await hub.accounts.of_town(town_id)
        assert account.credential is Credential.OAUTH

        async with aiohttp.ClientSession() as browser, browser.get(landed.url) as again:
            assert again.status == 400 and "déjà servi" in await again.text()
        async with (
            aiohttp.ClientSession() as browser,
            browser.get(f"{endpoint.url}/oauth/mastodon?error=access_denied") as no,
        ):
            assert no.status == 400 and "Aucune autorisation" in await no.text()
    finally:
        hub.settings.public_url = None
        await endpoint.stop()


@pytest.fixture
async def server(hub: Hub) -> AsyncIterator[tuple[MastodonDouble, str]]:
    double = MastodonDouble()
    double.add_account("pantin")
    async with double.serve() as base_url:
        yield double, base_url


async def _linked_by_oauth(hub: Hub, officer: str, town_id: int, base_url: str) -> str:
    """Links through the service (no Matrix): returns the token the server issued."""
    authorization = await hub.linking.start(officer, town_id, HANDLE, "!direct:unisson.test", base_url)
    code = await _code(authorization.url)
    health = await hub.linking.finish_with_code(officer, "!direct:unisson.test", code)
    assert health.problem is None
    return code


async def test_erasing_a_town_revokes_its_token_at_the_server_and_nothing_secret_is_stored_in_clear(
    hub: Hub,
    server: tuple[MastodonDouble, str],
    migrated_database_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    double, base_url = server
    officer = "@referent:unisson.test"
    setup_town = await _town(hub, officer)
    code = await _linked_by_oauth(hub, officer, setup_town, base_url)
    [app] = double.oauth.apps.values()
    [token] = double.oauth.token_of(app.client_id)

    async with hub.store.engine.connect() as connection:
        [(secret,)] = (await connection.execute(text("SELECT secret FROM accounts"))).all()
        [(client_secret,)] = (await connection.execute(text("SELECT client_secret FROM oauth_apps"))).all()
    assert token.encode() not in bytes(secret) and app.client_secret.encode() not in bytes(client_secret)
    if migrated_database_url.startswith("sqlite"):
        contents = await asyncio.to_thread(_database_files, tmp_path)
        for value in (token, app.client_secret, code):
            assert value.encode() not in contents

    await hub.towns.erase(ADMIN, setup_town)

    assert (await _token_state(base_url, token))[0] == 401
    [entry] = [e for e in await hub.audit.entries() if e.action == "town.erase"]
    assert (entry.details["revoked"], entry.details["not_revoked"]) == (1, 0)
    logged = caplog.text + "".join(repr(record.args) for record in caplog.records)
    assert not any(value in logged for value in (token, app.client_secret, code))


async def test_an_older_server_gets_read_accounts_and_no_pkce_and_a_request_expires(
    hub: Hub, server: tuple[MastodonDouble, str], clock: Clock
) -> None:
    double, base_url = server
    double.oauth.metadata = False
    officer = "@referent:unisson.test"
    town_id = await _town(hub, officer)
    authorization = await hub.linking.start(officer, town_id, HANDLE, "!direct:unisson.test", base_url)
    assert "code_challenge" not in authorization.url and "read%3Aaccounts" in authorization.url
    code = await _code(authorization.url)
    clock.now += authorization.expires_at - clock.now
    with pytest.raises(RequestExpired):
        await hub.linking.finish_with_code(officer, "!direct:unisson.test", code)

    await _linked_by_oauth(hub, officer, town_id, base_url)
    [account] = await hub.accounts.of_town(town_id)
    assert account.platform is Platform.MASTODON and account.identifier == HANDLE


async def _town(hub: Hub, officer: str) -> int:
    coalition = await hub.coalitions.create(ADMIN, "Coalition OAuth", "!coalition:unisson.test")
    added = await OnboardingService(hub).add_town(ADMIN, coalition.id, PANTIN)
    await hub.towns.appoint_officer(ADMIN, added.town.id, officer)
    return added.town.id


async def test_when_a_linked_account_breaks_its_officers_are_told_in_private_with_the_fix(
    hub: Hub, bot: Bot, admin: Person, member: Person, mastodon: tuple[MastodonDouble, str]
) -> None:
    double, base_url = mastodon
    double.add_account("pantin")
    direct, town_id = await _officer_in_direct(hub, admin, member, bot)
    asked = _content(await member.answer(direct, f"!compte mastodon {HANDLE} {base_url}"))
    await member.answer(direct, f"!code {await _code(_LINK.findall(asked['body'])[0])}")
    [account] = await hub.accounts.of_town(town_id)
    [app] = double.oauth.apps.values()
    [token] = double.oauth.token_of(app.client_id)

    double.revoke_token(token)  # the officer removed Unisson on the server's side
    await hub.accounts.verify(account.id)  # as the pre-flight or ``accounts verify`` would
    await hub.accounts.verify(account.id)  # still broken: told once, not at every check
    bot.account_alerts.poke()

    told = await member.wait_notice(f"Le compte Mastodon {HANDLE} de Pantin ne fonctionne plus")
    assert f"!compte mastodon {HANDLE} {base_url}" in str(told.body) and token not in str(told.body)

    async def marked_told() -> bool:
        return await hub.accounts.broken() == []

    await eventually(marked_told, "the alert is marked told")
    assert [n for n in member.notices if "ne fonctionne plus" in str(n.body)] == [told]


async def test_an_account_breaking_raises_one_alert_until_it_works_again(
    hub: Hub, server: tuple[MastodonDouble, str]
) -> None:
    _, base_url = server
    officer = "@referent:unisson.test"
    town_id = await _town(hub, officer)
    await _linked_by_oauth(hub, officer, town_id, base_url)
    [account] = await hub.accounts.of_town(town_id)
    problem = {"key": "publish.mastodon.revoked", "params": {}}
    async with hub.store.unit() as uow:
        # As the dispatcher's writer does when a post fails because the account must be linked again.
        assert await uow.alerts.broke(account.id, "jeton révoqué", problem)
        assert not await uow.alerts.broke(account.id, "jeton révoqué", problem)
    [broken] = await hub.accounts.broken()
    assert (broken.account.id, broken.officers) == (account.id, (officer,))
    assert broken.account.last_error == "jeton révoqué"


async def test_bluesky_is_guided_and_the_handle_is_found_on_its_own_server_before_the_password(
    hub: Hub, bot: Bot, admin: Person, member: Person
) -> None:
    pds = BlueskyDouble()
    pds.add_account("pantin.example", "k2ps-7qwm-xx3a-9fjd")
    async with pds.serve() as base_url:
        hub.settings.bluesky_plc_url = base_url
        direct, _ = await _officer_in_direct(hub, admin, member, bot)

        steps = _content(await member.answer(direct, "!compte bluesky"))
        assert "https://bsky.app/settings/app-passwords" in steps["body"]
        assert "Mots de passe d'application" in steps["body"] and "!compte bluesky" in steps["body"]

        found = _content(await member.answer(direct, f"!compte bluesky pantin.example {base_url}"))
        assert found["body"].startswith(f"Compte trouvé : pantin.example, hébergé sur {base_url}.")
        assert f"!compte bluesky pantin.example <mot de passe d'application> {base_url}" in found["body"]

        missing = _content(await member.answer(direct, f"!account bluesky nobody.example {base_url}"))
        assert "cannot be found" in missing["body"]


async def test_linking_again_revokes_the_token_it_replaces(hub: Hub, server: tuple[MastodonDouble, str]) -> None:
    double, base_url = server
    officer = "@referent:unisson.test"
    town_id = await _town(hub, officer)
    await _linked_by_oauth(hub, officer, town_id, base_url)
    await _linked_by_oauth(hub, officer, town_id, base_url)

    [app] = double.oauth.apps.values()
    old, new = double.oauth.token_of(app.client_id)
    assert (await _token_state(base_url, old))[0] == 401
    assert (await _token_state(base_url, new))[0] == 200
    credentials = await hub.accounts.credentials((await hub.accounts.of_town(town_id))[0].id)
    assert credentials.secret == new
