"""Fixtures shared by every tier: a hub on the embedded SQLite default and on a real PostgreSQL."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from hub.core import Hub
from hub.crypto import SecretBox, generate_key
from hub.settings import Settings
from hub.store import Store, migrate
from sandbox.postgres import run_postgres

pytest_plugins = ["tests.integration.pds_fixture", "tests.integration.synapse_fixture", "tests.integration.browser"]

ADMIN = "@admin:unisson.test"
#: Marks a test that takes more than half a minute: ``UNISSON_TEST_SKIP_SLOW=1`` skips it (CI runs them all).
slow = pytest.mark.skipif(
    os.environ.get("UNISSON_TEST_SKIP_SLOW") == "1", reason="slow (minutes): UNISSON_TEST_SKIP_SLOW=1"
)
_databases = itertools.count(1)
#: ``./run tests`` runs the suite in a few pytest-xdist processes (``--dist loadgroup``); each starts its own
#: Synapse, PDS and PostgreSQL when a test first asks for one. The modules below run their tests one after
#: another in one process, the largest groups first: a module fixture started once (the rate-limited Synapse,
#: the wheel), and the crash tests, whose timings (kills, claims taken back within a second) should not compete
#: with each other for the two cores.
XDIST_GROUPS = {
    "test_bot_scale": "bot-scale",
    "test_dispatcher_crash": "crash",
    "test_thread_crash": "crash",
    "test_packaging": "packaging",
    "test_demo": "demo",
}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups from the markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        group = XDIST_GROUPS.get(item.module.__name__.rsplit(".", 1)[-1]) if isinstance(item, pytest.Function) else None
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


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


@pytest.fixture(scope="session")
async def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A migrated SQLite file and a migrated PostgreSQL database, made once, copied for each test."""
    folder = tmp_path_factory.mktemp("templates")
    templates = {"sqlite": str(folder / "template.db")}
    store = Store.from_url(f"sqlite+aiosqlite:///{templates['sqlite']}")
    await migrate.upgrade(store)
    await store.close()
    return templates


async def _postgres_template(dsn: str) -> str:
    name = f"unisson_template_{os.getpid()}"
    connection = await asyncpg.connect(dsn)
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
    finally:
        await connection.close()
    if not exists:
        url = await new_postgres_database(dsn)
        store = Store.from_url(url)
        await migrate.upgrade(store)
        await store.close()
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(f'ALTER DATABASE "{url.rsplit("/", 1)[1]}" RENAME TO "{name}"')
        finally:
            await connection.close()
    return name


@pytest.fixture(params=["sqlite", "postgresql"])
async def migrated_database_url(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_templates: dict[str, str]
) -> str:
    """A database already at the newest revision, copied from a template (much faster than migrating)."""
    if request.param == "sqlite":
        target = tmp_path / "unisson.db"
        shutil.copyfile(migrated_templates["sqlite"], target)
        return f"sqlite+aiosqlite:///{target}"
    dsn = request.getfixturevalue("postgres_dsn")
    template = await _postgres_template(dsn)
    name = f"unisson_test_{os.getpid()}_{next(_databases)}"
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await connection.close()
    return dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1) + f"/{name}"


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 1, 10, 9, 0, tzinfo=UTC))


@pytest.fixture
async def hub(migrated_database_url: str, tmp_path: Path, clock: Clock) -> AsyncIterator[Hub]:
    """A hub on a migrated database, with one admin and a fixed clock (which also dates what the store writes)."""
    store = Store.from_url(migrated_database_url, clock)
    settings = Settings(data_dir=tmp_path, database_url=migrated_database_url, admins=[ADMIN], _env_file=None)  # type: ignore[call-arg]
    hub = Hub(store, SecretBox([generate_key()]), settings, clock=clock)
    yield hub
    await hub.close()
