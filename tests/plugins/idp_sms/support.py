"""Shared by the SMS method tests: the outbox of the console provider, forms, and rows."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.extensions import db
from idp.models import User, UserSession
from tests.conftest import post_form
from tests.sms_setup import challenges as challenges
from tests.sms_setup import events as events

KNOWN = "+31612345678"
KNOWN_MASKED = "+31*******78"
OTHER = "+31687654321"
ORIGIN_LINE = re.compile(r"\n\n@(?P<host>[^\s#]+) #(?P<code>\d+)$")
_CSRF = re.compile(r'name="csrf_token" value="[^"]+"')
_MASKED = re.compile(r"\+\d{2}\*+\d{2}")


def body(response: Any) -> str:
    return response.get_data(as_text=True)


def outbox(app: Flask) -> list[dict[str, Any]]:
    """Every message the console provider wrote, oldest first."""
    path = Path(app.instance_path) / "sms-outbox.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def last_code(app: Flask, to: str | None = None) -> str:
    """The code in the latest message (to *to*), read from its origin-bound last line."""
    sent = [m for m in outbox(app) if to is None or m["to"] == to]
    assert sent, f"no message to {to or 'anyone'}"
    match = ORIGIN_LINE.search(sent[-1]["text"])
    assert match, sent[-1]["text"]
    return match.group("code")


def wrong(code: str) -> str:
    """A code that is surely not *code*."""
    return "".join(str((int(digit) + 1) % 10) for digit in code)


def normalised(page: str) -> str:
    """A page with its CSRF token and masked numbers blanked, to compare two pages."""
    return _MASKED.sub("MASKED", _CSRF.sub("CSRF", page))


# -- browsing ---------------------------------------------------------------------------------


def answered(response: Any) -> Any:
    """The response once the browser has it all: the text of a sign-in code goes out after
    the answer (when the server closes the response), as a real server does."""
    response.close()
    return response


def start(client: FlaskClient, phone: str, name: str = "sms") -> Any:
    return answered(post_form(client, f"/m/sms/{name}/login", {"phone": phone}))


def enter(client: FlaskClient, code: str, name: str = "sms", kind: str = "login") -> Any:
    page = f"/m/sms/{name}/{kind}/code"
    return post_form(client, page, {"code": code}, page=page)


def resend(client: FlaskClient, name: str = "sms", kind: str = "login") -> Any:
    page = f"/m/sms/{name}/{kind}/code"
    return answered(post_form(client, f"/m/sms/{name}/{kind}/resend", page=page))


def sms_login(app: Flask, client: FlaskClient, phone: str, name: str = "sms") -> Any:
    """Sign in (or up) by SMS as a person would; returns the answer to the code."""
    response = start(client, phone, name)
    assert response.status_code == 303, body(response)
    return enter(client, last_code(app), name)


def logout(client: FlaskClient) -> None:
    post_form(client, "/logout", page="/")


# -- rows ---------------------------------------------------------------------------------------


def users_with_phone(app: Flask, phone: str) -> list[User]:
    with app.app_context():
        rows = list(db.session.scalars(select(User).where(User.phone == phone)))
        for row in rows:
            db.session.expunge(row)
        return rows


def user(app: Flask, user_id: int) -> User:
    with app.app_context():
        row = db.session.get(User, user_id)
        assert row is not None
        db.session.expunge(row)
        return row


def live_amr(app: Flask, user_id: int) -> list[str]:
    """The amr of the user's newest unrevoked session row."""
    with app.app_context():
        row = db.session.scalar(
            select(UserSession)
            .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
            .order_by(UserSession.id.desc())
        )
        assert row is not None, "no session row"
        return row.amr_values
