"""Vonage: request shape, parts, every documented status, delivery receipts and their ``sig``."""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.datastructures import MultiDict

from idp.sms import (
    CallbackRequest,
    ProviderContext,
    SmsConfigurationError,
    SmsRecipientError,
    SmsTemporaryError,
)
from idp.sms.reports import BadSignature, MalformedReport
from idp_sms_providers.vonage import VonageProvider
from tests.fakes import vonage
from tests.fakes.fixtures import TEXT, TIMEOUT, message


def send(context, fake, msg=None, **overrides: Any):
    options = {
        "endpoint": fake.url,
        "api_key": vonage.API_KEY,
        "api_secret": vonage.API_SECRET,
        "timeout": TIMEOUT,
        **overrides,
    }
    return VonageProvider(options, context).send(msg or message())


def test_request_shape_and_receipt(vonage_fake, provider_context):
    receipt = send(provider_context, vonage_fake)
    sent = vonage_fake.last
    assert (sent.method, sent.path, sent.content_type) == (
        "POST",
        "/sms/json",
        "application/x-www-form-urlencoded",
    )
    assert sent.form.to_dict() == {
        "api_key": vonage.API_KEY,
        "api_secret": vonage.API_SECRET,
        "from": "Poort",
        "to": "31612345678",
        "text": TEXT,
        "client-ref": message().reference,
    }
    assert receipt.provider_message_id and receipt.raw_code == "0" and receipt.segments == 1


def test_unicode_text_and_parts(vonage_fake, provider_context):
    receipt = send(provider_context, vonage_fake, message(text="Код " * 30))
    assert vonage_fake.last.form["type"] == "unicode"
    assert receipt.segments == 2


def test_a_numeric_sender_goes_without_plus(vonage_fake, provider_context):
    send(provider_context, vonage_fake, message(sender="+31201234567"))
    assert vonage_fake.last.form["from"] == "31201234567"


def test_the_callback_goes_with_the_message_when_short_enough(
    vonage_fake, recording_session, tmp_path
):
    short = "https://idp.example/sms/dlr/" + "a" * 43
    context = ProviderContext(session=recording_session, instance_path=tmp_path, callback_url=short)
    send(context, vonage_fake)
    assert vonage_fake.last.form["callback"] == short
    assert vonage_fake.last.form["status-report-req"] == "1"
    long = "https://" + "x" * 100 + "/sms/dlr/token"
    context = ProviderContext(session=recording_session, instance_path=tmp_path, callback_url=long)
    send(context, vonage_fake)
    assert "callback" not in vonage_fake.last.form


def test_no_sender_is_a_configuration_error(vonage_fake, provider_context):
    with pytest.raises(SmsConfigurationError):
        send(provider_context, vonage_fake, message(sender=None))


@pytest.mark.parametrize(
    ("scenario", "error", "raw_code", "meaning"),
    [
        ("auth_failure", SmsConfigurationError, "4", "invalid credentials"),
        ("status:1", SmsTemporaryError, "1", "throttled"),
        ("status:2", SmsConfigurationError, "2", "missing parameters"),
        ("status:3", SmsConfigurationError, "3", "invalid parameters"),
        ("status:3:to", SmsRecipientError, "3", "invalid to address"),
        ("status:5", SmsTemporaryError, "5", "internal error"),
        ("status:6", SmsRecipientError, "6", "invalid message (unroutable number)"),
        ("status:7", SmsRecipientError, "7", "number barred"),
        ("status:8", SmsConfigurationError, "8", "partner account barred"),
        ("status:9", SmsConfigurationError, "9", "partner quota violation (no credit)"),
        ("status:11", SmsConfigurationError, "11", "account not enabled for HTTP"),
        ("status:12", SmsConfigurationError, "12", "message too long"),
        ("status:15", SmsConfigurationError, "15", "invalid sender address"),
        ("status:29", SmsConfigurationError, "29", "non-whitelisted destination"),
        ("status:99", SmsConfigurationError, "99", "unknown status"),
        ("partial", SmsTemporaryError, "1", "throttled"),
    ],
)
def test_statuses(vonage_fake, provider_context, scenario, error, raw_code, meaning):
    vonage_fake.scenario = scenario
    with pytest.raises(error) as caught:
        send(provider_context, vonage_fake)
    assert (caught.value.raw_code, caught.value.raw_meaning) == (raw_code, meaning)
    if scenario == "partial":
        assert "some parts" in caught.value.message


@pytest.mark.parametrize("scenario", ["server_error", "malformed"])
def test_unreadable_answers_are_temporary(vonage_fake, provider_context, scenario):
    vonage_fake.scenario = scenario
    with pytest.raises(SmsTemporaryError):
        send(provider_context, vonage_fake)


# -- delivery receipts ------------------------------------------------------------------------


def receipt_request(fields: dict[str, str], method: str = "GET") -> CallbackRequest:
    data = MultiDict(fields)
    return CallbackRequest(
        method=method,
        url="https://idp.example/sms/dlr/t",
        args=data if method == "GET" else MultiDict(),
        form=data if method == "POST" else MultiDict(),
        content_type="" if method == "GET" else "application/x-www-form-urlencoded",
    )


def provider(**options: str) -> VonageProvider:
    return VonageProvider({"api_key": vonage.API_KEY, "api_secret": vonage.API_SECRET, **options})


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_delivered_receipt(method):
    report = provider().parse_delivery_report(
        receipt_request(vonage.receipt("0A0000001", client_ref="c" * 32), method)
    )
    assert report is not None
    assert (report.outcome, report.provider_message_id, report.reference) == (
        "delivered",
        "0A0000001",
        "c" * 32,
    )


def test_a_json_receipt():
    import json

    body = json.dumps(vonage.receipt("0A0000002", "failed", "6")).encode()
    request = CallbackRequest(
        method="POST", url="https://idp.example/x", body=body, content_type="application/json"
    )
    report = provider().parse_delivery_report(request)
    assert report is not None
    assert (report.outcome, report.raw_code, report.reason) == (
        "undelivered",
        "failed:6",
        "failed: anti-spam rejection",
    )


@pytest.mark.parametrize("status", ["accepted", "buffered", "unknown"])
def test_intermediate_receipts_change_nothing(status):
    assert provider().parse_delivery_report(receipt_request(vonage.receipt("0A1", status))) is None


@pytest.mark.parametrize("method", ["md5hash", "sha256"])
def test_signed_receipts(method):
    signed = provider(signature_secret=vonage.SIGNATURE_SECRET, signature_method=method)
    fields = vonage.signed(vonage.receipt("0A0000003"), method=method)
    assert signed.parse_delivery_report(receipt_request(fields)) is not None
    with pytest.raises(BadSignature):
        signed.parse_delivery_report(receipt_request({**fields, "status": "failed"}))
    with pytest.raises(BadSignature):
        signed.parse_delivery_report(receipt_request(vonage.receipt("0A0000003")))


def test_a_receipt_without_message_id_is_malformed():
    with pytest.raises(MalformedReport):
        provider().parse_delivery_report(receipt_request({"status": "delivered"}))
