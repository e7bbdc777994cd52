"""Shared by the TOTP and account tests: a registry with TOTP, users with an app, codes."""

from __future__ import annotations

import re
from typing import Any

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.auth import credentials
from idp.extensions import db
from idp.models import AuditEvent, Credential, User, UserSession
from tests.conftest import csrf_token, password_login
from tests.fakes.clock import FakeClock

ENROL = "/m/totp/totp/enrol"
VERIFY = "/m/totp/totp/verify"
REMOVE = "/m/totp/totp/remove"
SECRET_SHOWN = re.compile(r'<code class="secret">([A-Z2-7 ]+)</code>')
RECOVERY_CODE = re.compile(r"<code>([A-Z2-7]{4}(?:-[A-Z2-7]{4}){3})</code>")


def body(response: Any) -> str:
    return response.get_data(as_text=True)


def code(secret: str, clock: FakeClock, offset: int = 0, digits: int = 6) -> str:
    """The code an authenticator app shows at the fake clock's time, *offset* steps away."""
    return pyotp.TOTP(secret, digits=digits).at(clock().timestamp(), counter_offset=offset)


def give_totp(app: Flask, user: User, secret: str | None = None, digits: int = 6) -> str:
    """Give *user* a confirmed TOTP credential directly in the database; return the secret."""
    secret = secret or pyotp.random_base32()
    with app.app_context():
        row = db.session.get(User, user.id)
        credential = credentials.begin(row, "totp", secret, data={"digits": digits})
        credentials.confirm(credential)
        db.session.commit()
    return secret


def credential(app: Flask, user: User) -> Credential | None:
    with app.app_context():
        row = db.session.scalar(
            select(Credential).where(Credential.user_id == user.id, Credential.method == "totp")
        )
        if row is not None:
            db.session.expunge(row)
        return row


def shown_secret(page: str) -> str:
    match = SECRET_SHOWN.search(page)
    assert match, "no secret on the enrolment page"
    return match.group(1).replace(" ", "")


def submit_code(client: FlaskClient, value: str, path: str = VERIFY, page: str = "/login/second"):
    return client.post(path, data={"csrf_token": csrf_token(client, page), "code": value})


def login_with_totp(client: FlaskClient, login: str, secret: str, clock: FakeClock, offset=0):
    """Password, then the app's code; returns the answer to the code."""
    first = password_login(client, login)
    assert first.status_code == 303, body(first)
    assert first.headers["Location"] == "/login/second"
    return submit_code(client, code(secret, clock, offset))


def live_sessions(app: Flask, user: User) -> list[UserSession]:
    with app.app_context():
        rows = db.session.scalars(
            select(UserSession)
            .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
            .order_by(UserSession.id)
        ).all()
        for row in rows:
            db.session.expunge(row)
        return list(rows)


def events(app: Flask, action: str | None = None) -> list[AuditEvent]:
    with app.app_context():
        stmt = select(AuditEvent).order_by(AuditEvent.id)
        if action:
            stmt = stmt.where(AuditEvent.action == action)
        rows = db.session.scalars(stmt).all()
        for row in rows:
            db.session.expunge(row)
        return list(rows)


def signed_in(client: FlaskClient) -> bool:
    return client.get("/").status_code == 200
