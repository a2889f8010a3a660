"""Encryption of secrets at rest (app passwords, tokens, sessions).

Fernet from ``cryptography`` with key rotation through ``MultiFernet``: the first key encrypts, every key
decrypts, and :meth:`SecretBox.rotate` re-encrypts a token under the first key.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from hub.errors import UnissonError

log = logging.getLogger(__name__)


class EncryptionKeyInvalid(UnissonError):
    key = "error.crypto.key"


class UndecryptableSecret(UnissonError):
    key = "error.crypto.undecryptable"


def generate_key() -> str:
    """A new random key, to put first in ``UNISSON_ENCRYPTION_KEYS``."""
    return Fernet.generate_key().decode("ascii")


class SecretBox:
    """Encrypts and decrypts secrets with the configured keys; never logs or shows them."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise EncryptionKeyInvalid()
        try:
            self._fernet = MultiFernet([Fernet(key.encode("ascii")) for key in keys])
        except (ValueError, UnicodeEncodeError) as exc:
            raise EncryptionKeyInvalid() from exc
        self.key_count = len(keys)

    def __repr__(self) -> str:
        return f"SecretBox(keys={self.key_count})"

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode("utf-8"))

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(token).decode("utf-8")
        except InvalidToken as exc:
            raise UndecryptableSecret() from exc

    def rotate(self, token: bytes) -> bytes:
        """The same secret encrypted under the newest key."""
        try:
            return self._fernet.rotate(token)
        except InvalidToken as exc:
            raise UndecryptableSecret() from exc


def parse_keys(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def load_or_create_key_file(path: Path) -> list[str]:
    """Keys from ``path``, creating it with one new key (mode 0600) on the embedded default's first run."""
    if path.exists():
        return parse_keys(path.read_text("ascii"))
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(generate_key() + "\n")
    log.warning("No encryption key configured: generated one in %s. Back it up with the database.", path)
    return parse_keys(path.read_text("ascii"))
