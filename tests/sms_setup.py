"""SMS sign-in set up the way an admin would: a confirmed verifier and an "sms" authenticator.

Shared by every test package that signs in by text message (abuse, admin, plugins/idp_sms, the
SQL budget, the queue), so the steps and the defaults live in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent, Authenticator, Challenge
from idp.verification import verifiers
from tests.fakes.clock import FakeClock


def add_verifier(
    app: Flask,
    clock: FakeClock,
    name: str,
    provider: str = "console",
    options: dict[str, Any] | None = None,
    *,
    default: bool = False,
    fallback: str | None = None,
) -> None:
    """A confirmed, enabled verifier (made default when asked)."""
    with app.app_context():
        fields = {"name": name, "provider": provider, "sender": "Poort"}
        if fallback:
            fields["fallback"] = fallback
        row, _ = verifiers.save(None, fields, options or {})
        row.confirmed_at = clock()
        verifiers.set_enabled(row, True)
        if default:
            verifiers.set_default(row)
        db.session.commit()


def sms_options(**overrides: Any) -> dict[str, Any]:
    """Options of an "sms" authenticator: sign-in and sign-up, unknown numbers told nothing."""
    return {
        "verifier": "",
        "use_for": "both",
        "allow_signup": True,
        "unknown_numbers": "silent",
        "countries": "",
        **overrides,
    }


def add_sms_authenticator(
    make_authenticator: Callable[..., Authenticator], **overrides: Any
) -> Authenticator:
    """An enabled SMS authenticator "sms" on the default verifier; *overrides* its options."""
    return make_authenticator(
        "sms", method="sms", title="Text message", options=sms_options(**overrides)
    )


def events(app: Flask, action: str) -> list[AuditEvent]:
    """The audit events of *action*, oldest first."""
    with app.app_context():
        rows = list(
            db.session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )
        for row in rows:
            db.session.expunge(row)
        return rows


def challenges(app: Flask) -> list[Challenge]:
    """Every code challenge, oldest first."""
    with app.app_context():
        rows = list(db.session.scalars(select(Challenge).order_by(Challenge.id)))
        for row in rows:
            db.session.expunge(row)
        return rows
