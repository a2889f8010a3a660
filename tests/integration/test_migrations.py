"""``alembic upgrade head`` produces exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from hub.store import Store, migrate
from hub.store.models import Base


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_upgrade_head_matches_the_models(database_url: str) -> None:
    store = Store.from_url(database_url)
    try:
        assert await migrate.current_revision(store) is None
        await migrate.upgrade(store)
        assert await migrate.current_revision(store) == migrate.head_revision()
        async with store.engine.connect() as connection:
            assert await connection.run_sync(_diff) == []
    finally:
        await store.close()


async def test_upgrade_is_idempotent_and_downgrade_empties(database_url: str) -> None:
    store = Store.from_url(database_url)
    try:
        await migrate.upgrade(store)
        await migrate.upgrade(store)
        await migrate.upgrade(store, "base")
        async with store.engine.connect() as connection:
            diff = await connection.run_sync(_diff)
        # Every table the models define is missing again after the downgrade (with its indexes).
        added = {d[1].name for d in diff if d[0] == "add_table"}
        assert added == set(Base.metadata.tables)
        assert {d[0] for d in diff} <= {"add_table", "add_index"}
    finally:
        await store.close()
