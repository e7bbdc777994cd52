"""Every sign-in leaves ``login.success`` with how (authenticators and ``amr``), every failed
attempt ``login.failure`` with the authenticator and, when the method knows the account, the
account as target; never what was typed. (SMS: tests/plugins/idp_sms/test_login_audit.py;
the authenticator app: tests/plugins/idp_totp/test_login.py.)"""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest
from markupsafe import Markup
from sqlalchemy import select

from idp.auth import AuthMethod, AuthResult, LoginContext, Role
from idp.extensions import db
from idp.models import AuditEvent, User
from idp.plugins import Registry, from_classes
from idp_password import PasswordMethod
from tests.conftest import PASSWORD, password_login, post_form


class PinMethod(AuthMethod):
    """A username and a PIN; a wrong PIN for an existing account names the account."""

    name = "pin"
    title = "PIN"
    roles = frozenset({Role.FIRST_FACTOR})
    amr = ("pin",)

    def render_login(self, ctx: LoginContext) -> Markup:
        return Markup("<p>pin</p>")

    def authenticate(self, ctx: LoginContext, form: Mapping[str, str]) -> AuthResult:
        user = db.session.scalar(select(User).where(User.username == form.get("login")))
        if user is not None and form.get("pin") == "4921":
            return AuthResult.success(user, self.amr)
        return AuthResult.failure("Wrong username or PIN.", field="login", user=user)


@pytest.fixture
def registry() -> Registry:
    return from_classes(PasswordMethod, PinMethod)


@pytest.fixture
def alice(make_user, make_authenticator):
    make_authenticator()
    make_authenticator("staff_pin", method="pin")
    return make_user(username="alice", nickname="Alice")


def events(app) -> list[AuditEvent]:
    with app.app_context():
        rows = list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
        for row in rows:
            db.session.expunge(row)
        return rows


def everything_stored(event: AuditEvent) -> str:
    return json.dumps(
        {c.key: getattr(event, c.key) for c in AuditEvent.__table__.columns}, default=str
    )


def pin_login(client, login: str, pin: str):
    return post_form(client, "/login/staff_pin", {"login": login, "pin": pin})


def test_password_success_names_the_authenticator_and_the_amr(app, client, alice):
    password_login(client, "alice")

    [success] = events(app)
    assert success.action == "login.success"
    assert success.target == f"user:{alice.id}"
    assert success.after == {"method": "password", "amr": ["pwd"]}


def test_a_failure_for_an_unknown_account_records_only_the_method(app, client, alice):
    typed = "Tr0ub4dor&3"  # a password typed into the username field
    password_login(client, typed, "whatever")
    pin_login(client, typed, "0000")

    failures = events(app)
    assert [(e.action, e.target, e.after) for e in failures] == [
        ("login.failure", None, {"method": "password"}),
        ("login.failure", None, {"method": "staff_pin"}),
    ]
    for event in failures:
        assert typed.casefold() not in everything_stored(event).casefold()


def test_a_failure_names_the_account_when_the_method_knows_it(app, client, alice):
    wrong = pin_login(client, "alice", "0000")
    unknown = pin_login(client, "mallory", "0000")
    pin_login(client, "alice", "4921")

    failure, anonymous, success = events(app)
    assert (failure.action, failure.target) == ("login.failure", f"user:{alice.id}")
    assert failure.after == {"method": "staff_pin"}
    assert failure.actor_id is None  # nobody is signed in by a failure
    assert "0000" not in everything_stored(failure)
    assert anonymous.target is None
    assert (success.action, success.after) == (
        "login.success",
        {"method": "staff_pin", "amr": ["pin"]},
    )
    # The answer does not tell a known account from an unknown one.
    assert wrong.status_code == unknown.status_code == 200
    assert wrong.get_data(as_text=True).replace("alice", "mallory") == unknown.get_data(
        as_text=True
    ).replace("alice", "mallory")


def test_the_account_page_lists_failures_aimed_at_the_account(app, client, alice):
    pin_login(client, "alice", "0000")
    password_login(client, "alice", PASSWORD)

    page = client.get("/account").get_data(as_text=True)

    assert page.count('<span class="badge bad">failed</span>') == 1
    assert "staff_pin" in page
