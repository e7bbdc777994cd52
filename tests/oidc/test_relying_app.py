"""End to end with a standard OIDC client library: the demo relying app (Authlib's Flask
client) against a real Poort server on 127.0.0.1, driven by a ``requests`` session as a
browser. Sign-in through the real SMS plugin (console provider) and through password plus the
real TOTP plugin; Authlib validates the ID token against the JWKS; then userinfo, a refresh
(rotation) and RP-initiated logout."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pyotp
import pytest
import requests
from sqlalchemy import select

from examples.demo_app import create_demo_app
from idp.auth import credentials
from idp.cli.demo import register_demo_client
from idp.clock import system_clock
from idp.extensions import db
from idp.models import OAuthToken, User
from idp.plugins import Registry, from_classes
from idp.verification import verifiers
from idp_password import PasswordMethod
from idp_sms import SmsMethod
from idp_sms_providers.console import ConsoleProvider
from idp_totp import TotpMethod
from tests.conftest import PASSWORD
from tests.oidc.live import LiveServer

PHONE = "+31612345678"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ORIGIN_LINE = re.compile(r"\n\n@(?P<host>[^\s#]+) #(?P<code>\d+)$")
PRE = re.compile(r"<pre>(.*?)</pre>", re.DOTALL)


@pytest.fixture
def clock():
    """Real time: the relying party checks exp and iat against its own clock."""
    return system_clock


@pytest.fixture
def registry() -> Registry:
    return from_classes(PasswordMethod, SmsMethod, TotpMethod, ConsoleProvider)


@pytest.fixture
def poort_server():
    server = LiveServer()
    yield server
    server.stop()


@pytest.fixture
def app_config(app_config, poort_server):
    return {**app_config, "dev": True, "issuer": poort_server.url}


@pytest.fixture
def poort(app, poort_server, make_authenticator):
    """Poort, serving: password, SMS (console verifier) and authenticator-app sign-in."""
    with app.app_context():
        row, _ = verifiers.save(
            None, {"name": "console", "provider": "console", "sender": "Poort"}, {}
        )
        row.confirmed_at = system_clock()
        verifiers.set_enabled(row, True)
        verifiers.set_default(row)
        db.session.commit()
    make_authenticator("password")
    make_authenticator(
        "sms",
        method="sms",
        title="Text message",
        options={
            "verifier": "",
            "use_for": "both",
            "allow_signup": False,
            "unknown_numbers": "silent",
            "countries": "",
        },
    )
    make_authenticator("totp", method="totp", title="Authenticator app")
    poort_server.start(app)
    return poort_server.url


@pytest.fixture
def demo(app, poort):
    """The demo relying app, registered the way `poort demo` registers it."""
    server = LiveServer()
    with app.app_context():
        settings = register_demo_client(Path(app.instance_path), app_url=server.url + "/")
    assert settings["issuer"] == poort
    server.start(create_demo_app(settings))
    yield server.url
    server.stop()


@pytest.fixture
def browser():
    with requests.Session() as session:
        session.trust_env = False  # no proxies from the environment: 127.0.0.1 only
        yield session


def _csrf(page: str) -> str:
    match = CSRF.search(page)
    assert match, page
    return match.group(1)


def _claims(page: str) -> list[dict]:
    return [json.loads(block) for block in PRE.findall(page)]


def _last_code(app) -> str:
    # The text goes out just after the answer, as on a real server: wait for it, bounded.
    outbox = Path(app.instance_path) / "sms-outbox.jsonl"
    deadline = time.monotonic() + 10
    while not outbox.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = outbox.read_text().splitlines()
    match = ORIGIN_LINE.search(json.loads(lines[-1])["text"])
    assert match
    return match.group("code")


def _start(browser, demo, poort) -> requests.Response:
    """Click "Log in with Poort": the demo app sends the browser to Poort's login page."""
    page = browser.get(f"{demo}/login")
    assert page.status_code == 200 and page.url == f"{poort}/login", page.url
    return page


