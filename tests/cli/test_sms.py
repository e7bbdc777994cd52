"""``poort sms test``: through a verifier and its fallbacks, showing every attempt."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.models import SmsLogEntry
from idp.plugins import Registry
from tests.cli.support import PHONE, add, confirmed
from tests.verification.providers import SENT, fake_registry


@pytest.fixture
def registry() -> Registry:
    """Password login, the console provider and both fakes."""
    return fake_registry()


def test_sms_test_reports_verifier_message_id_segments_and_cost(idp_cli):
    confirmed(idp_cli, "main", "--price", "0.056", "--option", "message_id=mb-42")

    out = idp_cli.ok("sms", "test", "main", "0612345678")

    assert "1. main (fake): accepted, message id mb-42" in out
    assert (
        "Sent to +31*******78 through main (fake) after 1 attempt(s): message id mb-42, "
        "1 segment(s) GSM-7, cost 0.0560 EUR." in out
    )
    [sent] = SENT
    assert sent.message.recipient == PHONE
    assert sent.message.code is None


def test_sms_test_with_a_long_unicode_text(idp_cli):
    confirmed(idp_cli, "main", "--price", "0.10")

    out = idp_cli.ok("sms", "test", "main", PHONE, "--text", "Привет " * 20)

    assert "3 segment(s) UCS-2, cost 0.3000 EUR." in out
    assert SENT[0].message.text == "Привет " * 20


def test_sms_test_fails_over_and_shows_every_attempt(idp_cli):
    confirmed(idp_cli, "backup", "--price", "0.07")
    confirmed(idp_cli, "main", "--fallback", "backup", "--option", "outcome=temporary")

    out = idp_cli.ok("sms", "test", "main", PHONE)

    assert "1. main (fake): failed, sms_temporary 800: Fake gateway: technical error" in out
    assert "2. backup (fake): accepted, message id fake-2" in out
    assert "through backup (fake) after 2 attempt(s)" in out
    assert "cost 0.0700 EUR" in out


def test_sms_test_when_everything_fails(idp_cli):
    confirmed(idp_cli, "backup", "--option", "outcome=bug")
    confirmed(idp_cli, "main", "--fallback", "backup", "--option", "outcome=temporary")

    out = idp_cli.fails("sms", "test", "main", PHONE)

    assert "1. main (fake): failed, sms_temporary 800" in out
    assert "2. backup (fake): failed, provider_bug: ZeroDivisionError" in out
    assert "Not sent to +31*******78: No verifier could send the message (2 tried)." in out
    with idp_cli.app.app_context():
        assert len(db.session.scalars(select(SmsLogEntry)).all()) == 2


def test_sms_test_stops_at_a_refused_number(idp_cli):
    confirmed(idp_cli, "backup")
    confirmed(idp_cli, "main", "--fallback", "backup", "--option", "outcome=recipient")

    out = idp_cli.fails("sms", "test", "main", PHONE)

    assert "Not sent to +31*******78: Fake gateway: invalid number" in out
    assert len(SENT) == 1


@pytest.mark.parametrize(
    ("verifier", "message"),
    [
        ("nope", "Not sent: The verifier 'nope' does not exist."),
        ("fresh", "Not sent: The verifier 'fresh' is not enabled."),
    ],
)
def test_sms_test_through_an_unusable_verifier(idp_cli, verifier, message):
    add(idp_cli, "fresh")

    assert message in idp_cli.fails("sms", "test", verifier, PHONE)
    assert SENT == []


def test_sms_test_refuses_a_bad_number(idp_cli):
    confirmed(idp_cli, "main")

    assert "phone: A phone number has only digits" in idp_cli.fails("sms", "test", "main", "abc")
