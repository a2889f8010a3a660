"""The newest revision, read from the scripts' text, is the one Alembic names."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from hub.store import migrate


def test_the_head_read_from_the_scripts_is_alembics() -> None:
    head = migrate.head_revision()

    assert head is not None
    assert head == ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()


def test_only_literal_assignments_are_read() -> None:
    source = 'import x\nrevision = "0042"\ndown_revision = ("0040", "0041")\nother = make()\n'

    assert migrate.literal_assignments(source) == {"revision": "0042", "down_revision": ("0040", "0041")}
