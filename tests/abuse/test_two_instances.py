"""Two Poort instances counting together: sharing PostgreSQL, or sharing Redis.

Each test builds a second app from the same settings as the first, so both serve the same
site; sends alternate between them and must be limited as if one instance served them all.
The database store is only shared on PostgreSQL (each SQLite test has a file of its own); the
Redis store is shared on either database.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from idp import create_app
from idp.abuse import lockout
from idp.extensions import db
from idp.models import LimitEvent, User
from idp.plugins import Registry
from tests.abuse.support import (
    KNOWN,
    address,
    answer,
    ask,
    browser,
    counted,
    mobile,
    outbox,
    set_limits,
)
from tests.conftest import PASSWORD, csrf_token
from tests.database import is_postgres
from tests.fakes.clock import FakeClock

ON_POSTGRES = is_postgres(os.environ.get("DATABASE_URL"))  # read before the tests clean it
SHARED = pytest.mark.parametrize(
    "counter_backend",
    [
        pytest.param(
            "database",
            id="postgres",
            marks=pytest.mark.skipif(
                not ON_POSTGRES, reason="two instances share a database store only on PostgreSQL"
            ),
        ),
        pytest.param("redis", id="redis"),
    ],
    indirect=True,
)
pytestmark = [SHARED, pytest.mark.usefixtures("sms")]


@pytest.fixture
def shared(counter_backend: str, postgres_url: str | None) -> str:
    """What the two instances share for their counters."""
    assert counter_backend == "redis" or postgres_url is not None
    return counter_backend


@pytest.fixture
def other(
    app: Flask, app_config: dict[str, Any], registry: Registry, clock: FakeClock, shared: str
) -> Iterator[Flask]:
    """A second instance of the same site (the first made the tables and rows)."""
    second = create_app(app_config, registry=registry, clock=clock)
    second.config["TESTING"] = True
    yield second
    with second.app_context():
        db.session.remove()
        db.engine.dispose()


def limit_events(app: Flask) -> int:
    with app.app_context():
        return db.session.query(LimitEvent).count()


def test_the_number_limit_holds_across_both(
    app: Flask, other: Flask, clock: FakeClock, known: User, shared: str
) -> None:
    for n, instance in enumerate([app, other, app, other, app]):
        response = ask(instance, KNOWN, address(n))
        assert response.status_code == 303, answer(response)
        clock.advance(seconds=60)

    on_a, on_b = ask(app, KNOWN, address(10)), ask(other, KNOWN, address(11))

    assert answer(on_a) == answer(on_b)
    assert (on_a.status_code, on_a.headers["Retry-After"]) == (429, str(3600 - 300))
    assert len(outbox(app)) == 5
    assert counted(other, f"num-h:{KNOWN}") == 5
    if shared == "redis":
        assert limit_events(app) == 0  # every count is in Redis


def test_the_address_limit_holds_across_both(app: Flask, other: Flask, clock: FakeClock) -> None:
    set_limits(app, ip_per_hour=4, human_check_after=0)
    for n in range(4):
        response = ask([app, other][n % 2], mobile(n))
        assert response.status_code == 303, answer(response)
        clock.advance(seconds=10)

    assert answer(ask(app, mobile(10)))[:2] == (429, str(3600 - 40))
    assert answer(ask(other, mobile(11)))[:2] == (429, str(3600 - 40))
    assert ask(other, mobile(12), address(1)).status_code == 303


def test_the_global_budget_holds_across_both(app: Flask, other: Flask, clock: FakeClock) -> None:
    set_limits(app, global_per_hour=3)
    for n in range(3):
        response = ask([other, app][n % 2], mobile(n), address(n))
        assert response.status_code == 303, answer(response)

    assert ask(app, mobile(3), address(3)).status_code == 503
    assert ask(other, mobile(4), address(4)).status_code == 503
    assert len(outbox(app)) == 3


def test_failed_sign_ins_count_across_both(
    app: Flask, other: Flask, clock: FakeClock, make_user: Any, make_authenticator: Any
) -> None:
    make_authenticator("password")
    alice = make_user(username="alice", email="alice@example.org")

    def sign_in(instance: Flask, password: str) -> Any:
        client = browser(instance)
        data = {"csrf_token": csrf_token(client), "login": "alice", "password": password}
        return client.post("/login/password", data=data)

    for n in range(10):
        assert sign_in([app, other][n % 2], "wrong").status_code == 200

    assert answer(sign_in(app, PASSWORD))[:2] == (429, "60")
    assert answer(sign_in(other, PASSWORD))[:2] == (429, "60")
    clock.advance(seconds=60)
    assert sign_in(other, PASSWORD).status_code == 303
    with app.app_context():
        assert lockout.lock_of(lockout.account_key(alice.id)) is None


def test_a_concurrent_burst_lets_exactly_the_limit_through(
    app: Flask, other: Flask, clock: FakeClock, shared: str
) -> None:
    set_limits(app, ip_per_hour=5, human_check_after=0)
    burst = 12
    ready = threading.Barrier(burst, timeout=60)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def send(n: int) -> None:
        try:
            client = browser([app, other][n % 2])
            token = csrf_token(client)
            ready.wait()
            response = client.post(
                "/m/sms/sms/login", data={"csrf_token": token, "phone": mobile(n)}
            )
            response.close()  # the text goes out once the answer is sent
            statuses.append(response.status_code)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertions below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(burst)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not errors, errors
    assert sorted(statuses) == [303] * 5 + [429] * 7
    assert len(outbox(app)) == 5
    assert counted(app, "ip-h:198.51.100.7") == 5
