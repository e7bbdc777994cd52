"""Twilio: request shape, receipt, every documented error code, status-callback signatures."""

from __future__ import annotations

import re
from typing import Any

import pytest
from werkzeug.datastructures import MultiDict

from idp.options import OptionsInvalid, validate_options
from idp.sms import (
    CallbackRequest,
    ProviderContext,
    SmsConfigurationError,
    SmsRecipientError,
    SmsTemporaryError,
)
from idp.sms.reports import BadSignature, MalformedReport
from idp_sms_providers.twilio import TwilioOptions, TwilioProvider, signature, url_variants
from tests.fakes import twilio
from tests.fakes.fixtures import TEXT, TIMEOUT, message

CALLBACK = "https://login.example.org/sms/dlr/tok_abcdefghijklmnopqrstuvwxyz012345"


def options(fake, **overrides: Any) -> dict[str, Any]:
    return {
        "endpoint": fake.url,
        "account_sid": twilio.ACCOUNT_SID,
        "auth_token": twilio.AUTH_TOKEN,
        "timeout": TIMEOUT,
        **overrides,
    }


def send(context, fake, msg=None, **overrides: Any):
    return TwilioProvider(options(fake, **overrides), context).send(msg or message())


def test_request_shape_and_receipt(twilio_fake, provider_context):
    receipt = send(provider_context, twilio_fake)
    sent = twilio_fake.last
    assert (sent.method, sent.path) == (
        "POST",
        f"/2010-04-01/Accounts/{twilio.ACCOUNT_SID}/Messages.json",
    )
    assert sent.content_type == "application/x-www-form-urlencoded"
    assert sent.headers["Accept"] == "application/json"
    assert sent.form.to_dict() == {"To": "+31612345678", "From": "Poort", "Body": TEXT}
    assert re.fullmatch(r"SM[0-9a-f]{32}", receipt.provider_message_id or "")
    assert (receipt.raw_code, receipt.raw_meaning, receipt.segments) == ("HTTP 201", "queued", 1)


def test_the_status_callback_goes_with_the_message(twilio_fake, recording_session, tmp_path):
    context = ProviderContext(
        session=recording_session, instance_path=tmp_path, callback_url=CALLBACK
    )
    send(context, twilio_fake)
    assert twilio_fake.last.form["StatusCallback"] == CALLBACK


def test_a_messaging_service_replaces_the_sender(twilio_fake, provider_context):
    receipt = send(provider_context, twilio_fake, messaging_service_sid=twilio.SERVICE_SID)
    form = twilio_fake.last.form
    assert form["MessagingServiceSid"] == twilio.SERVICE_SID and "From" not in form
    assert receipt.raw_meaning == "accepted"
    assert receipt.segments is None  # "0" until the service picked a sender


def test_no_sender_is_a_configuration_error(twilio_fake, provider_context):
    with pytest.raises(SmsConfigurationError, match="sender"):
        send(provider_context, twilio_fake, message(sender=None))
    assert twilio_fake.requests == []


@pytest.mark.parametrize(
    ("scenario", "error", "raw_code", "meaning"),
    [
        ("auth_failure", SmsConfigurationError, "20003", "authentication failed"),
        ("error:20404", SmsConfigurationError, "20404", "resource not found"),
        ("error:20429", SmsTemporaryError, "20429", "too many concurrent requests"),
        ("error:21211", SmsRecipientError, "21211", "invalid To number"),
        ("error:21408", SmsConfigurationError, "21408", "sending to this country is not enabled"),
        ("error:21606", SmsConfigurationError, "21606", "From number cannot send SMS"),
        (
            "error:21608",
            SmsConfigurationError,
            "21608",
            "trial account: the number is not verified",
        ),
        ("error:21610", SmsRecipientError, "21610", "recipient unsubscribed (replied STOP)"),
        ("error:21614", SmsRecipientError, "21614", "To is not a mobile number"),
        ("error:21617", SmsConfigurationError, "21617", "message body too long"),
        ("error:21635", SmsRecipientError, "21635", "To is a landline"),
        ("error:21265", SmsRecipientError, "21265", "phone number refused"),
        ("error:30001", SmsConfigurationError, "30001", "request refused"),
        ("problem:21211", SmsRecipientError, "21211", "invalid To number"),
        ("problem:20003", SmsConfigurationError, "20003", "authentication failed"),
    ],
)
def test_error_codes(twilio_fake, provider_context, scenario, error, raw_code, meaning):
    twilio_fake.scenario = scenario
    with pytest.raises(error) as caught:
        send(provider_context, twilio_fake)
    assert (caught.value.raw_code, caught.value.raw_meaning) == (raw_code, meaning)
    assert caught.value.provider == "twilio"


