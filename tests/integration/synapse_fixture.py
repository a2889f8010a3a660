"""The session-wide sandbox Synapse, as a pytest fixture named ``synapse``.

Register it once for the whole run (``pytest_plugins`` in the root ``conftest.py``). Its folder, with
``homeserver.yaml`` and ``homeserver.log``, is kept with pytest's temporary files.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from sandbox.synapse import RunningSynapse, run_synapse


@pytest_asyncio.fixture(name="synapse", scope="session", loop_scope="session")
async def synapse_session(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningSynapse]:
    """One Synapse for the whole test session (about 4 s to start); tests register their own users."""
    async with run_synapse(tmp_path_factory.mktemp("synapse")) as hs:
        yield hs
