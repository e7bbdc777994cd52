"""Shared by the abuse tests: numbers and addresses, limits, asking for codes, reading answers."""

from __future__ import annotations

import hashlib
import html
import json
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from idp import site_settings, state
from idp.abuse import limits
from idp.abuse.pow import leading_zero_bits
from idp.abuse.store import Window
from idp.extensions import db
from idp.models import Authenticator, Challenge, SmsLogEntry
from tests.conftest import csrf_token
from tests.sms_setup import add_verifier as add_verifier
from tests.sms_setup import events as events

#: Mark a module or test to run once with counters in the database and once in Redis.
BOTH_BACKENDS = pytest.mark.parametrize("counter_backend", ["database", "redis"], indirect=True)

IP = "198.51.100.7"
KNOWN = "+31612345678"
OUTBOX = "sms-outbox.jsonl"
_ERROR = re.compile(r'<p class="field-error"[^>]*role="alert">(.*?)</p>', re.S)


def mobile(n: int) -> str:
    """A valid Dutch mobile number; each *n* (0-999) has a number prefix of its own."""
    assert 0 <= n < 1000
    return f"+3162{n:03d}4567"


def address(n: int) -> str:
    """An IPv4 address; each *n* (0-255) in a /24 of its own."""
    return f"100.64.{n}.7"


# -- settings ---------------------------------------------------------------------------------


def set_limits(app: Flask, **values: int) -> None:
    """Change limits as an admin would (the others keep their current values)."""
    with app.app_context():
        parsed, errors = limits.parse(values)
        assert not errors, errors
        limits.save(parsed)
        db.session.commit()


def put_setting(app: Flask, key: str, value: Any) -> None:
    with app.app_context():
        site_settings.put(key, value)
        db.session.commit()


def set_options(app: Flask, authenticator: str, **options: Any) -> None:
    """Change some options of an authenticator, as an admin would on its page."""
    with app.app_context():
        row = db.session.scalar(select(Authenticator).where(Authenticator.name == authenticator))
        assert row is not None
        row.options = {**row.options, **options}
        db.session.commit()


# -- browsing ---------------------------------------------------------------------------------


def browser(app: Flask, ip: str = IP) -> FlaskClient:
    """A new browser (its own session) whose requests come from *ip*."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    return client


def form_token(client: FlaskClient, page: str = "/login") -> str:
    """The browser's CSRF token, read once from *page* and kept (it lasts as long as the
    session; a new browser, or one that just signed in, reads a new one)."""
    token = getattr(client, "_form_token", None)
    if token is None:
        token = client._form_token = csrf_token(client, page)  # type: ignore[attr-defined]
    return token


def ask(
    app: Flask,
    phone: str,
    ip: str = IP,
    *,
    client: FlaskClient | None = None,
    name: str = "sms",
    extra: dict[str, str] | None = None,
) -> Any:
    """Ask for a code on the login page, by default from a new browser at *ip*."""
    client = client or browser(app, ip)
    data = {"csrf_token": form_token(client), "phone": phone, **(extra or {})}
    response = client.post(f"/m/sms/{name}/login", data=data)
    response.close()  # the code's text goes out once the answer is sent (closed)
    return response


def resend(client: FlaskClient, name: str = "sms") -> Any:
    response = client.post(f"/m/sms/{name}/login/resend", data={"csrf_token": form_token(client)})
    response.close()  # the code's text goes out once the answer is sent (closed)
    return response


def enter(client: FlaskClient, code: str, name: str = "sms") -> Any:
    page = f"/m/sms/{name}/login/code"
    return client.post(page, data={"csrf_token": form_token(client), "code": code})


def body(response: Any) -> str:
    return response.get_data(as_text=True)


def error_of(response: Any) -> str | None:
    """The error a person reads next to the field, or None."""
    match = _ERROR.search(body(response))
    return html.unescape(match.group(1).strip()) if match else None


def answer(response: Any) -> tuple[int, str | None, str | None]:
    """What an asker learns from an answer: status, Retry-After and the error shown."""
    return response.status_code, response.headers.get("Retry-After"), error_of(response)


def refused(response: Any, status: int = 429) -> int:
    """Assert *response* is a refusal with *status* and Retry-After; return Retry-After."""
    assert response.status_code == status, (response.status_code, error_of(response))
    assert "Retry-After" in response.headers
    return int(response.headers["Retry-After"])


def solve(challenge: str, bits: int) -> str:
    """A solution of a proof-of-work challenge, as the browser's pow.js finds it."""
    for counter in range(1 << (bits + 10)):
        digest = hashlib.sha256(f"{challenge}:{counter}".encode()).digest()
        if leading_zero_bits(digest) >= bits:
            return str(counter)
    raise AssertionError("no solution found")


# -- what happened ----------------------------------------------------------------------------


def outbox(app: Flask, file: str = OUTBOX) -> list[dict[str, Any]]:
    """Every message a console verifier wrote to *file*, oldest first."""
    path = Path(app.instance_path) / file
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def sent_to(app: Flask, file: str = OUTBOX) -> list[str]:
    return [message["to"] for message in outbox(app, file)]


def code_in(message: dict[str, Any]) -> str:
    match = re.search(r"#(\d+)$", message["text"])
    assert match, message["text"]
    return match.group(1)


def challenge_count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Challenge)) or 0


def message_log(app: Flask) -> list[SmsLogEntry]:
    with app.app_context():
        rows = list(db.session.scalars(select(SmsLogEntry).order_by(SmsLogEntry.id)))
        for row in rows:
            db.session.expunge(row)
        return rows


def counted(app: Flask, key: str, seconds: int = 3600) -> int:
    """Events under *key* in the last *seconds*, as the app's counter store sees them."""
    with app.app_context():
        s = state.current()
        return s.counters.count(Window(key, 1, seconds), s.clock())
