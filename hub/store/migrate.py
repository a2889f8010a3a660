"""Schema migrations with Alembic, run on the application's own async engine.

Alembic is imported only to migrate: a process that only checks the database is current (every dispatcher at
start, the readiness endpoint) reads the newest revision from the scripts' text, without loading Alembic and
every migration (some 11 MB of memory).
"""

from __future__ import annotations

import ast
from importlib import resources
from typing import TYPE_CHECKING

from sqlalchemy import column, inspect, select, table
from sqlalchemy.engine import Connection

from hub.store.database import Store

if TYPE_CHECKING:
    from alembic.config import Config

#: Where Alembic keeps the database's revision.
VERSION_TABLE = "alembic_version"


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("hub.store") / "migrations"))
    return config


async def upgrade(store: Store, revision: str = "head") -> None:
    """Brings the database to ``revision`` (the newest by default; ``base`` empties it)."""

    from alembic import command

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
    """The newest revision: the one no other revision follows (``None``: no migration at all)."""
    revisions: set[str] = set()
    followed: set[str] = set()
    for script in (resources.files("hub.store") / "migrations" / "versions").iterdir():
        if script.name.endswith(".py"):
            names = literal_assignments(script.read_text(encoding="utf-8"))
            revisions.add(str(names["revision"]))
            down = names.get("down_revision")
            followed.update(str(d) for d in (down if isinstance(down, tuple | list) else [down] if down else []))
    heads = revisions - followed
    if len(heads) > 1:  # branches to merge: Alembic says so in its own words
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(alembic_config()).get_current_head()
    return next(iter(heads), None)


def literal_assignments(source: str) -> dict[str, object]:
    """The module-level ``name = literal`` assignments of a migration script."""
    found: dict[str, object] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                found[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue  # not a literal (a call, a name): not one of Alembic's identifiers
    return found
