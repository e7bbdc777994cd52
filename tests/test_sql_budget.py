"""The SQL statement budget of the hot paths (issue 8): one request each, counted on the engine.

- the POST of a phone number that sends a code: at most 6 statements;
- the POST of the code that verifies it and signs the person in: at most 8;
- the POST to /oauth/token that exchanges an authorization code: at most 6.

The limit counters live in Redis, as in production at scale (each test has its own key
prefix), so the statements counted are Poort's own reads and writes of the database. A
failure prints every statement, so the waste is easy to see.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event

from idp.extensions import db
from idp.plugins import Registry, from_classes
from idp_password import PasswordMethod
from idp_sms import SmsMethod
from idp_sms_providers.console import ConsoleProvider
from tests.conftest import csrf_token, password_login
from tests.fakes.clock import FakeClock
from tests.oidc.support import Rp, make_client
from tests.plugins.idp_sms.support import KNOWN, body, last_code
from tests.sms_setup import add_sms_authenticator, add_verifier

_SPACE = re.compile(r"\s+")

#: The budgets of issue 8.
SEND_BUDGET = 6
VERIFY_BUDGET = 8
TOKEN_BUDGET = 6


@pytest.fixture
def registry() -> Registry:
    return from_classes(PasswordMethod, SmsMethod, ConsoleProvider)


@pytest.fixture
def app_config(app_config: dict[str, Any], redis_settings: dict[str, str]) -> dict[str, Any]:
    return {**app_config, **redis_settings}


@pytest.fixture
def sms(app: Flask, clock: FakeClock, make_authenticator: Any) -> None:
    """A confirmed default console verifier and an SMS authenticator "sms" using it."""
    add_verifier(app, clock, "console", default=True)
    add_sms_authenticator(make_authenticator)


@pytest.fixture
def known(make_user: Any, clock: FakeClock) -> Any:
    return make_user(nickname="Known", phone=KNOWN, phone_verified_at=clock())


class Statements:
    """The SQL statements one block of code ran on the app's engine."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __len__(self) -> int:
        return len(self.seen)

    def report(self) -> str:
        lines = [f"{len(self.seen)} statements:"]
        for number, statement in enumerate(self.seen, start=1):
            text = _SPACE.sub(" ", statement).strip()
            lines.append(f"{number:3}. {text[:400]}")
        return "\n".join(lines)


@contextmanager
def counted(app: Flask) -> Iterator[Statements]:
    statements = Statements()

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)
        print(statements.report())  # shown by pytest when the test fails


def _within(statements: Statements, budget: int, what: str) -> None:
    assert len(statements) <= budget, (
        f"{what} ran {len(statements)} SQL statements, budget {budget}\n{statements.report()}"
    )


# -- the three requests, each counted alone ---------------------------------------------------


def _send(app: Flask, client: Any) -> Statements:
    token = csrf_token(client)  # the session row exists before the counted request
    client.get("/login")

    with counted(app) as statements:
        response = client.post("/m/sms/sms/login", data={"csrf_token": token, "phone": KNOWN})

    assert response.status_code == 303, body(response)
    assert response.headers["Location"] == "/m/sms/sms/login/code"
    return statements


def _verify(app: Flask, client: Any) -> Statements:
    token = csrf_token(client)
    sent = client.post("/m/sms/sms/login", data={"csrf_token": token, "phone": KNOWN})
    sent.close()  # the text goes out once the answer is sent
    assert sent.status_code == 303, body(sent)
    code = last_code(app)
    client.get("/m/sms/sms/login/code")

    with counted(app) as statements:
        response = client.post("/m/sms/sms/login/code", data={"csrf_token": token, "code": code})

    assert response.status_code == 303, body(response)
    assert response.headers["Location"] == "/"
    assert "Known" in body(client.get("/"))
    return statements


def _token(app: Flask, client: Any) -> Statements:
    client_id, secret = make_client(app)
    browser = Rp(client, client_id, secret)
    # The relying app's server calls /oauth/token itself: without the person's cookie.
    server = Rp(app.test_client(), client_id, secret)
    assert password_login(client, "root").status_code == 303
    server.tokens(server.exchange(browser.code(browser.authorize())))  # the key exists by now
    code = browser.code(browser.authorize())

    with counted(app) as statements:
        response = server.exchange(code)

    assert server.tokens(response).id_claims["sub"]
    return statements


# -- the budgets of issue 8 -------------------------------------------------------------------

#: What the two SMS requests run today. The budgets above need a redesign to be met (see
#: docs/PERFORMANCE.md, "Gaps"); until then these ceilings keep the counts from growing.
SEND_NOW = 13
VERIFY_NOW = 15


@pytest.mark.xfail(
    strict=True,
    reason=f"sending a code runs {SEND_NOW} statements (budget {SEND_BUDGET}): session, "
    "authenticator, verifier, user, settings, prefix check, cooldown, supersede, challenge, "
    "message log, delivery state, audit, session write; see docs/PERFORMANCE.md, Gaps",
)
@pytest.mark.usefixtures("sms", "known")
def test_sending_a_code_stays_within_its_budget(app: Flask, client: Any) -> None:
    _within(_send(app, client), SEND_BUDGET, "sending a code")


@pytest.mark.usefixtures("sms", "known")
def test_sending_a_code_runs_no_more_statements_than_today(app: Flask, client: Any) -> None:
    _within(_send(app, client), SEND_NOW, "sending a code")


@pytest.mark.xfail(
    strict=True,
    reason=f"verifying a code runs {VERIFY_NOW} statements (budget {VERIFY_BUDGET}): the "
    "attempt counter is committed on its own, which expires the authenticator row; two "
    "audit events; the session id rotates as a revoke and an insert; see "
    "docs/PERFORMANCE.md, Gaps",
)
@pytest.mark.usefixtures("sms", "known")
def test_verifying_a_code_and_signing_in_stays_within_its_budget(app: Flask, client: Any) -> None:
    _within(_verify(app, client), VERIFY_BUDGET, "verifying a code")


@pytest.mark.usefixtures("sms", "known")
def test_verifying_a_code_runs_no_more_statements_than_today(app: Flask, client: Any) -> None:
    _within(_verify(app, client), VERIFY_NOW, "verifying a code")


@pytest.mark.usefixtures("admin")
def test_exchanging_an_authorization_code_stays_within_its_budget(app: Flask, client: Any) -> None:
    _within(_token(app, client), TOKEN_BUDGET, "exchanging a code")
