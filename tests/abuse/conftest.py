"""Fixtures of the abuse tests: counters in the database or in Redis, and SMS sign-in.

``counter_backend`` is ``"database"`` unless a test is parametrised over it (see
``tests.abuse.support.BOTH_BACKENDS``); with ``"redis"`` the app counts in Redis database 14
under a key prefix of its own, whose keys are deleted after the test. Without a reachable
Redis those tests are skipped, unless ``POORT_REQUIRE_REDIS=1`` (CI) makes them fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from idp.models import Authenticator, User
from idp.plugins import Registry, from_classes
from idp_password import PasswordMethod
from idp_sms import SmsMethod
from idp_sms_providers.console import ConsoleProvider
from idp_totp import TotpMethod
from tests.abuse.support import KNOWN, REDIS_URL, add_verifier
from tests.fakes.clock import FakeClock


def redis_client() -> Any:
    """A client of the test Redis, or skip (fail when POORT_REQUIRE_REDIS=1) without one."""
    try:
        import redis
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        _no_redis(f"the redis package is missing ({exc})")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        client.close()
        _no_redis(f"no Redis at {REDIS_URL}: {exc}")
    return client


def _no_redis(why: str) -> None:
    if os.environ.get("POORT_REQUIRE_REDIS") == "1":
        pytest.fail(f"POORT_REQUIRE_REDIS=1, but {why}")
    pytest.skip(why)


@pytest.fixture
def counter_backend(request: pytest.FixtureRequest) -> str:
    """Where the app's limit counters live: "database" (the default) or "redis"."""
    return str(getattr(request, "param", "database"))


@pytest.fixture
def redis_prefix(counter_backend: str) -> Iterator[str | None]:
    """This test's own Redis key prefix (None on the database store); cleaned up after."""
    if counter_backend != "redis":
        yield None
        return
    client = redis_client()
    prefix = f"test:{uuid.uuid4().hex}:"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture
def app_config(app_config: dict[str, Any], redis_prefix: str | None) -> dict[str, Any]:
    if redis_prefix is not None:
        app_config.update(redis_url=REDIS_URL, redis_prefix=redis_prefix)
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
    return {
        "verifier": "",
        "use_for": "both",
        "allow_signup": True,
        "unknown_numbers": "silent",
        "countries": "",
    }


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
