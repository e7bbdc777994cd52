"""Clickatell Platform: request shape, per-message and request-level errors, callbacks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from idp.sms import CallbackRequest, SmsConfigurationError, SmsRecipientError, SmsTemporaryError
from idp.sms.reports import BadSignature, MalformedReport
from idp_sms_providers.clickatell import ClickatellProvider
from tests.fakes import clickatell as ct
from tests.fakes.fixtures import TEXT, TIMEOUT, message


def send(context, fake, msg=None, **overrides: Any):
    options = {"endpoint": fake.url, "api_key": ct.API_KEY, "timeout": TIMEOUT, **overrides}
    return ClickatellProvider(options, context).send(msg or message())


def test_request_shape_and_receipt(clickatell_fake, provider_context):
    receipt = send(provider_context, clickatell_fake)
    sent = clickatell_fake.last
    assert (sent.method, sent.path, sent.content_type) == ("POST", "/messages", "application/json")
    assert sent.headers["Authorization"] == ct.API_KEY  # the raw key, no "Bearer"
    assert sent.json == {
        "content": TEXT,
        "to": ["31612345678"],
        "clientMessageId": message().reference,
    }
    assert len(receipt.provider_message_id or "") == 32
    assert (receipt.raw_code, receipt.raw_meaning) == ("HTTP 202", "accepted")


def test_from_only_for_two_way_integrations(clickatell_fake, provider_context):
    send(provider_context, clickatell_fake, message(sender="+31201234567"), send_from=True)
    assert clickatell_fake.last.json["from"] == "31201234567"


@pytest.mark.parametrize(
    ("scenario", "error", "raw_code", "meaning"),
    [
        ("auth_failure", SmsConfigurationError, "1", "invalid or missing integration API key"),
        ("string_error", SmsConfigurationError, "1", "invalid or missing integration API key"),
        ("message:25", SmsRecipientError, "25", "invalid recipient address"),
        ("message:26", SmsRecipientError, "26", "recipient opted out"),
        ("message:28", SmsConfigurationError, "28", "recipient not in sandbox"),
        ("message:45", SmsConfigurationError, "45", "from number not linked to the integration"),
        ("message:999", SmsConfigurationError, "999", "message refused"),
        ("mixed", SmsRecipientError, "25", "invalid recipient address"),
        ("request:402:20", SmsConfigurationError, "20", "insufficient account balance"),
        ("request:401:7", SmsConfigurationError, "7", "IP address not approved"),
        ("request:429:43", SmsTemporaryError, "43", "rate limit"),
        ("request:400:23", SmsConfigurationError, "23", "invalid or missing parameter"),
        ("http:402", SmsConfigurationError, "HTTP 402", "no credit"),
        ("http:410", SmsRecipientError, "HTTP 410", "number blocked or unroutable"),
        ("http:429", SmsTemporaryError, "HTTP 429", "rate limited"),
        ("server_error", SmsTemporaryError, "HTTP 503", "server error"),
        ("malformed", SmsTemporaryError, "HTTP 202", "unexpected answer"),
    ],
)
def test_errors(clickatell_fake, provider_context, scenario, error, raw_code, meaning):
    clickatell_fake.scenario = scenario
    with pytest.raises(error) as caught:
        send(provider_context, clickatell_fake)
    assert (caught.value.raw_code, caught.value.raw_meaning) == (raw_code, meaning)


def test_a_bearer_prefix_is_refused_like_the_platform_does(clickatell_fake, provider_context):
    with pytest.raises(SmsConfigurationError):
        send(provider_context, clickatell_fake, api_key="Bearer " + ct.API_KEY)


# -- status callbacks -------------------------------------------------------------------------


def callback(body: dict[str, Any]) -> CallbackRequest:
    return CallbackRequest(
        method="POST",
        url="https://idp.example/sms/dlr/t",
        body=json.dumps(body).encode(),
        content_type="application/json",
    )


PROVIDER = ClickatellProvider({"api_key": ct.API_KEY})


@pytest.mark.parametrize(
    ("code", "status", "outcome", "reason"),
    [
        (4, "RECEIVED_BY_RECIPIENT", "delivered", "received by recipient"),
        (7, "ERROR_DELIVERING", "undelivered", "error delivering message"),
        (10, "EXPIRED", "undelivered", "message expired"),
        (9, "ROUTING_ERROR", "undelivered", "routing error"),
    ],
)
def test_final_callbacks(code, status, outcome, reason):
    report = PROVIDER.parse_delivery_report(
        callback(ct.callback("f" * 32, code, status, client_message_id="a" * 32))
    )
    assert report is not None
    assert (report.outcome, report.reason, report.reference) == (outcome, reason, "a" * 32)
    assert report.raw_code == f"{code:03d}"


def test_a_status_name_alone_is_enough():
    body = ct.callback("f" * 32, 4)
    del body["statusCode"]
    report = PROVIDER.parse_delivery_report(callback(body))
    assert report is not None and report.outcome == "delivered"


@pytest.mark.parametrize(("code", "status"), [(2, "QUEUED"), (3, "DELIVERED_TO_GATEWAY")])
def test_intermediate_callbacks_change_nothing(code, status):
    assert PROVIDER.parse_delivery_report(callback(ct.callback("f" * 32, code, status))) is None


def test_a_callback_for_another_integration_is_refused():
    with pytest.raises(BadSignature):
        PROVIDER.parse_delivery_report(callback(ct.callback("f" * 32, api_key="someone-else")))
    body = ct.callback("f" * 32)
    del body["apiKey"]
    with pytest.raises(BadSignature):
        PROVIDER.parse_delivery_report(callback(body))


def test_malformed_callbacks():
    with pytest.raises(MalformedReport):
        PROVIDER.parse_delivery_report(callback(ct.callback("not an id!")))
    bad_json = CallbackRequest(
        method="POST", url="https://x/", body=b"{", content_type="application/json"
    )
    with pytest.raises(MalformedReport):
        PROVIDER.parse_delivery_report(bad_json)
