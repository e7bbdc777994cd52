"""Fixtures of the abuse tests: counters in the database or in Redis, and SMS sign-in.

``counter_backend`` is ``"database"`` unless a test is parametrised over it (see
``tests.abuse.support.BOTH_BACKENDS``); with ``"redis"`` the app counts in the test Redis
under a key prefix of its own (``redis_settings`` in tests/conftest.py), whose keys are deleted
after the test. Without a reachable Redis those tests are skipped, unless
``POORT_REQUIRE_REDIS=1`` (CI) makes them fail.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from idp.models import Authenticator, User
from idp.plugins import Registry, from_classes
from idp_password import PasswordMethod
from idp_sms import SmsMethod
from idp_sms_providers.console import ConsoleProvider
from idp_totp import TotpMethod
from tests.abuse.support import KNOWN, add_verifier
from tests.fakes.clock import FakeClock
from tests.sms_setup import sms_options as sms_options_default


@pytest.fixture
def counter_backend(request: pytest.FixtureRequest) -> str:
    """Where the app's limit counters live: "database" (the default) or "redis"."""
    return str(getattr(request, "param", "database"))


@pytest.fixture
def app_config(
    app_config: dict[str, Any], counter_backend: str, request: pytest.FixtureRequest
) -> dict[str, Any]:
    if counter_backend == "redis":  # only then does the test need a Redis (or skip)
        app_config.update(request.getfixturevalue("redis_settings"))
    return app_config


@pytest.fixture
def registry() -> Registry:
    return from_classes(PasswordMethod, SmsMethod, TotpMethod, ConsoleProvider)


# -- SMS sign-in ------------------------------------------------------------------------------


@pytest.fixture
def console(app: Flask, clock: FakeClock) -> None:
    """A confirmed console verifier, the default: messages land in <instance>/sms-outbox.jsonl."""
    add_verifier(app, clock, "console", default=True)


@pytest.fixture
def sms_options() -> dict[str, Any]:
    """Options of the "sms" authenticator; override or mutate to change them."""
    return sms_options_default()


@pytest.fixture
def sms(
    make_authenticator: Callable[..., Authenticator], console: None, sms_options: dict[str, Any]
) -> Authenticator:
    """An enabled SMS authenticator called "sms" using the default (console) verifier."""
    return make_authenticator("sms", method="sms", title="Text message", options=sms_options)


@pytest.fixture
def known(make_user: Callable[..., User], clock: FakeClock) -> User:
    """A user whose phone number (KNOWN) is verified."""
    return make_user(nickname="Known", phone=KNOWN, phone_verified_at=clock())
