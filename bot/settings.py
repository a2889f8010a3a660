"""Settings of the Matrix bot, read from the environment (prefix ``UNISSON_MATRIX_``) and ``.env``."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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

    @field_validator("homeserver")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _credentials(self) -> Self:
        if not self.access_token.get_secret_value() and not self.password.get_secret_value():
            raise ValueError("set UNISSON_MATRIX_ACCESS_TOKEN (preferred) or UNISSON_MATRIX_PASSWORD")
        if not self.command_prefix.strip():
            raise ValueError("UNISSON_MATRIX_COMMAND_PREFIX must not be blank")
        return self
