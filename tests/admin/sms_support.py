"""Helpers for the verifier and message-log panel tests: a fake SMS provider, and the clicks
an admin makes (create a verifier, send it a test code, type the code back).

The fake is built per test (:func:`fake_provider_class`), so what one test makes it do never
leaks into another. Put exceptions in ``failures`` and the next sends raise them in order;
otherwise a send is accepted and lands in ``outbox``.
"""

from __future__ import annotations

import json
import re
import secrets
from decimal import Decimal
from typing import Any, ClassVar

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from wtforms import StringField
from wtforms.validators import DataRequired, Length, Optional

from idp.extensions import db
from idp.models import AuditEvent, SmsLogEntry, Verifier
from idp.options import OptionsForm, SecretField
from idp.security.derived_keys import phone_hash
from idp.sms import SmsMessage, SmsProvider, SmsReceipt
from idp.sms.phone import mask
from tests.conftest import csrf_token

PHONE = "+31612345678"
SECRET = "sk-live-Zq9TOPSECRET-4242"


class FakeOptions(OptionsForm):
    api_key = SecretField("API key", validators=[DataRequired()])
    region = StringField(
        "Region", default="eu", validators=[Optional(), Length(max=10, message="Too long.")]
    )


class FakeProviderBase(SmsProvider):
    name = "fake"
    title = "Fake SMS"
    options_form = FakeOptions
    outbox: ClassVar[list[SmsMessage]]
    failures: ClassVar[list[BaseException]]

    def send(self, message: SmsMessage) -> SmsReceipt:
        if self.failures:
            raise self.failures.pop(0)
        self.outbox.append(message)
        return SmsReceipt(
            provider_message_id=f"fake-{len(self.outbox)}", raw_code="0", raw_meaning="queued"
        )


def fake_provider_class() -> type[FakeProviderBase]:
    """A fresh fake provider class with its own outbox and failure queue."""
    return type("FakeProvider", (FakeProviderBase,), {"outbox": [], "failures": []})


# -- reading codes --------------------------------------------------------------------------

_CODE = re.compile(r"\b(\d{6,10})\b")


def code_in(text: str) -> str:
    match = _CODE.search(text)
    assert match, "no code in the message"
    return match.group(1)


def console_outbox(app: Flask) -> list[dict[str, Any]]:
    from idp import state

    with app.app_context():
        path = state.current().settings.instance_path / "sms-outbox.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# -- what an admin does ---------------------------------------------------------------------


def form_fields(**overrides: Any) -> dict[str, Any]:
    fields = {
        "name": "primary",
        "title": "Primary SMS",
        "sender": "Poort",
        "price_per_segment": "0.056",
        "currency": "EUR",
        "fallback": "",
        "options-api_key": SECRET,
        "options-region": "eu",
    }
    fields.update(overrides)
    return {key: value for key, value in fields.items() if value is not None}


def create(client: FlaskClient, provider: str = "fake", **overrides: Any) -> Any:
    data = form_fields(**overrides)
    if provider != "fake":
        data = {k: v for k, v in data.items() if not k.startswith("options-")}
    data["csrf_token"] = csrf_token(client, "/admin/verifiers")
    return client.post(f"/admin/verifiers/new?provider={provider}", data=data)


def post(client: FlaskClient, path: str, data: dict[str, Any] | None = None) -> Any:
    return client.post(path, data={"csrf_token": csrf_token(client, "/admin/"), **(data or {})})


def send_test_code(client: FlaskClient, name: str, phone: str = "06-12345678") -> Any:
    return post(client, f"/admin/verifiers/{name}/test", {"phone": phone})


def challenge_of(response: Any) -> str:
    assert response.status_code == 303, response.get_data(as_text=True)
    match = re.search(r"challenge=([\w-]+)", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def type_code(client: FlaskClient, name: str, challenge: str, code: str) -> Any:
    return post(client, f"/admin/verifiers/{name}/confirm", {"challenge": challenge, "code": code})


def confirm(client: FlaskClient, name: str, outbox: list[SmsMessage]) -> Any:
    """Send a test code through the fake verifier *name* and type it back."""
    challenge = challenge_of(send_test_code(client, name))
    return type_code(client, name, challenge, code_in(outbox[-1].text))


# -- reading the database -------------------------------------------------------------------


def verifier(app: Flask, name: str) -> Verifier | None:
    with app.app_context():
        row = db.session.scalar(select(Verifier).where(Verifier.name == name))
        if row is not None:
            _ = row.fallback  # loaded before the session goes
            db.session.expunge_all()
        return row


def count_verifiers(app: Flask) -> int:
    with app.app_context():
        return len(db.session.scalars(select(Verifier)).all())


def audit_events(app: Flask, prefix: str = "verifier.") -> list[AuditEvent]:
    with app.app_context():
        rows = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action.startswith(prefix)).order_by(AuditEvent.id)
        ).all()
        db.session.expunge_all()
        return list(rows)


def log_entries(app: Flask) -> list[SmsLogEntry]:
    with app.app_context():
        rows = db.session.scalars(select(SmsLogEntry).order_by(SmsLogEntry.id)).all()
        db.session.expunge_all()
        return list(rows)


def add_entry(app: Flask, **values: Any) -> None:
    """Insert one message-log row directly, with plausible defaults."""
    from idp import state

    with app.app_context():
        phone = values.pop("phone", PHONE)
        row = {
            "created_at": state.current().clock(),
            "reference": secrets.token_hex(16),
            "verifier_name": "alpha",
            "provider": "fake",
            "recipient_masked": mask(phone),
            "recipient_hash": phone_hash(phone),
            "purpose": "login",
            "status": "accepted",
            "segments": 1,
            "encoding": "GSM-7",
            "cost": Decimal("0.0560"),
            "currency": "EUR",
            "latency_ms": 100,
        }
        row.update(values)
        db.session.add(SmsLogEntry(**row))
        db.session.commit()
