"""What one app instance holds beside Flask's own state: settings, registry, keys, clock."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from idp.clock import Clock
from idp.config import Settings
from idp.plugins import Registry
from idp.security.passwords import Passwords
from idp.security.secret_box import SecretBox


@dataclass
class IdpState:
    settings: Settings
    registry: Registry
    secret_box: SecretBox
    passwords: Passwords
    clock: Clock


def current() -> IdpState:
    """The state of the app handling this request or CLI command."""
    state: IdpState = current_app.extensions["idp"]
    return state


def settings() -> Settings:
    return current().settings
