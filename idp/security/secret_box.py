"""Encryption of secrets at rest (provider credentials, TOTP seeds) with Fernet keys.

The keys live in ``instance/secret.keys`` (one per line, newest first) or in
``IDP_SECRET_KEYS``; never in the database. The newest key encrypts; every key decrypts, so a
key rotation can re-encrypt row by row while old tokens stay readable.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from idp.errors import ConfigError

KEYS_FILE = "secret.keys"


class SecretBox:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ConfigError("The secret box needs at least one key.", setting="secret_keys")
        try:
            self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        except ValueError as exc:
            raise ConfigError(
                "A secret key is not a valid Fernet key (32 url-safe base64-encoded bytes); "
                "make one with `poort init` or Fernet.generate_key().",
                setting="secret_keys",
            ) from exc
        self.key_count = len(keys)

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise _undecryptable() from exc

    def rotate(self, token: str) -> str:
        """Re-encrypt *token* under the newest key."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise _undecryptable() from exc


def _undecryptable() -> ConfigError:
    return ConfigError(
        "A stored secret cannot be decrypted with the configured keys; "
        "was instance/secret.keys replaced instead of rotated?",
        setting="secret_keys",
    )


def read_keys(instance_path: Path) -> list[str]:
    path = instance_path / KEYS_FILE
    if not path.is_file():
        return []
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def new_key() -> str:
    return Fernet.generate_key().decode()
