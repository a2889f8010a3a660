from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from hub.crypto import (
    EncryptionKeyInvalid,
    SecretBox,
    UndecryptableSecret,
    generate_key,
    load_or_create_key_file,
)

SECRET = "abcd-efgh-ijkl-mnop"


def test_round_trip_and_no_plaintext() -> None:
    box = SecretBox([generate_key()])
    token = box.encrypt(SECRET)
    assert SECRET.encode() not in token
    assert box.decrypt(token) == SECRET
    assert "keys=1" in repr(box) and generate_key()[:8] not in repr(box)


def test_rotation_newest_encrypts_all_decrypt() -> None:
    old, new = generate_key(), generate_key()
    token = SecretBox([old]).encrypt(SECRET)
    both = SecretBox([new, old])
    assert both.decrypt(token) == SECRET
    rotated = both.rotate(token)
    assert SecretBox([new]).decrypt(rotated) == SECRET
    with pytest.raises(UndecryptableSecret) as caught:
        SecretBox([new]).decrypt(token)
    assert "unisson key rotate" in caught.value.message("fr")
    assert SECRET not in str(caught.value)


def test_bad_or_missing_keys_are_refused_with_the_fix() -> None:
    for keys in ([], ["not-a-key"]):
        with pytest.raises(EncryptionKeyInvalid) as caught:
            SecretBox(keys)
        assert "unisson key generate" in caught.value.message("fr")


def test_key_file_is_created_once_private(tmp_path: Path) -> None:
    path = tmp_path / "data" / "secret.key"
    first = load_or_create_key_file(path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert load_or_create_key_file(path) == first


def test_secrets_sealed_before_aes_gcm_are_read_and_rotation_rewrites_them() -> None:
    old, new = generate_key(), generate_key()
    legacy = Fernet(old.encode()).encrypt(SECRET.encode())  # what earlier versions stored
    both = SecretBox([new, old])
    assert both.decrypt(legacy) == SECRET
    rotated = both.rotate(legacy)
    assert rotated[:1] == b"\x01" and SECRET.encode() not in rotated
    assert SecretBox([new]).decrypt(rotated) == SECRET
    with pytest.raises(UndecryptableSecret):
        SecretBox([old]).decrypt(rotated)


def test_an_altered_or_truncated_secret_is_refused_not_misread() -> None:
    box = SecretBox([generate_key()])
    token = box.encrypt(SECRET)
    assert token != box.encrypt(SECRET)  # a fresh nonce each time
    flipped = token[:-1] + bytes([token[-1] ^ 1])
    for bad in (flipped, token[:20], token[:1], b"", b"gAAAAAnot-a-token"):
        with pytest.raises(UndecryptableSecret):
            box.decrypt(bad)
