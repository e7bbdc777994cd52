"""Keys derived from the app's secret key for one job each (codes, phone-number hashes)."""

from __future__ import annotations

import hashlib
import hmac

from idp import state


def derived_key(purpose: str) -> bytes:
    """A key for *purpose*, so a leak of one use never helps another."""
    secret = state.current().settings.secret_key.encode()
    return hmac.new(secret, f"poort/{purpose}".encode(), hashlib.sha256).digest()


def keyed_hash(purpose: str, value: str) -> str:
    return hmac.new(derived_key(purpose), value.encode(), hashlib.sha256).hexdigest()


def phone_hash(e164: str) -> str:
    """Lets the message log be searched by number without storing the number."""
    return keyed_hash("phone-hash", e164)