def _refresh_and_logout(app, browser, demo, poort) -> None:
    refreshed = browser.get(f"{demo}/refresh")
    assert refreshed.url == f"{demo}/" and 'id="refreshed"' in refreshed.text
    with app.app_context():
        rows = db.session.scalars(select(OAuthToken).order_by(OAuthToken.id)).all()
        assert len(rows) == 2 and rows[0].rotated_at is not None and rows[1].rotated_at is None
        assert rows[0].family == rows[1].family

    out = browser.get(f"{demo}/logout")

    assert out.url == f"{demo}/" and "Log in with Poort" in out.text
    assert [r.url.split("?")[0] for r in out.history][1] == f"{poort}/oauth/logout"
    # Signed out at Poort too: the next "Log in with Poort" shows the login page again.
    _start(browser, demo, poort)


@pytest.mark.slow
def test_sms_sign_in_through_the_demo_app(app, poort, demo, browser, make_user):
    make_user(nickname="Bob", username="bob", phone=PHONE, phone_verified_at=system_clock())
    login = _start(browser, demo, poort)

    asked = browser.post(
        f"{poort}/m/sms/sms/login", data={"phone": "06 12345678", "csrf_token": _csrf(login.text)}
    )
    assert asked.url == f"{poort}/m/sms/sms/login/code", asked.text
    done = browser.post(
        f"{poort}/m/sms/sms/login/code",
        data={"code": _last_code(app), "csrf_token": _csrf(asked.text)},
    )

    assert done.status_code == 200 and done.url == f"{demo}/", done.text
    id_claims, userinfo = _claims(done.text)
    with app.app_context():
        subject = db.session.scalar(select(User.subject).where(User.phone == PHONE))
    assert id_claims["iss"] == poort and id_claims["sub"] == subject
    assert id_claims["amr"] == ["sms"] and id_claims["acr"] == "aal1"
    assert id_claims["nonce"]  # Authlib sent one and checked it
    assert userinfo["sub"] == subject
    assert userinfo["phone_number"] == PHONE and userinfo["phone_number_verified"] is True
    _refresh_and_logout(app, browser, demo, poort)


@pytest.mark.slow
def test_password_and_totp_sign_in_through_the_demo_app(app, poort, demo, browser, make_user):
    alice = make_user(username="alice", nickname="Alice")
    secret = pyotp.random_base32()
    with app.app_context():
        credential = credentials.begin(
            db.session.get(User, alice.id), "totp", secret, data={"digits": 6}
        )
        credentials.confirm(credential)
        db.session.commit()
    login = _start(browser, demo, poort)

    second = browser.post(
        f"{poort}/login/password",
        data={"login": "alice", "password": PASSWORD, "csrf_token": _csrf(login.text)},
    )
    assert second.url == f"{poort}/login/second", second.text
    done = browser.post(
        f"{poort}/m/totp/totp/verify",
        data={"code": pyotp.TOTP(secret).now(), "csrf_token": _csrf(second.text)},
    )

    assert done.status_code == 200 and done.url == f"{demo}/", done.text
    id_claims, userinfo = _claims(done.text)
    assert id_claims["amr"] == ["pwd", "otp", "mfa"] and id_claims["acr"] == "aal2"
    assert userinfo["name"] == "Alice" and "phone_number" not in userinfo
    _refresh_and_logout(app, browser, demo, poort)


@pytest.mark.slow
def test_the_demo_app_asks_for_aal2_and_gets_it(app, poort, demo, browser, make_user):
    alice = make_user(username="alice", nickname="Alice")
    secret = pyotp.random_base32()
    with app.app_context():
        credential = credentials.begin(
            db.session.get(User, alice.id), "totp", secret, data={"digits": 6}
        )
        credentials.confirm(credential)
        db.session.commit()

    page = browser.get(f"{demo}/login/aal2")
    assert page.url == f"{poort}/login"
    second = browser.post(
        f"{poort}/login/password",
        data={"login": "alice", "password": PASSWORD, "csrf_token": _csrf(page.text)},
    )
    done = browser.post(
        f"{poort}/m/totp/totp/verify",
        data={"code": pyotp.TOTP(secret).now(), "csrf_token": _csrf(second.text)},
    )

    assert _claims(done.text)[0]["acr"] == "aal2"
