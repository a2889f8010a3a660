"""Fixtures shared by every tier: a hub on the embedded SQLite default and on a real PostgreSQL."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from hub.crypto import SecretBox, generate_key
from hub.services.context import Hub
from hub.settings import Settings
from hub.store import Store, migrate
from sandbox.postgres import run_postgres

pytest_plugins = ["tests.integration.pds_fixture"]

ADMIN = "@admin:unisson.test"
_databases = itertools.count(1)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A real PostgreSQL: ``UNISSON_TEST_POSTGRES_DSN`` if set, else a server started for this session."""
    if dsn := os.environ.get("UNISSON_TEST_POSTGRES_DSN"):
        yield dsn
        return
    with run_postgres() as server:
        yield server.dsn


async def new_postgres_database(dsn: str) -> str:
    """Creates an empty database and returns its SQLAlchemy URL."""
    name = f"unisson_test_{os.getpid()}_{next(_databases)}"
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    base = dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind we support."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'unisson.db'}"
    return await new_postgres_database(request.getfixturevalue("postgres_dsn"))


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 1, 10, 9, 0, tzinfo=UTC))


@pytest.fixture
async def hub(database_url: str, tmp_path: Path, clock: Clock) -> AsyncIterator[Hub]:
    """A hub on a migrated database, with one admin and a fixed clock."""
    store = Store.from_url(database_url)
    await migrate.upgrade(store)
    settings = Settings(data_dir=tmp_path, database_url=database_url, admins=[ADMIN], _env_file=None)  # type: ignore[call-arg]
    hub = Hub(store, SecretBox([generate_key()]), settings, clock=clock)
    yield hub
    await hub.close()
