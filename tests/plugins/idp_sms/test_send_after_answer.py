"""The phone POST answers before any provider is asked, for a known and an unknown number.

A known number whose text the provider took 300 ms to accept answered 300 ms later than an
unknown one (withheld): the difference named the numbers with an account. Tested without
timings: the gateway blocks on an event, and the browser must have the answer, and the code
page, while it is still blocked.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from idp.extensions import db
from idp.models import Challenge, SmsLogEntry
from idp.plugins import Registry, from_classes
from idp.sms import SmsMessage, SmsProvider, SmsReceipt
from idp_password import PasswordMethod
from idp_sms import SmsMethod
from idp_sms_providers.console import ConsoleProvider
from tests.plugins.idp_sms.conftest import add_verifier
from tests.plugins.idp_sms.support import KNOWN, OTHER, normalised

CSRF = 'name="csrf_token" value="'


class Gateway:
    """What the blocking provider shares with the test."""

    entered = threading.Event()
    release = threading.Event()
    calls: list[str] = []


class BlockingProvider(SmsProvider):
    """Takes every message, but only once the test releases it."""

    name = "blocking"
    title = "Blocks until released (tests)"

    def send(self, message: SmsMessage) -> SmsReceipt:
        Gateway.calls.append(message.recipient)
        Gateway.entered.set()
        assert Gateway.release.wait(timeout=30), "the test never released the gateway"
        return SmsReceipt(provider_message_id=f"blocked-{len(Gateway.calls)}")


@pytest.fixture
def port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def app_config(app_config: dict[str, Any], port: int) -> dict[str, Any]:
    # Plain http on loopback, as `poort serve --dev`: cookies a browser sends back over http.
    return {**app_config, "dev": True, "issuer": f"http://127.0.0.1:{port}"}


@pytest.fixture
def registry() -> Registry:
    return from_classes(PasswordMethod, SmsMethod, ConsoleProvider, BlockingProvider)


@pytest.fixture
def sms_options(sms_options: dict[str, Any]) -> dict[str, Any]:
    return {**sms_options, "allow_signup": False}  # unknown numbers: answered silently


@pytest.fixture
def server(
    app: Flask, clock: Any, make_authenticator: Any, sms_options: Any, port: int
) -> Iterator[str]:
    Gateway.entered.clear()
    Gateway.release.clear()
    Gateway.calls.clear()
    add_verifier(app, clock, "slow", "blocking", default=True)
    make_authenticator("sms", method="sms", title="Text message", options=sms_options)
    httpd = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        Gateway.release.set()  # never leave a request thread blocked
        httpd.shutdown()
        thread.join(timeout=10)


def ask_code(base: str, phone: str) -> tuple[requests.Response, requests.Response]:
    """POST *phone* as a browser would; the answer and the code page it leads to."""
    browser = requests.Session()
    browser.trust_env = False
    login = browser.get(f"{base}/login", timeout=10)
    token = login.text.split(CSRF, 1)[1].split('"', 1)[0]
    answer = browser.post(
        f"{base}/m/sms/sms/login",
        data={"csrf_token": token, "phone": phone},
        allow_redirects=False,
        timeout=10,
    )
    page = browser.get(f"{base}/m/sms/sms/login/code", timeout=10)
    return answer, page


def log_rows(app: Flask) -> list[tuple[str, str | None]]:
    with app.app_context():
        rows = db.session.scalars(select(SmsLogEntry).order_by(SmsLogEntry.id))
        return [(row.status, row.provider_message_id) for row in rows]


def test_known_and_unknown_numbers_answer_while_the_gateway_is_blocked(app, server, known):
    known_answer, known_page = ask_code(server, KNOWN)

    assert Gateway.entered.wait(timeout=10)  # the provider has the known number's text ...
    assert not Gateway.release.is_set()  # ... and has not answered it: we were answered first
    assert known_answer.status_code == 303
    assert known_page.status_code == 200
    assert log_rows(app) == [("sending", None)]  # logged before the provider was asked

    unknown_answer, unknown_page = ask_code(server, OTHER)  # the gateway is still blocked

    assert unknown_answer.status_code == known_answer.status_code == 303
    assert unknown_answer.headers["Location"] == known_answer.headers["Location"]
    assert normalised(unknown_page.text) == normalised(known_page.text)
    assert "We sent a text message" in known_page.text

    Gateway.release.set()
    with app.app_context():
        for _ in range(200):  # bounded: the request thread finishes the send at once
            db.session.expire_all()
            states = db.session.scalars(select(Challenge.delivery).order_by(Challenge.id)).all()
            if states == ["sent", "withheld"]:
                break
            threading.Event().wait(0.05)
    assert states == ["sent", "withheld"]
    assert log_rows(app) == [("accepted", "blocked-1")]
    assert Gateway.calls == [KNOWN]  # the unknown number was never texted
