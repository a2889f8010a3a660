"""Linking an account checks it at once, and ``accounts verify`` checks every linked account."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.core import Hub
from hub.dispatch.gateway import StoreGateway
from hub.domain.model import Platform
from hub.publishers.mastodon import MastodonPublisher
from sandbox.mastodon import MastodonDouble
from tests.integration.helpers import KREMLIN, PANTIN, Setup, build_coalition


@pytest.fixture
async def instance() -> AsyncIterator[tuple[MastodonDouble, str]]:
    double = MastodonDouble(max_characters=1000)
    async with double.serve() as base_url:
        yield double, base_url


@pytest.fixture
async def setup(hub: Hub, tmp_path: Path) -> Setup:
    hub.publishers = {Platform.MASTODON: MastodonPublisher(StoreGateway(hub))}
    return await build_coalition(hub, tmp_path, (PANTIN, KREMLIN))


async def test_linking_checks_the_account_and_stores_the_servers_limits(
    hub: Hub, setup: Setup, instance: tuple[MastodonDouble, str]
) -> None:
    double, base_url = instance
    double.add_account("pantin")
    token = double.issue_token("pantin", ("read", "write"))

    health = await hub.accounts.connect(
        setup.officer(PANTIN), setup.town(PANTIN).id, Platform.MASTODON, "@pantin@social.pantin.test", token, base_url
    )
    assert health.problem is None
    assert health.account.last_verified_at is not None and health.account.last_error is None
    assert health.account.limits["max_characters"] == 1000
    # The fit check now uses the instance's own limit: 600 characters fit on this server, not on stock Mastodon.
    await hub.announcements.propose(setup.coordinator, setup.coalition.id, "Long", "{ville} " + "a" * 280)


async def test_a_revoked_token_is_reported_with_what_to_do(
    hub: Hub, setup: Setup, instance: tuple[MastodonDouble, str]
) -> None:
    double, base_url = instance
    double.add_account("kb")
    token = double.issue_token("kb", ("read", "write"))
    await hub.accounts.connect(
        setup.officer(KREMLIN), setup.town(KREMLIN).id, Platform.MASTODON, "@kb@social.kb.test", token, base_url
    )
    double.revoke_token(token)

    [health] = await hub.accounts.verify_all()
    assert health.problem is not None and health.town.name == "Le Kremlin-Bicêtre"
    message = health.problem.message("fr")
    assert "!compte mastodon" in message and token not in message
    [account] = await hub.accounts.of_town(setup.town(KREMLIN).id)
    assert account.last_error == message


async def test_an_unreachable_server_is_a_failure_not_a_crash(hub: Hub, setup: Setup) -> None:
    health = await hub.accounts.connect(
        setup.officer(PANTIN),
        setup.town(PANTIN).id,
        Platform.MASTODON,
        "@pantin@social.pantin.test",
        "jeton",
        "http://127.0.0.1:9",
    )
    assert health.problem is not None
    assert health.account.last_verified_at is None
