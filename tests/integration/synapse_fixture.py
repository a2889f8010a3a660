"""The session-wide sandbox Synapse, as a pytest fixture named ``synapse``, and the bot's settings on it.

Register it once for the whole run (``pytest_plugins`` in the root ``conftest.py``). Its folder, with
``homeserver.yaml`` and ``homeserver.log``, is kept with pytest's temporary files.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from pydantic import SecretStr

from bot.settings import BotSettings
from sandbox.synapse import RunningSynapse, run_synapse
from tests.integration.bot_helpers import register


@pytest_asyncio.fixture(name="synapse", scope="session", loop_scope="session")
async def synapse_session(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningSynapse]:
    """One Synapse for the whole test session (about 4 s to start); tests register their own users."""
    async with run_synapse(tmp_path_factory.mktemp("synapse")) as hs:
        yield hs


@pytest_asyncio.fixture(loop_scope="session")
async def bot_settings(synapse: RunningSynapse, tmp_path: Path) -> BotSettings:
    """A new bot account on the sandbox Synapse, with its store in the test's folder."""
    user_id, token = await register(synapse, "unisson")
    return BotSettings(
        homeserver=synapse.url,
        user_id=user_id,
        access_token=SecretStr(token),
        store_path=tmp_path / "bot-store",
        _env_file=None,
    )
