"""Schema migrations with Alembic, run on the application's own async engine."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import column, inspect, select, table
from sqlalchemy.engine import Connection

from hub.store.database import Store

#: Where Alembic keeps the database's revision.
VERSION_TABLE = "alembic_version"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("hub.store") / "migrations"))
    return config


async def upgrade(store: Store, revision: str = "head") -> None:
    """Brings the database to ``revision`` (the newest by default; ``base`` empties it)."""

    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        if revision == "base":
            command.downgrade(config, revision)
        else:
            command.upgrade(config, revision)

    async with store.engine.begin() as connection:
        await connection.run_sync(run)


async def current_revision(store: Store) -> str | None:
    """The revision the database is at (None: never migrated), read directly, without Alembic's log lines:
    the readiness endpoint asks it every few seconds."""

    def read(connection: Connection) -> str | None:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        revision = connection.execute(select(column("version_num")).select_from(table(VERSION_TABLE))).scalar()
        return None if revision is None else str(revision)

    async with store.engine.connect() as connection:
        return await connection.run_sync(read)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
