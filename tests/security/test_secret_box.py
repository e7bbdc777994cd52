"""Secrets at rest: Fernet encryption with rotatable keys."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from idp.errors import ConfigError
from idp.security.secret_box import SecretBox, new_key, read_keys

SECRET = "spryng-password-\u20ac-123"


@pytest.fixture
def older() -> str:
    return new_key()


@pytest.fixture
def newer() -> str:
    return new_key()


def test_round_trip():
    box = SecretBox([new_key()])
    token = box.seal(SECRET)
    assert box.open(token) == SECRET


def test_ciphertext_hides_the_plaintext():
    box = SecretBox([new_key()])
    token = box.seal(SECRET)
    assert SECRET not in token
    assert "spryng" not in token
    assert box.seal(SECRET) != token  # a fresh IV each time


def test_old_key_still_opens_after_a_new_key_is_added(older, newer):
    token = SecretBox([older]).seal(SECRET)
    assert SecretBox([newer, older]).open(token) == SECRET


def test_newest_key_encrypts(older, newer):
    token = SecretBox([newer, older]).seal(SECRET)
    assert SecretBox([newer]).open(token) == SECRET
    with pytest.raises(ConfigError):
        SecretBox([older]).open(token)


def test_rotate_reencrypts_under_the_newest_key(older, newer):
    token = SecretBox([older]).seal(SECRET)
    rotated = SecretBox([newer, older]).rotate(token)
    assert rotated != token
    assert SecretBox([newer]).open(rotated) == SECRET
    with pytest.raises(ConfigError):
        SecretBox([older]).open(rotated)


def test_wrong_key_gives_a_clear_config_error(older, newer):
    token = SecretBox([older]).seal(SECRET)
    with pytest.raises(ConfigError) as info:
        SecretBox([newer]).open(token)
    assert "cannot be decrypted" in str(info.value)
    assert "secret.keys" in str(info.value)
    assert info.value.setting == "secret_keys"


def test_rotating_a_token_no_key_opens_gives_a_config_error(older, newer):
    token = SecretBox([older]).seal(SECRET)
    with pytest.raises(ConfigError, match="cannot be decrypted"):
        SecretBox([newer]).rotate(token)


@pytest.mark.parametrize("token", ["", "garbage", "gAAAAAB-not-a-token"])
def test_garbage_token_gives_a_config_error(token):
    with pytest.raises(ConfigError, match="cannot be decrypted"):
        SecretBox([new_key()]).open(token)


@pytest.mark.parametrize(
    "key",
    ["", "too-short", "x" * 44, Fernet.generate_key().decode()[:-4], "\u00e9" * 44],
    # Fixed ids: the truncated key differs per process, and xdist workers must agree.
    ids=["empty", "too-short", "not-base64", "truncated", "non-ascii"],
)
def test_invalid_key_string_gives_a_config_error(key):
    with pytest.raises(ConfigError) as info:
        SecretBox([new_key(), key])
    assert "not a valid Fernet key" in str(info.value)
    assert info.value.setting == "secret_keys"


def test_no_keys_gives_a_config_error():
    with pytest.raises(ConfigError, match="at least one key"):
        SecretBox([])


def test_keys_file_is_read_newest_first(tmp_path, older, newer):
    (tmp_path / "secret.keys").write_text(f"{newer}\n\n  {older}  \n", encoding="utf-8")
    assert read_keys(tmp_path) == [newer, older]
    assert read_keys(tmp_path / "missing") == []
