"""The webhook provider: signed requests, every answer class, signed delivery reports, and the
receiver example in docs/providers.md run against a real request."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from werkzeug.datastructures import Headers

from idp.options import OptionsInvalid, validate_options
from idp.sms import (
    CallbackRequest,
    ProviderContext,
    SmsConfigurationError,
    SmsRecipientError,
    SmsTemporaryError,
)
from idp.sms.reports import BadSignature, MalformedReport
from idp_sms_providers.webhook import WebhookOptions, WebhookProvider, secret_key, sign
from tests.fakes import webhook as wh
from tests.fakes.fixtures import TEXT, TIMEOUT, message

DOCS = Path(__file__).resolve().parents[2] / "docs" / "providers.md"


def send(fake, msg=None, **overrides: Any):
    options = {"url": fake.url + "/sms", "secret": wh.SECRET, "timeout": TIMEOUT, **overrides}
    return WebhookProvider(options, ProviderContext()).send(msg or message())


def test_request_shape_and_receipt(webhook_fake):
    receipt = send(webhook_fake)
    sent = webhook_fake.last
    assert (sent.method, sent.path, sent.content_type) == ("POST", "/sms", "application/json")
    assert sent.json == {
        "recipient": "+31612345678",
        "text": TEXT,
        "sender": "Poort",
        "reference": message().reference,
    }
    assert sent.headers["Webhook-Id"] == message().reference
    assert sent.headers["Webhook-Signature"].startswith("v1,")
    assert (receipt.raw_code, receipt.raw_meaning) == ("HTTP 200", "accepted")
    assert (receipt.provider_message_id or "").startswith("gw-")


def test_without_an_id_the_reference_is_the_message_id(webhook_fake):
    webhook_fake.scenario = "no_content"
    assert send(webhook_fake).provider_message_id == message().reference


def test_a_wrong_secret_is_refused_by_the_receiver(webhook_fake):
    with pytest.raises(SmsConfigurationError) as caught:
        send(webhook_fake, secret="another-secret-of-enough-length")
    assert caught.value.raw_meaning == "authentication failed"


@pytest.mark.parametrize(
    ("scenario", "error", "meaning"),
    [
        ("auth_failure", SmsConfigurationError, "authentication failed"),
        ("bad_request", SmsConfigurationError, "request refused"),
        ("recipient", SmsRecipientError, "recipient refused"),
        ("rate_limited", SmsTemporaryError, "rate limited"),
        ("redirect", SmsConfigurationError, "redirected"),
        ("server_error", SmsTemporaryError, "gateway error"),
        ("malformed", SmsTemporaryError, "unexpected answer"),
        ("slow", SmsTemporaryError, "timeout"),
        ("reset", SmsTemporaryError, "connection failed"),
    ],
)
def test_answers(webhook_fake, scenario, error, meaning):
    webhook_fake.scenario = scenario
    with pytest.raises(error) as caught:
        send(webhook_fake)
    assert caught.value.raw_meaning == meaning


def test_secret_key():
    assert secret_key("whsec_" + "cG9vcnQ=") == b"poort"
    assert secret_key("plain-secret-value") == b"plain-secret-value"
    assert secret_key("whsec_not base64!") == b"whsec_not base64!"


def test_options(options_box):
    with pytest.raises(OptionsInvalid) as caught:
        validate_options(WebhookOptions, {"url": "ftp://x", "secret": "short"}, options_box)
    assert set(caught.value.errors) == {"url", "secret"}


# -- the receiver example in the docs ------------------------------------------------------------


def docs_example() -> dict[str, Any]:
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## `webhook`", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    assert len(code.strip().splitlines()) <= 12, "the example is meant to stay about ten lines"
    namespace: dict[str, Any] = {}
    exec(compile(code, str(DOCS), "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace


def test_the_docs_example_verifies_a_real_request(webhook_fake):
    verify = docs_example()["verify"]
    send(webhook_fake)
    sent = webhook_fake.last
    headers = Headers(sent.headers)
    assert verify(headers, sent.body, wh.SECRET) is True
    assert verify(headers, sent.body + b" ", wh.SECRET) is False
    assert verify(headers, sent.body, "whsec_" + "b3RoZXI=") is False
    stale = Headers(sent.headers)
    stale["webhook-timestamp"] = str(int(time.time()) - 3600)
    assert verify(stale, sent.body, wh.SECRET) is False


def test_the_docs_example_with_a_plain_secret(webhook_fake):
    verify = docs_example()["verify"]
    webhook_fake.app.secret = "a-plain-shared-secret"
    send(webhook_fake, secret="a-plain-shared-secret")
    sent = webhook_fake.last
    assert verify(Headers(sent.headers), sent.body, "a-plain-shared-secret") is True


# -- delivery reports -----------------------------------------------------------------------------


def report(data: dict[str, Any], **kwargs: Any) -> CallbackRequest:
    body, headers = wh.signed_report(data, **kwargs)
    return CallbackRequest(
        method="POST",
        url="https://idp.example/sms/dlr/t",
        headers=headers,
        body=body,
        content_type="application/json",
    )


PROVIDER = WebhookProvider({"url": "https://gw.example/sms", "secret": wh.SECRET})


@pytest.mark.parametrize(
    ("status", "outcome"), [("delivered", "delivered"), ("undelivered", "undelivered")]
)
def test_signed_reports(status, outcome):
    got = PROVIDER.parse_delivery_report(
        report({"reference": "a" * 32, "status": status, "reason": "absent subscriber"})
    )
    assert got is not None
    assert (got.outcome, got.reference, got.raw_code) == (outcome, "a" * 32, status)


def test_an_intermediate_report_changes_nothing():
    assert PROVIDER.parse_delivery_report(report({"reference": "a" * 32, "status": "sent"})) is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"secret": "whsec_" + "d3Jvbmc="},
        {"timestamp": int(time.time()) - 3600},
        {"timestamp": int(time.time()) + 3600},
    ],
)
def test_wrongly_signed_or_stale_reports_are_refused(kwargs):
    with pytest.raises(BadSignature):
        PROVIDER.parse_delivery_report(
            report({"reference": "a" * 32, "status": "delivered"}, **kwargs)
        )


def test_an_unsigned_or_tampered_report_is_refused():
    good = report({"reference": "a" * 32, "status": "delivered"})
    unsigned = CallbackRequest(
        method="POST", url=good.url, body=good.body, content_type="application/json"
    )
    with pytest.raises(BadSignature):
        PROVIDER.parse_delivery_report(unsigned)
    tampered = CallbackRequest(
        method="POST",
        url=good.url,
        headers=good.headers,
        body=good.body.replace(b"delivered", b"undelivered"),
        content_type="application/json",
    )
    with pytest.raises(BadSignature):
        PROVIDER.parse_delivery_report(tampered)


@pytest.mark.parametrize(
    "data", [["a list"], {"status": "delivered"}, {"reference": "a" * 32, "status": 5}]
)
def test_malformed_reports(data):
    with pytest.raises(MalformedReport):
        PROVIDER.parse_delivery_report(report(data))


def test_a_signed_body_that_is_not_json_is_malformed():
    stamp = int(time.time())
    body = b"not json"
    headers = {
        "webhook-id": "m1",
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(wh.SECRET, "m1", stamp, body),
    }
    request = CallbackRequest(
        method="POST", url="https://x/", headers=headers, body=body, content_type="text/plain"
    )
    with pytest.raises(MalformedReport):
        PROVIDER.parse_delivery_report(request)
