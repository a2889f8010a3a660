"""Account secrets are encrypted at rest, never shown or logged, and survive a key rotation."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from sqlalchemy import text

from hub.core import Hub
from hub.crypto import SecretBox, UndecryptableSecret, generate_key
from hub.domain.model import Platform
from hub.errors import PermissionDenied
from tests.conftest import ADMIN, Clock
from tests.integration.helpers import PANTIN, Setup, build_coalition, link_bluesky

SECRET = "zq7x-k2mv-9wpt-r4hd"
SESSION = '{"accessJwt": "jeton-de-session-tres-secret"}'


@pytest.fixture
async def setup(hub: Hub, tmp_path: Path) -> Setup:
    return await build_coalition(hub, tmp_path, (PANTIN,))


def _database_files(folder: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(folder.glob("unisson.db*")))


async def _raw_secrets(hub: Hub) -> list[tuple[bytes, bytes | None]]:
    async with hub.store.engine.connect() as connection:
        rows = await connection.execute(text("SELECT secret, session FROM accounts"))
        return [(bytes(secret), bytes(session) if session else None) for secret, session in rows]


async def test_the_secret_is_not_stored_in_clear(
    hub: Hub, setup: Setup, migrated_database_url: str, tmp_path: Path
) -> None:
    account = await link_bluesky(hub, setup, PANTIN, secret=SECRET)
    await hub.accounts.save_session(account.id, SESSION)

    [(secret, session)] = await _raw_secrets(hub)
    assert SECRET.encode() not in secret
    assert session is not None and b"jeton-de-session" not in session
    assert hub.box.decrypt(secret) == SECRET
    if migrated_database_url.startswith("sqlite"):
        # The whole database, write-ahead log included, holds the handle but never the password.
        contents = await asyncio.to_thread(_database_files, tmp_path)
        assert b"ville-93055.bsky.social" in contents
        assert SECRET.encode() not in contents
        assert b"jeton-de-session" not in contents


async def test_credentials_and_accounts_never_show_the_secret(hub: Hub, setup: Setup) -> None:
    account = await link_bluesky(hub, setup, PANTIN, secret=SECRET)
    await hub.accounts.save_session(account.id, SESSION)

    credentials = await hub.accounts.credentials(account.id)

    assert (credentials.secret, credentials.session) == (SECRET, SESSION)
    for shown in (
        repr(credentials),
        str(credentials),
        repr(account),
        repr(await hub.accounts.of_town(account.town_id)),
    ):
        assert SECRET not in shown
        assert "jeton-de-session" not in shown


async def test_linking_logs_nothing_secret(hub: Hub, setup: Setup, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    account = await link_bluesky(hub, setup, PANTIN, secret=SECRET)
    await hub.accounts.save_session(account.id, SESSION)
    await hub.accounts.credentials(account.id)

    logged = caplog.text + "".join(repr(record.args) for record in caplog.records)
    assert SECRET not in logged
    assert "jeton-de-session" not in logged


async def test_keys_rotate_without_losing_a_secret(hub: Hub, setup: Setup, clock: Clock) -> None:
    old, new = generate_key(), generate_key()
    with_old = Hub(hub.store, SecretBox([old]), hub.settings, clock=clock)
    account = await with_old.accounts.link(
        setup.officer(PANTIN), setup.town(PANTIN).id, Platform.BLUESKY, "pantin.bsky.social", SECRET
    )
    await with_old.accounts.save_session(account.id, SESSION)
    with_new_only = Hub(hub.store, SecretBox([new]), hub.settings, clock=clock)
    with pytest.raises(UndecryptableSecret):
        await with_new_only.accounts.credentials(account.id)

    during = Hub(hub.store, SecretBox([new, old]), hub.settings, clock=clock)
    with pytest.raises(PermissionDenied):
        await during.accounts.rotate_keys(setup.officer(PANTIN))
    assert await during.accounts.rotate_keys(ADMIN) == 1

    credentials = await with_new_only.accounts.credentials(account.id)
    assert (credentials.secret, credentials.session) == (SECRET, SESSION)
    with pytest.raises(UndecryptableSecret):
        await with_old.accounts.credentials(account.id)
    [entry] = [e for e in await hub.audit.entries() if e.action == "key.rotate"]
    assert (entry.actor, entry.details) == (ADMIN, {"accounts": 1})
