"""What one app instance holds beside Flask's own state: settings, registry, keys, clock."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import requests
from flask import current_app

from idp.sms.pool import ConnectionPool

# The container holds objects of every layer, which create_app() makes and hands in; it names
# their types for the type checker only, so importing it loads no service (docs/architecture.md).
if TYPE_CHECKING:
    from idp.abuse.store import CounterStore
    from idp.clock import Clock
    from idp.config import Settings
    from idp.plugins import Registry
    from idp.security.passwords import Passwords
    from idp.security.secret_box import SecretBox
    from idp.verification.resolution import Channel


@dataclass
class IdpState:
    settings: Settings
    registry: Registry
    secret_box: SecretBox
    passwords: Passwords
    clock: Clock
    #: Counters of the abuse limits: Redis when configured, else the database.
    counters: CounterStore
    #: The provider described by the [sms] table of poort.toml, validated at start-up.
    file_sms: Channel | None = None
    #: Long-lived SMS provider connections (SMPP binds), lent to one message at a time.
    sms_connections: ConnectionPool = field(default_factory=ConnectionPool)
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def http_session(self) -> requests.Session:
        """This thread's HTTP session: providers reuse its connections between messages."""
        session = getattr(self._local, "http", None)
        if session is None:
            session = self._local.http = requests.Session()
        return session


def current() -> IdpState:
    """The state of the app handling this request or CLI command."""
    state: IdpState = current_app.extensions["idp"]
    return state


def settings() -> Settings:
    return current().settings
