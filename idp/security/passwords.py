"""Password hashing with argon2id and the length rules of NIST SP 800-63B."""

from __future__ import annotations

import unicodedata

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 8
MAX_LENGTH = 128

_PROFILES = {
    "default": profiles.RFC_9106_LOW_MEMORY,
    # Only for tests: hashing at production cost would make the suite crawl.
    "cheapest": profiles.CHEAPEST,
}


def _normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def password_problem(password: str) -> str | None:
    """Why *password* may not be used, or None. No composition rules, by NIST's advice."""
    length = len(_normalise(password))
    if length < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if length > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    return None


class Passwords:
    """Hashes and checks passwords; one per app, with the configured argon2 profile."""

    def __init__(self, profile: str = "default") -> None:
        self._hasher = PasswordHasher.from_parameters(_PROFILES[profile])
        # Checked against when an account is unknown, so both answers cost the same time.
        self._dummy = self._hasher.hash("not a real password, used for timing only")

    def hash(self, password: str) -> str:
        return self._hasher.hash(_normalise(password))

    def verify(self, stored: str | None, password: str) -> bool:
        """True when *password* matches *stored*; runs a full argon2 check even when it is None."""
        try:
            return self._hasher.verify(stored or self._dummy, _normalise(password)) and bool(stored)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return self._hasher.check_needs_rehash(stored)
