"""The session-wide sandbox Bluesky PDS, as a pytest fixture named ``pds``.

Register it once for the whole run, e.g. ``pytest_plugins = ["tests.integration.pds_fixture"]`` in the root
``conftest.py``. Tests that use it must run on the session event loop:
``pytestmark = pytest.mark.asyncio(loop_scope="session")``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from sandbox.pds import RunningPds, run_pds


@pytest_asyncio.fixture(name="pds", scope="session", loop_scope="session")
async def pds_session(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningPds]:
    """One PDS (and PLC directory) for the whole test session; the first run installs it with ``npm ci``.

    Its log is kept with pytest's temporary files (``pds*/pds.log``), which pytest prunes itself.
    """
    async with run_pds(log_path=tmp_path_factory.mktemp("pds") / "pds.log") as pds:
        yield pds
