"""Delivery reports end to end: a message goes out through a provider's fake, the fake's report
comes back to /sms/dlr/<token>, and the message-log row moves, once.

Bad tokens get 404, bad signatures 403, malformed callbacks 400; unknown message ids,
intermediate statuses and replays are acknowledged and change nothing; nothing is a 500.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp import state
from idp.extensions import db
from idp.models import SmsLogEntry, Verifier
from idp.plugins import Registry, from_classes
from idp.sms.reports import DeliveryReport
from idp.verification import delivery_reports, dispatch, message_log
from idp.verification.resolution import resolve
from idp_password import PasswordMethod
from idp_sms_providers.clickatell import ClickatellProvider
from idp_sms_providers.gtx import GtxProvider
from idp_sms_providers.messagebird import MessageBirdProvider
from idp_sms_providers.smpp import SmppProvider
from idp_sms_providers.spryng import SpryngProvider
from idp_sms_providers.twilio import TwilioProvider
from idp_sms_providers.vonage import VonageProvider
from idp_sms_providers.webhook import WebhookProvider
from tests.fakes import clickatell as ct
from tests.fakes import gtx, reports, smsc, spryng, twilio, vonage
from tests.fakes import messagebird as mb
from tests.fakes import webhook as wh
from tests.fakes.clickatell import ClickatellFake
from tests.fakes.gtx import GtxFake
from tests.fakes.http_server import FakeHttpServer
from tests.fakes.messagebird import MessageBirdFake
from tests.fakes.smsc import SmscFake
from tests.fakes.spryng import SpryngFake
from tests.fakes.twilio import TwilioFake
from tests.fakes.vonage import VonageFake
from tests.fakes.webhook import WebhookReceiverFake

PHONE = "+31612345678"
CODE = "482913"
TEXT = f"Your Poort login code is {CODE}."
BASE = "https://localhost"  # the test app's issuer: report addresses live there


@pytest.fixture
def registry() -> Registry:
    return from_classes(
        PasswordMethod,
        SpryngProvider,
        MessageBirdProvider,
        TwilioProvider,
        VonageProvider,
        ClickatellProvider,
        WebhookProvider,
        SmppProvider,
        GtxProvider,
    )


@pytest.fixture
def fakes(clock) -> Iterator[SimpleNamespace]:
    receiver = WebhookReceiverFake()
    receiver.now = lambda: clock().timestamp()  # the app signs with its (fake) clock
    apps = {
        "spryng": SpryngFake(),
        "messagebird": MessageBirdFake(),
        "twilio": TwilioFake(),
        "vonage": VonageFake(),
        "clickatell": ClickatellFake(),
        "webhook": receiver,
        "gtx": GtxFake(),
    }
    with ExitStack() as stack:
        servers = {name: stack.enter_context(FakeHttpServer(app)) for name, app in apps.items()}
        servers["smsc"] = stack.enter_context(SmscFake())
        yield SimpleNamespace(**servers)


@pytest.fixture
def ctx(app: Flask, clock) -> Iterator[None]:
    with app.app_context():
        s = state.current()
        session = requests.Session()
        session.trust_env = False  # loopback fakes; no proxy of the machine in between
        s._local.http = session
        yield
        s.sms_connections.close()
        session.close()


def options_for(provider: str, fakes: SimpleNamespace) -> dict[str, Any]:
    return {
        "spryng": {
            "endpoint": fakes.spryng.url + "/api/simple/message",
            "username": spryng.USERNAME,
            "password": spryng.PASSWORD,
            "timeout": 2,
        },
        "messagebird": {"endpoint": fakes.messagebird.url, "access_key": mb.ACCESS_KEY},
        "twilio": {
            "endpoint": fakes.twilio.url,
            "account_sid": twilio.ACCOUNT_SID,
            "auth_token": twilio.AUTH_TOKEN,
        },
        "vonage": {
            "endpoint": fakes.vonage.url,
            "api_key": vonage.API_KEY,
            "api_secret": vonage.API_SECRET,
        },
        "clickatell": {"endpoint": fakes.clickatell.url, "api_key": ct.API_KEY},
        "webhook": {"url": fakes.webhook.url + "/sms", "secret": wh.SECRET},
        "smpp": {
            "host": "127.0.0.1",
            "port": fakes.smsc.port,
            "system_id": smsc.SYSTEM_ID,
            "password": smsc.PASSWORD,
            "bind_mode": "transceiver",
        },
        "gtx": {"endpoint": fakes.gtx.url, "user": gtx.USER, "password": gtx.PASSWORD},
    }[provider]


@pytest.fixture
def verifier(make_verifier, fakes) -> Callable[[str], Verifier]:
    def make(provider: str) -> Verifier:
        return make_verifier(provider, provider=provider, options=options_for(provider, fakes))

    return make


def send(name: str) -> SmsLogEntry:
    return dispatch.send(
        resolve(name), recipient=PHONE, text=TEXT, purpose="login", code=CODE
    ).entry


def row(entry_id: int) -> SmsLogEntry:
    db.session.expire_all()
    found = db.session.get(SmsLogEntry, entry_id)
    assert found is not None
    return found


def call(client: FlaskClient, token: str, method: str = "GET", **kwargs: Any):
    return client.open(f"/sms/dlr/{token}", method=method, base_url=BASE, **kwargs)


# -- each reporting provider: its fake's report updates the log -------------------------------


def test_spryng(ctx, client, verifier, clock):
    v = verifier("spryng")
    entry = send("spryng")
    answer = call(client, v.report_token, query_string=reports.spryng_rest(entry.reference))
    assert answer.status_code == 200
    got = row(entry.id)
    assert (got.status, got.raw_code, got.delivered_at) == ("delivered", "10", clock())


def test_spryng_legacy_not_delivered(ctx, client, verifier):
    v = verifier("spryng")
    entry = send("spryng")
    query = reports.spryng_legacy(entry.reference, "Not Delivered")
    assert call(client, v.report_token, query_string=query).status_code == 200
    assert (row(entry.id).status, row(entry.id).delivered_at) == ("undelivered", None)


def test_spryng_reason_code(ctx, client, verifier):
    v = verifier("spryng")
    entry = send("spryng")
    query = reports.spryng_rest(entry.reference, "20", "21")
    assert call(client, v.report_token, query_string=query).status_code == 200
    assert (row(entry.id).status, row(entry.id).raw_meaning) == ("undelivered", "number incorrect")


def test_messagebird(ctx, client, verifier):
    v = verifier("messagebird")
    entry = send("messagebird")
    query = reports.messagebird(entry.provider_message_id, entry.reference, "delivery_failed")
    assert call(client, v.report_token, query_string=query).status_code == 200
    assert (row(entry.id).status, row(entry.id).raw_meaning) == ("undelivered", "delivery failed")


def test_twilio_signed_status_callback(ctx, client, verifier, fakes):
    v = verifier("twilio")
    entry = send("twilio")
    url = f"{BASE}/sms/dlr/{v.report_token}"
    assert fakes.twilio.last.form["StatusCallback"] == url  # sent with the message
    params = twilio.status_callback(entry.provider_message_id, "undelivered", "30003")
    headers = {"X-Twilio-Signature": twilio.sign(url, params)}
    assert call(client, v.report_token, "POST", data=params, headers=headers).status_code == 200
    got = row(entry.id)
    assert (got.status, got.raw_code, got.raw_meaning) == (
        "undelivered",
        "30003",
        "destination handset unreachable",
    )


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_vonage(ctx, client, verifier, fakes, method):
    v = verifier("vonage")
    entry = send("vonage")
    assert fakes.vonage.last.form["client-ref"] == entry.reference
    fields = vonage.receipt(entry.provider_message_id, client_ref=entry.reference)
    if method == "GET":
        answer = call(client, v.report_token, query_string=fields)
    else:
        answer = call(client, v.report_token, "POST", data=fields)
    assert answer.status_code == 200
    assert row(entry.id).status == "delivered"


def test_clickatell(ctx, client, verifier):
    v = verifier("clickatell")
    entry = send("clickatell")
    body = ct.callback(entry.provider_message_id, client_message_id=entry.reference)
    assert call(client, v.report_token, "POST", json=body).status_code == 200
    assert (row(entry.id).status, row(entry.id).raw_code) == ("delivered", "004")


def test_webhook(ctx, client, verifier, clock):
    v = verifier("webhook")
    entry = send("webhook")
    body, headers = wh.signed_report(
        {"reference": entry.reference, "status": "delivered"},
        timestamp=int(clock().timestamp()),
    )
    answer = call(client, v.report_token, "POST", data=body, headers=headers)
    assert answer.status_code == 200
    assert row(entry.id).status == "delivered"


def test_smpp_receipt_over_the_transceiver_bind(ctx, verifier, fakes):
    verifier("smpp")
    entry = send("smpp")
    assert fakes.smsc.binds[-1].command == smsc.BIND_TRANSCEIVER
    state.current().sms_connections.keepalive()  # what the keeper does: read the receipt
    got = row(entry.id)
    assert (got.status, got.raw_code) == ("delivered", "DELIVRD:000")
    # the connection stayed bound for the next message
    send("smpp")
    assert len(fakes.smsc.binds) == 1


# -- what must change nothing -----------------------------------------------------------------


def test_unknown_and_malformed_tokens_are_404(ctx, client, verifier):
    verifier("spryng")
    for token in ["x" * 43, "short", "not a token!" * 3, "a" * 200]:
        answer = call(client, token, query_string={"REFERENCE": "r", "STATUS": "10"})
        assert answer.status_code == 404, token


def test_a_provider_without_reports_has_no_address(ctx, client, verifier):
    v = verifier("gtx")
    assert v.report_token  # every verifier has one; gtx simply has nothing to report
    assert call(client, v.report_token, query_string={"status": "delivered"}).status_code == 404


def test_a_bad_signature_is_refused_and_changes_nothing(ctx, client, verifier, caplog):
    caplog.set_level(logging.INFO)
    v = verifier("twilio")
    entry = send("twilio")
    url = f"{BASE}/sms/dlr/{v.report_token}"
    params = twilio.status_callback(entry.provider_message_id, "delivered")
    bad = {"X-Twilio-Signature": twilio.sign(url, params, token="not-the-token")}
    assert call(client, v.report_token, "POST", data=params, headers=bad).status_code == 403
    assert call(client, v.report_token, "POST", data=params).status_code == 403
    assert row(entry.id).status == "accepted"
    assert "signature" in caplog.text.lower()
    assert v.report_token not in caplog.text and twilio.AUTH_TOKEN not in caplog.text


def test_a_webhook_report_with_a_wrong_signature_is_refused(ctx, client, verifier, clock):
    v = verifier("webhook")
    entry = send("webhook")
    body, headers = wh.signed_report(
        {"reference": entry.reference, "status": "delivered"},
        secret="whsec_" + "d3Jvbmc=",
        timestamp=int(clock().timestamp()),
    )
    assert call(client, v.report_token, "POST", data=body, headers=headers).status_code == 403
    assert row(entry.id).status == "accepted"


def test_an_unknown_message_is_acknowledged_and_ignored(ctx, client, verifier, caplog):
    caplog.set_level(logging.INFO)
    v = verifier("spryng")
    entry = send("spryng")
    answer = call(client, v.report_token, query_string=reports.spryng_rest("f" * 32))
    assert answer.status_code == 200
    assert row(entry.id).status == "accepted"
    assert "unknown" in caplog.text


def test_another_verifiers_message_is_unknown(ctx, client, verifier, make_verifier, fakes):
    verifier("spryng")
    other = make_verifier("spryng-two", provider="spryng", options=options_for("spryng", fakes))
    entry = send("spryng")
    query = reports.spryng_rest(entry.reference)
    assert call(client, other.report_token, query_string=query).status_code == 200
    assert row(entry.id).status == "accepted"


def test_a_replay_or_a_later_report_never_changes_a_final_row(ctx, client, verifier, clock):
    v = verifier("spryng")
    entry = send("spryng")
    query = reports.spryng_rest(entry.reference)
    assert call(client, v.report_token, query_string=query).status_code == 200
    first = row(entry.id)
    delivered_at = first.delivered_at
    clock.advance(minutes=5)
    assert call(client, v.report_token, query_string=query).status_code == 200
    late = reports.spryng_rest(entry.reference, "20", "22")
    assert call(client, v.report_token, query_string=late).status_code == 200
    got = row(entry.id)
    assert (got.status, got.delivered_at, got.raw_code) == ("delivered", delivered_at, "10")


def test_an_intermediate_status_changes_nothing(ctx, client, verifier):
    v = verifier("spryng")
    entry = send("spryng")
    query = reports.spryng_legacy(entry.reference, "Buffered")
    assert call(client, v.report_token, query_string=query).status_code == 200
    assert row(entry.id).status == "accepted"


def test_a_failed_attempt_is_never_made_delivered(ctx, client, verifier, fakes):
    v = verifier("spryng")
    fakes.spryng.scenario = "800"
    with pytest.raises(Exception):  # noqa: B017 - SmsNotSent; only the log row matters here
        send("spryng")
    failed = db.session.scalars(select(SmsLogEntry)).one()
    query = reports.spryng_rest(failed.reference)
    assert call(client, v.report_token, query_string=query).status_code == 200
    assert row(failed.id).status == "failed"


@pytest.mark.parametrize(
    ("provider", "method", "kwargs"),
    [
        ("spryng", "GET", {"query_string": {"STATUS": "10"}}),
        ("spryng", "GET", {"query_string": {"REFERENCE": "a b c", "STATUS": "10"}}),
        ("messagebird", "GET", {}),
        ("clickatell", "POST", {"data": b"{not json", "content_type": "application/json"}),
        ("clickatell", "POST", {"data": b"[1, 2]", "content_type": "application/json"}),
        ("clickatell", "POST", {"data": b"\xff\xfe", "content_type": "application/json"}),
        ("vonage", "POST", {"data": {"status": "delivered"}}),
        ("vonage", "POST", {"data": b"\x00\x01", "content_type": "application/json"}),
        ("webhook", "GET", {}),
        ("webhook", "POST", {"data": b"{}", "headers": {"webhook-id": "1"}}),
        ("twilio", "PUT", {}),
    ],
)
def test_malformed_callbacks_are_4xx_never_500(ctx, client, verifier, provider, method, kwargs):
    v = verifier(provider)
    entry = send(provider)
    answer = call(client, v.report_token, method, **kwargs)
    assert 400 <= answer.status_code < 500, answer.status_code
    assert row(entry.id).status == "accepted"


def test_a_signed_twilio_callback_without_a_message_sid_is_400(ctx, client, verifier):
    v = verifier("twilio")
    url = f"{BASE}/sms/dlr/{v.report_token}"
    params = {"MessageStatus": "delivered", "AccountSid": twilio.ACCOUNT_SID}
    headers = {"X-Twilio-Signature": twilio.sign(url, params)}
    assert call(client, v.report_token, "POST", data=params, headers=headers).status_code == 400


def test_a_huge_callback_is_refused(ctx, client, verifier):
    v = verifier("clickatell")
    body = json.dumps({"padding": "x" * 70_000}).encode()
    answer = call(client, v.report_token, "POST", data=body, content_type="application/json")
    assert answer.status_code == 413


def test_a_provider_that_crashes_on_a_callback_gives_400(ctx, client, verifier, monkeypatch):
    v = verifier("clickatell")

    def crash(self, request):
        raise ZeroDivisionError("a bug in a plugin")

    monkeypatch.setattr(ClickatellProvider, "parse_delivery_report", crash)
    assert call(client, v.report_token, "POST", json={}).status_code == 400


def test_the_endpoint_needs_no_csrf_token_nor_same_origin(ctx, client, verifier):
    v = verifier("clickatell")
    entry = send("clickatell")
    body = ct.callback(entry.provider_message_id)
    headers = {"Origin": "https://platform.clickatell.com", "Sec-Fetch-Site": "cross-site"}
    assert call(client, v.report_token, "POST", json=body, headers=headers).status_code == 200
    assert row(entry.id).status == "delivered"


# -- the pieces -------------------------------------------------------------------------------


def test_apply_report_is_one_conditional_update(ctx, verifier, clock):
    v = verifier("spryng")
    entry = send("spryng")
    report = DeliveryReport(outcome="undelivered", reference=entry.reference, raw_code="20:20")
    kwargs = {"verifier_id": v.id, "provider": "spryng", "now": clock()}
    assert delivery_reports.apply_report(report, **kwargs).result == delivery_reports.UPDATED
    assert delivery_reports.apply_report(report, **kwargs).result == delivery_reports.FINAL
    unknown = DeliveryReport(outcome="delivered", provider_message_id="nope")
    assert delivery_reports.apply_report(unknown, **kwargs).result == delivery_reports.UNKNOWN
    db.session.commit()


def test_old_verifiers_get_a_token_when_needed(ctx, verifier):
    v = verifier("spryng")
    v.report_token = None
    db.session.commit()
    token = delivery_reports.ensure_token(v)
    db.session.commit()
    assert len(token) == 43 and v.report_token == token
    assert delivery_reports.report_url(token) == f"{BASE}/sms/dlr/{token}"
    assert delivery_reports.report_url(None) is None


def test_delivery_rates(ctx, client, verifier, clock):
    v = verifier("spryng")
    entries = [send("spryng") for _ in range(4)]
    for entry, status in zip(entries[:3], ["10", "10", "20"], strict=True):
        call(client, v.report_token, query_string=reports.spryng_rest(entry.reference, status))
    rate = message_log.delivery_rates(clock())["spryng"]
    assert (rate.delivered, rate.undelivered, rate.pending, rate.reported) == (2, 1, 1, 3)
    assert rate.rate == pytest.approx(2 / 3)
    assert message_log.delivery_rates(clock() + timedelta(days=8)) == {}


# -- the admin panel --------------------------------------------------------------------------


def test_the_verifier_page_shows_the_address_to_paste(app, admin_client, verifier):
    with app.app_context():
        v = verifier("vonage")
        token, name = v.report_token, v.name
    page = admin_client.get(f"/admin/verifiers/{name}").get_data(as_text=True)
    assert f"/sms/dlr/{token}" in page
    assert "Delivery receipts webhook" in page  # where it goes at Vonage


def test_the_verifier_page_of_a_provider_without_reports_shows_none(app, admin_client, verifier):
    with app.app_context():
        v = verifier("gtx")
        token, name = v.report_token, v.name
    page = admin_client.get(f"/admin/verifiers/{name}").get_data(as_text=True)
    assert "/sms/dlr/" not in page and token not in page


def test_the_verifiers_list_shows_the_delivery_rate(app, admin_client, client, verifier):
    with app.app_context():
        v = verifier("spryng")
        s = state.current()
        s._local.http = requests.Session()
        s._local.http.trust_env = False
        references = [send("spryng").reference for _ in range(2)]
        token = v.report_token
    call(client, token, query_string=reports.spryng_rest(references[0]))
    page = admin_client.get("/admin/verifiers").get_data(as_text=True)
    assert "delivered 100 % of 1 reported" in page
