"""Encryption of secrets at rest (app passwords, tokens, sessions).

AES-256-GCM from ``cryptography``: a secret is sealed as one byte saying the format, a random 96-bit nonce and
the ciphertext with its tag. The configured keys (``UNISSON_ENCRYPTION_KEYS``) keep Fernet's text form; the
AES key is derived from each with HKDF-SHA256. The first key encrypts, every key decrypts, and
:meth:`SecretBox.rotate` re-encrypts a secret under the first key. Secrets sealed by earlier versions (Fernet
tokens: AES-128-CBC with HMAC-SHA256) are still read, and rotation rewrites them in the current format.

Why not Fernet for new secrets: at the agreed minute the dispatcher opens thousands of secrets within seconds,
and a Fernet token costs about fifteen times the CPU of one AES-GCM call (base64, HMAC and CBC objects built in
Python for each), for the same protection of a secret at rest.
"""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hub.errors import UnissonError

log = logging.getLogger(__name__)

#: The first byte of a secret sealed with AES-256-GCM (a Fernet token's first byte is always ``g``).
_SEALED = b"\x01"
_NONCE_BYTES = 12
_DERIVATION = b"unisson secret box: aes-256-gcm, v1"


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
            fernets = [Fernet(key.encode("ascii")) for key in keys]
        except (ValueError, UnicodeEncodeError) as exc:
            raise EncryptionKeyInvalid() from exc
        #: Reads the secrets sealed before AES-GCM.
        self._fernet = MultiFernet(fernets)
        self._aes = [AESGCM(_derive(key)) for key in keys]
        self.key_count = len(keys)

    def __repr__(self) -> str:
        return f"SecretBox(keys={self.key_count})"

    def encrypt(self, plaintext: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _SEALED + nonce + self._aes[0].encrypt(nonce, plaintext.encode("utf-8"), _SEALED)

    def decrypt(self, token: bytes) -> str:
        if token[:1] != _SEALED:
            return self._open_fernet(token)
        nonce, sealed = token[1 : 1 + _NONCE_BYTES], token[1 + _NONCE_BYTES :]
        for aes in self._aes:
            try:
                return aes.decrypt(nonce, sealed, _SEALED).decode("utf-8")
            except InvalidTag:
                continue  # sealed under another key (rotation), or altered
            except ValueError as exc:  # too short to hold a tag
                raise UndecryptableSecret() from exc
        raise UndecryptableSecret()

    def rotate(self, token: bytes) -> bytes:
        """The same secret encrypted under the newest key, in the current format."""
        return self.encrypt(self.decrypt(token))

    def _open_fernet(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(token).decode("utf-8")
        except InvalidToken as exc:
            raise UndecryptableSecret() from exc


def _derive(key: str) -> bytes:
    """The AES-256 key derived from a configured key (its 32 bytes, Fernet's signing and encryption halves)."""
    material = base64.urlsafe_b64decode(key.encode("ascii"))  # its form was checked by Fernet
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_DERIVATION).derive(material)


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
