"""Issue 3's story, as an admin lives it: a Spryng verifier on a local fake is tested, confirmed,
enabled and made default; a message shows up in the log with its cost; then Spryng fails and
the MessageBird fallback takes over, with both attempts in the log."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.models import SmsLogEntry
from idp.plugins import Registry, from_classes
from idp.verification import dispatch, resolution
from idp_password import PasswordMethod
from idp_sms_providers.console import ConsoleProvider
from idp_sms_providers.messagebird import MessageBirdProvider
from idp_sms_providers.spryng import SpryngProvider
from tests.conftest import csrf_token
from tests.fakes import messagebird as mb
from tests.fakes import spryng
from tests.fakes.fixtures import messagebird_fake, spryng_fake  # noqa: F401 - fixtures

PHONE = "06-12345678"


@pytest.fixture
def registry() -> Registry:
    return from_classes(PasswordMethod, ConsoleProvider, SpryngProvider, MessageBirdProvider)


def _post(client, path, data):
    return client.post(path, data={"csrf_token": csrf_token(client, "/admin/"), **data})


def _confirm(client, name, fake):
    sent = _post(client, f"/admin/verifiers/{name}/test", {"phone": PHONE})
    assert sent.status_code == 303, sent.get_data(as_text=True)
    challenge = re.search(r"challenge=([\w-]+)", sent.headers["Location"]).group(1)
    last = fake.app.last
    text = last.params.get("BODY") or last.json["body"]
    code = re.search(r"#(\d{6})", text).group(1)
    confirmed = _post(
        client, f"/admin/verifiers/{name}/confirm", {"challenge": challenge, "code": code}
    )
    assert confirmed.status_code == 303, confirmed.get_data(as_text=True)
    enabled = _post(client, f"/admin/verifiers/{name}/enabled", {"enabled": "1"})
    assert enabled.status_code == 303


def test_spryng_then_fallback_to_messagebird(app, admin_client, spryng_fake, messagebird_fake):  # noqa: F811
    client = admin_client
    created = _post(
        client,
        "/admin/verifiers/new?provider=messagebird",
        {
            "name": "messagebird",
            "title": "MessageBird",
            "sender": "Poort",
            "price_per_segment": "0.07",
            "currency": "EUR",
            "options-access_key": mb.ACCESS_KEY,
            "options-endpoint": messagebird_fake.url,
        },
    )
    assert created.status_code == 303, created.get_data(as_text=True)
    _confirm(client, "messagebird", messagebird_fake)

    created = _post(
        client,
        "/admin/verifiers/new?provider=spryng",
        {
            "name": "spryng",
            "title": "Spryng",
            "sender": "OpenWave",
            "price_per_segment": "0.056",
            "currency": "EUR",
            "fallback": "messagebird",
            "options-endpoint": f"{spryng_fake.url}/api/send.php",
            "options-username": spryng.USERNAME,
            "options-password": spryng.PASSWORD,
        },
    )
    assert created.status_code == 303, created.get_data(as_text=True)
    _confirm(client, "spryng", spryng_fake)
    assert _post(client, "/admin/verifiers/spryng/default", {"default": "1"}).status_code == 303

    with app.test_request_context("/", base_url="https://localhost"):
        routed = resolution.resolve(None)
        assert [c.name for c in routed.channels] == ["spryng", "messagebird"]
        first = dispatch.send(
            routed, recipient="+31612345678", text="Hello from Poort", purpose="login"
        )
        assert first.entry.verifier_name == "spryng" and first.entry.cost == Decimal("0.0560")

        spryng_fake.app.scenario = "800"  # Spryng's "technical error": temporary
        second = dispatch.send(
            resolution.resolve(None), recipient="+31612345678", text="Hello again", purpose="login"
        )
        assert second.entry.verifier_name == "messagebird" and second.attempts == 2
        rows = db.session.scalars(
            select(SmsLogEntry).where(SmsLogEntry.purpose == "login").order_by(SmsLogEntry.id)
        ).all()
        assert [(r.verifier_name, r.status) for r in rows] == [
            ("spryng", "accepted"),
            ("spryng", "failed"),
            ("messagebird", "accepted"),
        ]
        assert rows[1].raw_code == "800" and "technical" in (rows[1].raw_meaning or "").lower()

    page = client.get("/admin/sms-log").get_data(as_text=True)
    assert "messagebird" in page and "spryng" in page and "0.056" in page
