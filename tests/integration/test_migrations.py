"""``alembic upgrade head`` produces exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from hub.store import Store, migrate
from hub.store.models import AccountRow, AnnouncementRow, Base, CoalitionRow, DeliveryRow, ServerTraitRow, TownRow

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


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


async def test_servers_found_ignoring_scheduling_before_0014_are_kept(database_url: str) -> None:
    """0014 moves what the early posts' deliveries showed (the server ignores ``scheduled_at``) to its own table."""
    store = Store.from_url(database_url)
    try:
        await migrate.upgrade(store, "0013")
        early = {"state": "declined", "reason": "published_early", "at": "2026-12-04T10:00:00+00:00"}
        async with store.unit() as uow:
            uow.session.add(CoalitionRow(id=1, name="PVD", room_id="!r:test", created_at=NOW))
            await uow.session.flush()
            for town_id, server in ((1, "https://ignores.test"), (2, "https://honours.test")):
                uow.session.add(
                    TownRow(id=town_id, kind="commune", natural_key=f"t{town_id}", name=f"T{town_id}",
                            created_at=NOW, updated_at=NOW)
                )  # fmt: skip
                await uow.session.flush()
                uow.session.add(
                    AccountRow(id=town_id, town_id=town_id, platform="mastodon", identifier=f"@t{town_id}",
                               server=server, secret=b"x", created_at=NOW, updated_at=NOW)
                )  # fmt: skip
            uow.session.add(
                AnnouncementRow(id=1, coalition_id=1, title="A", state="cancelled", language="fr",
                                timezone="Europe/Paris", created_by="@c:test", created_at=NOW, updated_at=NOW)
            )  # fmt: skip
            await uow.session.flush()
            for town_id, schedule in ((1, early), (2, {"state": "staged", "id": "7"})):
                uow.session.add(
                    DeliveryRow(announcement_id=1, town_id=town_id, account_id=town_id, platform="mastodon",
                                version_number=1, text="x", idempotency_key=f"k{town_id}", state="pending",
                                schedule=schedule, created_at=NOW, updated_at=NOW)
                )  # fmt: skip
        await migrate.upgrade(store)
        async with store.unit() as uow:
            assert await uow.servers.ignores_scheduling("https://ignores.test")
            assert not await uow.servers.ignores_scheduling("https://honours.test")
            await uow.servers.found_ignoring_scheduling("https://ignores.test")  # found again: kept once
            found = (await uow.session.execute(sa.select(ServerTraitRow.server))).scalars().all()
        assert found == ["https://ignores.test"]
    finally:
        await store.close()
