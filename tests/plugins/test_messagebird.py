"""MessageBird: request shape, receipt with segments, every error code, options."""

from __future__ import annotations

import re
from typing import Any

import pytest

from idp.options import OptionsInvalid, is_sealed, validate_options
from idp.sms import SmsConfigurationError, SmsRecipientError, SmsTemporaryError
from idp_sms_providers.messagebird import DEFAULT_ENDPOINT, MessageBirdOptions, MessageBirdProvider
from tests.fakes import messagebird as mb
from tests.fakes.fixtures import TEXT, TIMEOUT, message


def send(context, fake, msg=None, **overrides: Any):
    options = {"endpoint": fake.url, "access_key": mb.ACCESS_KEY, "timeout": TIMEOUT, **overrides}
    return MessageBirdProvider(options, context).send(msg or message())


def test_request_shape_and_receipt(messagebird_fake, provider_context):
    receipt = send(provider_context, messagebird_fake)
    sent = messagebird_fake.last
    assert (sent.method, sent.path) == ("POST", "/messages")
    assert sent.headers["Authorization"] == f"AccessKey {mb.ACCESS_KEY}"
    assert sent.headers["Accept"] == "application/json"
    assert sent.content_type == "application/json"
    assert sent.json == {
        "originator": "Poort",
        "recipients": ["31612345678"],
        "body": TEXT,
        "reference": message().reference,
        "datacoding": "auto",
    }
    assert re.match(r"^[0-9a-f]{32}$", receipt.provider_message_id or "")
    assert (receipt.raw_code, receipt.raw_meaning, receipt.segments) == ("HTTP 201", "accepted", 1)


def test_segments_come_from_message_part_count(messagebird_fake, provider_context):
    receipt = send(provider_context, messagebird_fake, message(text="é" * 161))
    assert receipt.segments == 2


def test_endpoint_with_a_trailing_slash(messagebird_fake, provider_context):
    send(provider_context, messagebird_fake, endpoint=messagebird_fake.url + "/")
    assert messagebird_fake.last.path == "/messages"


@pytest.mark.parametrize(
    ("scenario", "error", "raw_code", "meaning"),
    [
        ("auth_failure", SmsConfigurationError, "2", "request not allowed (incorrect access key)"),
        ("error:9:originator", SmsConfigurationError, "9", "missing parameters (originator)"),
        ("error:10:recipients", SmsRecipientError, "10", "invalid parameters (recipients)"),
        ("error:10:originator", SmsConfigurationError, "10", "invalid parameters (originator)"),
        ("error:10:body", SmsConfigurationError, "10", "invalid parameters (body)"),
        ("error:20", SmsConfigurationError, "20", "not found"),
        ("error:21", SmsConfigurationError, "21", "bad request"),
        ("error:25", SmsConfigurationError, "25", "not enough balance"),
        ("error:98", SmsConfigurationError, "98", "API endpoint not found"),
        ("error:99", SmsTemporaryError, "99", "internal error"),
        ("error:100", SmsTemporaryError, "100", "service unavailable"),
        ("server_error", SmsTemporaryError, "HTTP 500", "server error"),
        ("malformed", SmsTemporaryError, "HTTP 201", "unexpected answer"),
        ("slow", SmsTemporaryError, None, "timeout"),
        ("reset", SmsTemporaryError, None, "connection failed"),
    ],
)
def test_every_error(messagebird_fake, provider_context, scenario, error, raw_code, meaning):
    messagebird_fake.scenario = scenario
    with pytest.raises(error) as info:
        send(provider_context, messagebird_fake)
    assert type(info.value) is error
    assert (info.value.raw_code, info.value.raw_meaning) == (raw_code, meaning)
    assert info.value.provider == "messagebird"


def test_a_wrong_key_and_a_long_originator_are_refused_by_the_fake(
    messagebird_fake, provider_context
):
    with pytest.raises(SmsConfigurationError) as info:
        send(provider_context, messagebird_fake, access_key="live_wrong")
    assert info.value.raw_code == "2"
    with pytest.raises(SmsConfigurationError) as info:
        send(provider_context, messagebird_fake, message(sender="PoortLoginService"))
    assert info.value.raw_meaning == "invalid parameters (originator)"


def test_no_sender_is_refused_before_sending(messagebird_fake, provider_context):
    with pytest.raises(SmsConfigurationError):
        send(provider_context, messagebird_fake, message(sender=None))
    assert messagebird_fake.requests == []


def test_two_sends_share_the_context_session(messagebird_fake, provider_context, recording_session):
    recording_session.headers["X-Session-Marker"] = "one-session"
    provider = MessageBirdProvider(
        {"endpoint": messagebird_fake.url, "access_key": mb.ACCESS_KEY}, provider_context
    )
    provider.send(message())
    provider.send(message())
    assert len(recording_session.calls) == 2
    markers = [r.headers.get("X-Session-Marker") for r in messagebird_fake.requests]
    assert markers == ["one-session", "one-session"]


def test_options_validate_with_the_default_endpoint(options_box):
    stored = validate_options(MessageBirdOptions, {"access_key": "live_abc"}, options_box)
    assert stored["endpoint"] == DEFAULT_ENDPOINT
    assert is_sealed(stored["access_key"])


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({}, "access_key"),
        ({"access_key": "k", "endpoint": "rest.messagebird.com"}, "endpoint"),
        ({"access_key": "k", "endpoint": ""}, "endpoint"),
        ({"access_key": "k", "timeout": -1}, "timeout"),
        ({"access_key": "k", "originator": "Poort"}, "originator"),  # the sender is the verifier's
    ],
)
def test_bad_options_are_refused_with_the_field_named(options_box, values, field):
    with pytest.raises(OptionsInvalid) as info:
        validate_options(MessageBirdOptions, values, options_box)
    assert field in info.value.errors
