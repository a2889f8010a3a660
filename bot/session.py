"""The bot's Matrix login, kept in its store folder so that the device (and its encryption keys) survive restarts.

An access token from the settings is preferred (its device is read with ``whoami``); otherwise the bot logs in
once with its password and keeps the device id and token in ``session.json``, written private from the start.
Every ``login()`` would create a new device, with new keys that the rooms' members do not know yet.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from nio import AsyncClient, LoginResponse, WhoamiResponse

from bot.settings import BotSettings

log = logging.getLogger(__name__)

SESSION_FILE = "session.json"


class BotError(RuntimeError):
    """The homeserver refused something the bot cannot do without (log in, first sync, send)."""


@dataclass(frozen=True, slots=True)
class Session:
    """A login kept in the store folder."""

    user_id: str
    device_id: str
    access_token: str = field(repr=False)


async def log_in(client: AsyncClient, settings: BotSettings) -> None:
    """Restores the bot's device on ``client`` (loading its crypto store), logging in only when needed."""
    token = settings.access_token.get_secret_value()
    if token:
        session = await _whoami(client, token)
        if session is None:
            raise BotError("the homeserver refused UNISSON_MATRIX_ACCESS_TOKEN; check it is current")
    else:
        session = await _saved_or_new_session(client, settings)
    if session.user_id != settings.user_id:
        raise BotError(f"the credentials are those of {session.user_id}, not {settings.user_id}")
    client.restore_login(session.user_id, session.device_id, session.access_token)


def make_private_folder(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)


async def _whoami(client: AsyncClient, token: str) -> Session | None:
    client.access_token = token
    response = await client.whoami()
    if not isinstance(response, WhoamiResponse) or not response.device_id:
        log.warning("whoami failed: %s", response)
        return None
    return Session(str(response.user_id), str(response.device_id), token)


async def _saved_or_new_session(client: AsyncClient, settings: BotSettings) -> Session:
    path = settings.store_path / SESSION_FILE
    saved = await asyncio.to_thread(read_session, path)
    if saved is not None and (current := await _whoami(client, saved.access_token)) is not None:
        return current
    response = await client.login(settings.password.get_secret_value(), device_name=settings.device_name)
    if not isinstance(response, LoginResponse):
        raise BotError(f"could not log in as {settings.user_id}: {response}")
    session = Session(str(response.user_id), str(response.device_id), str(response.access_token))
    await asyncio.to_thread(write_session, path, session)
    return session


def read_session(path: Path) -> Session | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Session(str(data["user_id"]), str(data["device_id"]), str(data["access_token"]))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        log.warning("Ignoring the unreadable session file %s", path)
        return None


def write_session(path: Path, session: Session) -> None:
    # Created private from the start: the token must never be readable by others, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(
            {"user_id": session.user_id, "device_id": session.device_id, "access_token": session.access_token}, handle
        )
