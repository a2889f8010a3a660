"""Settings of the Matrix bot, read from the environment (prefix ``UNISSON_MATRIX_``) and ``.env``."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Self

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_OFFSET = re.compile(r"(?:(\d+)[dj])?(?:(\d+)h)?(?:(\d+)m(?:in)?)?")


class BotSettings(BaseSettings):
    """How the bot reaches its homeserver and where it keeps its device, sync token and crypto keys."""

    model_config = SettingsConfigDict(
        env_prefix="UNISSON_MATRIX_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    #: Client-server API base URL, e.g. ``https://matrix.example.org``.
    homeserver: str
    #: The bot's own Matrix id, e.g. ``@unisson:example.org``.
    user_id: str
    #: Preferred: an access token (its device is looked up with ``whoami``).
    access_token: SecretStr = SecretStr("")
    #: Otherwise a password, used once: the device id and token are then kept in ``store_path``.
    password: SecretStr = SecretStr("")
    #: Keeps the session, the sync token and the end-to-end encryption keys across restarts.
    store_path: Path = Path("data/matrix")
    #: Encrypts the crypto keys at rest in ``store_path``; keep it with the other secrets.
    store_passphrase: SecretStr = SecretStr("")
    command_prefix: str = "!"
    device_name: str = "Unisson"
    #: How long before a sign-on deadline the towns that have not answered are reminded, e.g. ``48h,24h,2h``
    #: (units: ``d`` or ``j`` days, ``h`` hours, ``m`` minutes). Empty: no reminders.
    reminders: Annotated[tuple[timedelta, ...], NoDecode] = (
        timedelta(hours=48),
        timedelta(hours=24),
        timedelta(hours=2),
    )
    #: How often (seconds) the reminders look for a deadline coming up.
    reminder_check_seconds: float = 60.0
    #: How often (seconds) the bot looks for linked accounts that stopped working, to tell their officers.
    alert_check_seconds: float = 15.0
    #: At most one edit of an announcement card every so many seconds: a burst of sign-ons makes one edit
    #: showing them all, and leaves the homeserver's sending budget to the answers.
    card_edit_seconds: float = 2.0
    #: Seconds between two invitations when officers are invited in bulk (Tchap asks for about one call a second).
    invite_seconds: float = 1.0

    @field_validator("homeserver")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("reminders", mode="before")
    @classmethod
    def _parse_reminders(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_offsets(value)
        return value

    @model_validator(mode="after")
    def _credentials(self) -> Self:
        if not self.access_token.get_secret_value() and not self.password.get_secret_value():
            raise ValueError("set UNISSON_MATRIX_ACCESS_TOKEN (preferred) or UNISSON_MATRIX_PASSWORD")
        if not self.command_prefix.strip():
            raise ValueError("UNISSON_MATRIX_COMMAND_PREFIX must not be blank")
        return self


def parse_offsets(text: str) -> tuple[timedelta, ...]:
    """``"48h, 24h, 2h"`` → the three durations, longest first; ``""`` → none."""
    offsets = set()
    for part in text.replace(";", ",").split(","):
        word = part.strip().lower().replace(" ", "")
        if not word:
            continue
        match = _OFFSET.fullmatch(word)
        if match is None or not any(match.groups()):
            raise ValueError(f"UNISSON_MATRIX_REMINDERS: {part.strip()!r} is not a duration like 48h, 2d or 90m")
        days, hours, minutes = (int(g or 0) for g in match.groups())
        offset = timedelta(days=days, hours=hours, minutes=minutes)
        if offset <= timedelta(0):
            raise ValueError(f"UNISSON_MATRIX_REMINDERS: {part.strip()!r} must be longer than zero")
        offsets.add(offset)
    return tuple(sorted(offsets, reverse=True))
