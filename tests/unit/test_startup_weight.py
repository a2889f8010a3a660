"""What a process loads to start: the dispatcher must not hold libraries only other parts use.

Each of these was made lazy because it weighs megabytes of resident memory in every dispatcher process (the
fan-out's peak RSS is a benchmarked target, see ``bench/fanout.py``); an import moved back to the top of a
module would silently bring the weight back.
"""

from __future__ import annotations

import subprocess
import sys

import uvloop

from hub.cli import loop_factory

#: Loaded only when used: reading a date (dateparser), checking a SIREN (python-stdnum), rendering a page
#: (Jinja2), migrating (Alembic), Bluesky facets and OAuth (atproto), the Matrix bot (matrix-nio), feeds,
#: suggesting a town's code (rapidfuzz).
LAZY = ("dateparser", "stdnum", "jinja2", "alembic", "atproto", "nio", "feedgen", "rapidfuzz")


def test_starting_the_command_line_loads_none_of_the_heavy_libraries() -> None:
    probe = f"import sys, bot.cli; print(' '.join(m for m in {LAZY!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == []


def test_the_event_loop_is_uvloop_unless_asyncio_is_asked_for() -> None:
    assert loop_factory("uvloop") is uvloop.new_event_loop
    assert loop_factory("asyncio") is None
