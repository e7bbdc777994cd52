"""Redis stops under a running app: nothing answers 500, sign-ins that send nothing keep
working, texts are refused with a 503 (never sent uncounted), /readyz names Redis, the outage
and the recovery are logged once each, and Redis is used again without a restart.

Redis here is a private redis-server on a free port (tests.production.services), never the
shared one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from flask import Flask

from idp.models import User
from tests.abuse.support import (
    KNOWN,
    answer,
    ask,
    browser,
    challenge_count,
    counted,
    form_token,
    sent_to,
)
from tests.conftest import PASSWORD, csrf_token
from tests.fakes.clock import FakeClock
from tests.plugins.idp_totp.support import VERIFY, give_totp
from tests.production.services import RedisServer as PrivateRedis

UNAVAILABLE = (
    "Codes by text message cannot be sent right now. Try again in a minute, or sign in another way."
)
DOWN = "Redis is unreachable"
UP = "Redis answers again"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def app_config(app_config: dict[str, Any], redis_server: PrivateRedis) -> dict[str, Any]:
    app_config.update(redis_url=redis_server.url, redis_prefix="down:")
    return app_config


@pytest.fixture
def alice(make_user: Callable[..., User], make_authenticator: Callable[..., Any]) -> User:
    make_authenticator("password")
    return make_user(username="alice", email="alice@example.org")


def sign_in(client: Any, login: str, password: str = PASSWORD) -> Any:
    data = {"csrf_token": form_token(client), "login": login, "password": password}
    return client.post("/login/password", data=data)


def lines(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(text in record.getMessage() for record in caplog.records)


def test_password_sign_in_and_the_login_page_work_while_redis_is_down(
    app: Flask, redis_server: PrivateRedis, alice: User, sms: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    redis_server.stop()

    page = browser(app).get("/login")
    wrong = sign_in(browser(app), "alice", "not the password")
    right = sign_in(browser(app), "alice")

    assert page.status_code == 200 and 'name="phone"' in page.get_data(as_text=True)
    assert wrong.status_code == 200  # judged and refused like any wrong password
    assert right.status_code == 303 and right.headers["Location"] == "/"
    assert lines(caplog, DOWN) == 1
    assert not [r for r in caplog.records if r.exc_info], "no tracebacks"


def test_failed_passwords_are_still_limited_while_redis_is_down(
    app: Flask, redis_server: PrivateRedis, alice: User
) -> None:
    redis_server.stop()
    client = browser(app)

    answers = [sign_in(client, "alice", "wrong").status_code for _ in range(10)]
    locked = sign_in(client, "alice")

    assert answers == [200] * 10
    assert locked.status_code == 429 and locked.headers["Retry-After"] == "60"


def test_app_codes_sign_in_while_redis_is_down(
    app: Flask,
    clock: FakeClock,
    redis_server: PrivateRedis,
    alice: User,
    make_authenticator: Callable[..., Any],
) -> None:
    make_authenticator("totp", method="totp", title="Authenticator app")
    secret = give_totp(app, alice)
    client = browser(app)
    assert sign_in(client, "alice").headers["Location"] == "/login/second"
    redis_server.stop()

    token = csrf_token(client, "/login/second")
    wrong = client.post(VERIFY, data={"csrf_token": token, "code": "000000"})
    right = pyotp.TOTP(secret).at(clock().timestamp())
    done = client.post(VERIFY, data={"csrf_token": token, "code": right})

    assert wrong.status_code == 200
    assert done.status_code == 303 and done.headers["Location"] == "/"


def test_a_text_is_refused_with_a_503_and_nothing_is_sent_while_redis_is_down(
    app: Flask, redis_server: PrivateRedis, sms: Any, known: User
) -> None:
    redis_server.stop()

    refused = ask(app, KNOWN)

    assert answer(refused) == (503, "5", UNAVAILABLE)
    assert sent_to(app) == [] and challenge_count(app) == 0


def test_in_dutch_the_refusal_is_in_dutch(
    app: Flask, redis_server: PrivateRedis, sms: Any, known: User
) -> None:
    redis_server.stop()
    client = browser(app)
    client.set_cookie("lang", "nl")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "nl"

    refused = ask(app, KNOWN, client=client)

    assert refused.status_code == 503 and refused.headers["Retry-After"] == "5"
    assert "Probeer het over een minuut opnieuw" in refused.get_data(as_text=True)


def test_readyz_names_redis_and_recovery_needs_no_restart(
    app: Flask,
    redis_server: PrivateRedis,
    sms: Any,
    known: User,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    redis_server.stop()
    answers = [ask(app, KNOWN).status_code for _ in range(5)]
    ready = [browser(app).get("/readyz") for _ in range(3)]

    redis_server.start()  # an empty Redis on the same port, as after a restart
    back = browser(app).get("/readyz")
    sent = ask(app, KNOWN)

    assert answers == [503] * 5
    assert {r.status_code for r in ready} == {503}
    assert ready[0].headers["Retry-After"] == "5"
    assert ready[0].get_json()["failing"] == ["redis"]
    assert ready[0].get_json()["checks"]["database"] == "ok"
    assert back.status_code == 200
    assert sent.status_code == 303 and sent_to(app) == [KNOWN]
    assert counted(app, f"num-h:{KNOWN}") == 1  # counted in Redis again
    assert (lines(caplog, DOWN), lines(caplog, UP)) == (1, 1)
    assert not [r for r in caplog.records if r.exc_info], "no tracebacks"


def test_requests_find_redis_again_without_a_probe(
    app: Flask, redis_server: PrivateRedis, sms: Any, known: User
) -> None:
    from idp.abuse.redis_outage import PROBE_SECONDS

    now = [1000.0]
    app.extensions["idp"].counters.outage._clock = lambda: now[0]
    redis_server.stop()
    assert ask(app, KNOWN).status_code == 503
    redis_server.start()

    early = ask(app, KNOWN)  # Redis is left alone for PROBE_SECONDS after a failure
    now[0] += PROBE_SECONDS
    later = ask(app, KNOWN)

    assert early.status_code == 503
    assert later.status_code == 303 and sent_to(app) == [KNOWN]


def test_a_queued_text_is_refused_not_lost_while_redis_is_down(
    app: Flask, redis_server: PrivateRedis, sms: Any, known: User
) -> None:
    from idp import state

    state_settings = app.extensions["idp"].settings
    app.extensions["idp"].settings = state_settings.__class__(
        **{**vars(state_settings), "sms_queue": "redis"}
    )
    with app.app_context():
        assert state.settings().sms_queue == "redis"
    redis_server.stop()

    refused = ask(app, KNOWN)

    assert answer(refused) == (503, "5", UNAVAILABLE)
    assert challenge_count(app) == 0 and sent_to(app) == []


def test_the_admin_panel_works_but_for_the_counters_of_the_limits_page(
    admin_client: Any, redis_server: PrivateRedis
) -> None:
    redis_server.stop()

    users = admin_client.get("/admin/users")
    limits_page = admin_client.get("/admin/limits")

    assert users.status_code == 200
    assert "Redis does not answer" in users.get_data(as_text=True)  # the banner says why
    assert limits_page.status_code == 503 and limits_page.headers["Retry-After"] == "5"
    assert "cannot be sent right now" in limits_page.get_data(as_text=True)
    as_json = admin_client.get("/admin/limits", headers={"Accept": "application/json"})
    assert as_json.status_code == 503 and as_json.headers["Retry-After"] == "5"
    assert as_json.get_json() == {"error": "sending_unavailable", "message": UNAVAILABLE}
