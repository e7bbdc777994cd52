"""Sending with failover: every attempt logged, cost counted, nothing dropped, nothing leaked."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import select

from idp.extensions import db
from idp.models import SmsLogEntry
from idp.security.derived_keys import phone_hash
from idp.sms import SmsNotSent, SmsRecipientError
from idp.verification import dispatch
from idp.verification.resolution import Resolution, resolve
from tests.verification.providers import SENT

PHONE = "+31612345678"
CODE = "482913"
TEXT = f"Your Poort login code is {CODE}. It expires in 5 minutes."


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield


def send(verifier: str | None, text: str = TEXT) -> dispatch.Delivered:
    return dispatch.send(resolve(verifier), recipient=PHONE, text=text, purpose="login", code=CODE)


def log_rows() -> list[SmsLogEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(SmsLogEntry).order_by(SmsLogEntry.id)))


def assert_nothing_leaked(caplog: pytest.LogCaptureFixture) -> None:
    logged = "\n".join([r.getMessage() for r in caplog.records] + [caplog.text])
    assert CODE not in logged
    assert "login code" not in logged
    assert PHONE not in logged
    table = SmsLogEntry.__table__
    for row in db.session.execute(select(table)):
        for column, value in row._mapping.items():
            assert CODE not in str(value), f"the code is in sms_log.{column}"
            assert "login code" not in str(value), f"the text is in sms_log.{column}"
            assert PHONE.lstrip("+") not in str(value), f"the number is in sms_log.{column}"


def test_a_success_logs_one_accepted_row_with_segments_and_cost(ctx, make_verifier, caplog, clock):
    caplog.set_level(logging.DEBUG)
    row = make_verifier("main", price="0.056", currency="EUR", options={"message_id": "mb-77"})
    long_text = TEXT + " " + "x" * 150  # two GSM-7 segments

    delivered = send("main", long_text)

    [entry] = log_rows()
    assert delivered.attempts == 1
    assert delivered.entry.id == entry.id
    assert entry.status == "accepted"
    assert (entry.verifier_id, entry.verifier_name, entry.provider) == (row.id, "main", "fake")
    assert (entry.segments, entry.encoding) == (2, "GSM-7")
    assert entry.cost == Decimal("0.1120")  # 2 segments x 0.056
    assert entry.currency == "EUR"
    assert entry.provider_message_id == "mb-77"
    assert (entry.raw_code, entry.raw_meaning) == ("1", "received")
    assert entry.latency_ms is not None and entry.latency_ms >= 0
    assert entry.recipient_masked == "+31*******78"
    assert entry.recipient_hash == phone_hash(PHONE)
    assert entry.purpose == "login"
    assert entry.error_class is None
    assert entry.created_at == clock()
    [sent] = SENT
    assert (sent.message.recipient, sent.message.sender, sent.message.code) == (
        PHONE,
        "Poort",
        CODE,
    )
    assert sent.message.reference == entry.reference
    assert_nothing_leaked(caplog)


def test_ucs2_text_is_logged_with_its_encoding(ctx, make_verifier):
    make_verifier("main", price="0.10")

    send("main", "Код 482913 🙂")

    [entry] = log_rows()
    assert (entry.encoding, entry.segments, entry.cost) == ("UCS-2", 1, Decimal("0.1000"))


def test_a_temporary_error_fails_over_to_the_fallback(ctx, make_verifier, caplog):
    caplog.set_level(logging.DEBUG)
    make_verifier("backup", provider="fake-two", price="0.07")
    make_verifier("main", fallback="backup", options={"outcome": "temporary"})

    delivered = send("main")

    failed, accepted = log_rows()
    assert (failed.verifier_name, failed.status, failed.error_class) == (
        "main",
        "failed",
        "sms_temporary",
    )
    assert (failed.raw_code, failed.cost) == ("800", Decimal("0"))
    assert failed.error_message == "Fake gateway: technical error"
    assert (accepted.verifier_name, accepted.provider, accepted.status) == (
        "backup",
        "fake-two",
        "accepted",
    )
    assert accepted.cost == Decimal("0.0700")
    assert failed.reference != accepted.reference
    assert delivered.entry.id == accepted.id
    assert delivered.attempts == 2
    assert [s.provider for s in SENT] == ["fake", "fake-two"]
    assert_nothing_leaked(caplog)


def test_a_configuration_error_fails_over_too(ctx, make_verifier):
    make_verifier("backup")
    make_verifier("main", fallback="backup", options={"outcome": "configuration"})

    delivered = send("main")

    failed, accepted = log_rows()
    assert (failed.status, failed.error_class, failed.raw_code, failed.raw_meaning) == (
        "failed",
        "sms_configuration",
        "203",
        "insufficient credits",
    )
    assert accepted.status == "accepted"
    assert delivered.entry.verifier_name == "backup"


def test_a_recipient_error_stops_the_chain(ctx, make_verifier, caplog):
    make_verifier("backup")
    make_verifier("main", fallback="backup", options={"outcome": "recipient"})

    with pytest.raises(SmsRecipientError) as caught:
        send("main")

    [failed] = log_rows()
    assert (failed.verifier_name, failed.status, failed.error_class) == (
        "main",
        "failed",
        "sms_recipient",
    )
    assert caught.value.raw_code == "104"
    assert len(SENT) == 1  # the fallback was never asked
    assert_nothing_leaked(caplog)


def test_when_every_channel_fails_the_caller_is_told_and_every_attempt_is_logged(
    ctx, make_verifier, caplog
):
    caplog.set_level(logging.DEBUG)
    make_verifier("third", options={"outcome": "temporary"})
    make_verifier("second", fallback="third", options={"outcome": "configuration"})
    make_verifier("first", fallback="second", options={"outcome": "temporary"})

    with pytest.raises(SmsNotSent) as caught:
        send("first")

    rows = log_rows()
    assert [(r.verifier_name, r.status) for r in rows] == [
        ("first", "failed"),
        ("second", "failed"),
        ("third", "failed"),
    ]
    assert [r.error_class for r in rows] == ["sms_temporary", "sms_configuration", "sms_temporary"]
    assert "3 tried" in caught.value.message
    assert (
        caught.value.user_message() == "We could not send the code. Please try again in a moment."
    )
    assert caught.value.__cause__ is not None  # the last provider error is chained
    assert_nothing_leaked(caplog)


def test_a_crashing_provider_is_logged_as_a_bug_and_the_next_channel_is_tried(
    ctx, make_verifier, caplog
):
    make_verifier("backup")
    make_verifier("buggy", fallback="backup", options={"outcome": "bug"})

    delivered = send("buggy")

    failed, accepted = log_rows()
    assert (failed.status, failed.error_class, failed.error_message) == (
        "failed",
        "provider_bug",
        "ZeroDivisionError",
    )
    assert accepted.status == "accepted"
    assert delivered.entry.verifier_name == "backup"
    assert any("raised unexpectedly" in r.getMessage() for r in caplog.records)
    assert_nothing_leaked(caplog)


def test_a_crashing_provider_alone_gives_sms_not_sent(ctx, make_verifier):
    make_verifier("buggy", options={"outcome": "bug"})

    with pytest.raises(SmsNotSent) as caught:
        send("buggy")

    assert isinstance(caught.value.__cause__, ZeroDivisionError)
    assert [r.error_class for r in log_rows()] == ["provider_bug"]


def test_an_unavailable_resolution_says_why(ctx):
    with pytest.raises(SmsNotSent) as caught:
        send("nowhere")

    assert caught.value.message == "The verifier 'nowhere' does not exist."
    assert log_rows() == []
    assert SENT == []


def test_an_empty_resolution_has_a_plain_reason(ctx):
    with pytest.raises(SmsNotSent) as caught:
        dispatch.send(Resolution(), recipient=PHONE, text=TEXT, purpose="login")

    assert caught.value.message == "No verifier is available."


def test_attempt_rows_survive_a_rollback_of_the_callers_transaction(ctx, make_verifier):
    make_verifier("backup")
    make_verifier("main", fallback="backup", options={"outcome": "temporary"})

    send("main")
    db.session.rollback()

    assert [r.status for r in log_rows()] == ["failed", "accepted"]


def test_the_provider_gets_the_secret_in_clear_and_the_log_never_sees_it(
    ctx, make_verifier, caplog
):
    caplog.set_level(logging.DEBUG)
    make_verifier("main", options={"api_key": "sk_live_SENTINEL", "outcome": "temporary"})

    with pytest.raises(SmsNotSent):
        send("main")

    assert SENT[0].options["api_key"] == "sk_live_SENTINEL"
    assert "SENTINEL" not in caplog.text
    for row in db.session.execute(select(SmsLogEntry.__table__)):
        assert "SENTINEL" not in str(tuple(row))


def test_the_file_channel_is_logged_without_a_verifier_id(app_config, request):
    app_config["sms"] = {"provider": "fake", "sender": "OpenWave", "price_per_segment": "0.05"}
    app = request.getfixturevalue("app")

    with app.app_context():
        send(None)
        [entry] = log_rows()

    assert (entry.verifier_id, entry.verifier_name, entry.cost) == (
        None,
        "poort.toml",
        Decimal("0.0500"),
    )
    assert SENT[0].message.sender == "OpenWave"