def test_throttling_carries_retry_after(twilio_fake, provider_context):
    twilio_fake.scenario = "error:20429"
    with pytest.raises(SmsTemporaryError) as caught:
        send(provider_context, twilio_fake)
    assert caught.value.retry_after == 2


@pytest.mark.parametrize(
    ("scenario", "raw_code"), [("server_error", "HTTP 500"), ("malformed", "HTTP 201")]
)
def test_server_errors_and_unreadable_answers_are_temporary(
    twilio_fake, provider_context, scenario, raw_code
):
    twilio_fake.scenario = scenario
    with pytest.raises(SmsTemporaryError) as caught:
        send(provider_context, twilio_fake)
    assert caught.value.raw_code == raw_code


def test_a_wrong_account_sid_is_refused(twilio_fake, provider_context):
    with pytest.raises(SmsConfigurationError) as caught:
        send(provider_context, twilio_fake, account_sid="AC" + "0" * 32)
    assert caught.value.raw_code == "20003"


def test_options(options_box):
    good = {"account_sid": twilio.ACCOUNT_SID, "auth_token": "t" * 32}
    stored = validate_options(TwilioOptions, good, options_box)
    assert stored["endpoint"] == "https://api.twilio.com"
    with pytest.raises(OptionsInvalid) as caught:
        validate_options(
            TwilioOptions,
            {**good, "account_sid": "SK123", "messaging_service_sid": "x"},
            options_box,
        )
    assert set(caught.value.errors) == {"account_sid", "messaging_service_sid"}


# -- status callbacks -------------------------------------------------------------------------


def callback(
    params: dict[str, str], url: str = CALLBACK, sig: str | None = None
) -> CallbackRequest:
    return CallbackRequest(
        method="POST",
        url=url,
        headers={"X-Twilio-Signature": sig if sig is not None else twilio.sign(url, params)},
        form=MultiDict(params),
        body=b"",
        content_type="application/x-www-form-urlencoded",
    )


def provider() -> TwilioProvider:
    return TwilioProvider({"account_sid": twilio.ACCOUNT_SID, "auth_token": twilio.AUTH_TOKEN})


SID = "SM" + "ab" * 16


def test_signature_matches_twilios_algorithm():
    params = twilio.status_callback(SID)
    assert signature(twilio.AUTH_TOKEN, CALLBACK, MultiDict(params)) == twilio.sign(
        CALLBACK, params
    )


@pytest.mark.parametrize(
    ("status", "code", "outcome", "reason"),
    [
        ("delivered", None, "delivered", "delivered"),
        ("undelivered", "30003", "undelivered", "destination handset unreachable"),
        ("failed", "30006", "undelivered", "landline or unreachable carrier"),
        ("undelivered", "30999", "undelivered", "undelivered (error 30999)"),
    ],
)
def test_final_statuses_are_reports(status, code, outcome, reason):
    report = provider().parse_delivery_report(callback(twilio.status_callback(SID, status, code)))
    assert report is not None
    assert (report.outcome, report.provider_message_id, report.reason) == (outcome, SID, reason)


@pytest.mark.parametrize("status", ["queued", "sending", "sent", "accepted"])
def test_intermediate_statuses_change_nothing(status):
    assert provider().parse_delivery_report(callback(twilio.status_callback(SID, status))) is None


def test_a_signature_over_the_url_with_its_default_port_is_accepted():
    params = twilio.status_callback(SID)
    with_port = CALLBACK.replace("login.example.org", "login.example.org:443")
    signed_with_port = twilio.sign(with_port, params)
    assert provider().parse_delivery_report(callback(params, sig=signed_with_port)) is not None
    assert with_port in url_variants(CALLBACK) and CALLBACK in url_variants(with_port)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: (p, ""),  # no signature
        lambda p: (p, twilio.sign(CALLBACK, p, token="another-token")),
        lambda p: ({**p, "MessageStatus": "failed"}, twilio.sign(CALLBACK, p)),  # tampered
        lambda p: (p, twilio.sign(CALLBACK + "x", p)),  # another address
    ],
)
def test_a_wrong_signature_is_refused(mutate):
    params, sig = mutate(twilio.status_callback(SID))
    with pytest.raises(BadSignature):
        provider().parse_delivery_report(callback(params, sig=sig))


def test_a_callback_without_a_message_sid_is_malformed():
    params = {"MessageStatus": "delivered", "AccountSid": twilio.ACCOUNT_SID}
    with pytest.raises(MalformedReport):
        provider().parse_delivery_report(callback(params))
