"""Spryng: the three APIs chosen by the endpoint, the whole return-code table, request shapes."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from idp.options import OptionsInvalid, is_sealed, validate_options
from idp.sms import (
    SmsConfigurationError,
    SmsRecipientError,
    SmsTemporaryError,
)
from idp_sms_providers.spryng import LEGACY, REST, SIMPLE, SpryngOptions, SpryngProvider, api_of
from tests.fakes import spryng
from tests.fakes.fixtures import TEXT, TIMEOUT, message

LEGACY_PATH, SIMPLE_PATH, REST_PATH = "/api/send.php", "/api/simple/message", "/v1/messages"

#: The OpenWave table: code, meaning, class.
TABLE = [
    ("100", "missing parameter", SmsConfigurationError),
    ("101", "username too long", SmsConfigurationError),
    ("102", "username too short", SmsConfigurationError),
    ("103", "password too short", SmsConfigurationError),
    ("104", "password too long", SmsConfigurationError),
    ("105", "destination too short", SmsRecipientError),
    ("106", "destination too long", SmsRecipientError),
    ("107", "sender too long", SmsConfigurationError),
    ("108", "sender too short", SmsConfigurationError),
    ("109", "body too long", SmsConfigurationError),
    ("110", "body too short", SmsConfigurationError),
    ("200", "security error", SmsConfigurationError),
    ("201", "unknown route", SmsConfigurationError),
    ("202", "route access violation", SmsConfigurationError),
    ("203", "insufficient credits", SmsConfigurationError),
    ("800", "technical error", SmsTemporaryError),
]


def options(fake, path: str, **overrides: Any) -> dict[str, Any]:
    values = {
        "endpoint": fake.url + path,
        "username": spryng.USERNAME,
        "password": spryng.API_KEY if path == REST_PATH else spryng.PASSWORD,
        "route": "business",
        "allow_long": True,
        "timeout": TIMEOUT,
    }
    values.update(overrides)
    return values


def send(context, fake, path: str, msg=None, **overrides: Any):
    return SpryngProvider(options(fake, path, **overrides), context).send(msg or message())


# -- the endpoint chooses the API -----------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "api"),
    [
        ("https://api.spryngsms.com/api/send.php", LEGACY),  # OpenWave's first example
        ("https://rest.spryngsms.com/api/simple/message", SIMPLE),  # and its second
        ("https://rest.spryngsms.com/v1/messages", REST),
        ("https://www.spryng.nl/send.php", LEGACY),
        ("http://127.0.0.1:8080/api/simple/message/", SIMPLE),
        ("https://rest.spryngsms.com/v1/balance", None),
    ],
)
def test_api_of_endpoint(endpoint, api):
    assert api_of(endpoint) == api


@pytest.mark.parametrize(
    "endpoint",
    ["https://api.spryngsms.com/api/send.php", "https://rest.spryngsms.com/api/simple/message"],
)
def test_openwave_settings_validate(options_box, endpoint):
    stored = validate_options(
        SpryngOptions,
        {"endpoint": endpoint, "username": "openwave", "password": "s3cret-pass"},
        options_box,
    )
    assert stored["endpoint"] == endpoint
    assert is_sealed(stored["password"])
    assert stored["route"] == "business" and stored["allow_long"] is True


def test_rest_needs_no_username(options_box):
    stored = validate_options(
        SpryngOptions,
        {"endpoint": "https://rest.spryngsms.com/v1/messages", "password": "api-key"},
        options_box,
    )
    assert stored["username"] in (None, "")


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"endpoint": "https://rest.spryngsms.com/v2/messages"}, "endpoint"),
        ({"endpoint": "api.spryngsms.com/api/send.php"}, "endpoint"),
        ({"password": ""}, "password"),
        ({"username": ""}, "username"),
        ({"username": "a"}, "username"),
        ({"username": "x" * 33}, "username"),
        ({"route": "express"}, "route"),
        ({"timeout": 120}, "timeout"),
    ],
)
def test_bad_options_are_refused_with_the_field_named(options_box, values, field):
    base = {
        "endpoint": "https://api.spryngsms.com/api/send.php",
        "username": "openwave",
        "password": "s3cret-pass",
    }
    with pytest.raises(OptionsInvalid) as info:
        validate_options(SpryngOptions, {**base, **values}, options_box)
    assert field in info.value.errors


# -- legacy send.php --------------------------------------------------------------------


def test_legacy_request_shape_and_receipt(spryng_fake, provider_context):
    receipt = send(provider_context, spryng_fake, LEGACY_PATH)
    sent = spryng_fake.last
    assert (sent.method, sent.path, sent.content_type) == (
        "POST",
        LEGACY_PATH,
        "application/x-www-form-urlencoded",
    )
    assert sent.form.to_dict() == {
        "OPERATION": "send",
        "USERNAME": spryng.USERNAME,
        "PASSWORD": spryng.PASSWORD,
        "DESTINATION": "31612345678",
        "SENDER": "Poort",
        "BODY": TEXT,
        "ROUTE": "BUSINESS",
        "ALLOWLONG": "1",
        "REFERENCE": message().reference,
    }
    assert (receipt.raw_code, receipt.raw_meaning) == ("1", "received")
    assert receipt.provider_message_id == message().reference  # reports come back by REFERENCE


def test_legacy_accepts_the_old_01(spryng_fake, provider_context):
    spryng_fake.scenario = "01"
    assert send(provider_context, spryng_fake, LEGACY_PATH).raw_code == "1"


@pytest.mark.parametrize("path", [LEGACY_PATH, SIMPLE_PATH])
@pytest.mark.parametrize(("code", "meaning", "error"), TABLE, ids=[row[0] for row in TABLE])
def test_the_whole_code_table(spryng_fake, provider_context, path, code, meaning, error):
    spryng_fake.scenario = code
    with pytest.raises(error) as info:
        send(provider_context, spryng_fake, path)
    assert type(info.value) is error
    assert (info.value.raw_code, info.value.raw_meaning) == (code, meaning)
    assert info.value.provider == "spryng"
    assert code in str(info.value)


@pytest.mark.parametrize(
    ("overrides", "msg", "code"),
    [
        ({"password": "wrong-password"}, None, "200"),
        ({"username": "x" * 33}, None, "101"),
        ({"username": "x"}, None, "102"),
        ({"password": "abc"}, None, "103"),
        ({"password": "p" * 33}, None, "104"),
        ({}, message(recipient="+316"), "105"),
        ({}, message(recipient="+3161234567890123"), "106"),
        ({}, message(sender="PoortLoginService"), "107"),
        ({}, message(text=""), "110"),
        ({"allow_long": False}, message(text="x" * 161), "109"),
        ({}, message(text="x" * 613), "109"),
        ({"route": "7x"}, None, "201"),
    ],
)
def test_the_fake_refuses_like_spryng(spryng_fake, provider_context, overrides, msg, code):
    with pytest.raises(Exception) as info:
        send(provider_context, spryng_fake, LEGACY_PATH, msg, **overrides)
    assert info.value.raw_code == code


def test_long_messages_pass_when_allowed(spryng_fake, provider_context):
    send(provider_context, spryng_fake, LEGACY_PATH, message(text="x" * 400), allow_long=True)
    assert spryng_fake.last.form["ALLOWLONG"] == "1"


@pytest.mark.parametrize("path", [LEGACY_PATH, SIMPLE_PATH, REST_PATH])
@pytest.mark.parametrize(
    ("scenario", "error", "meaning"),
    [
        ("malformed", SmsTemporaryError, "unexpected answer"),
        ("server_error", SmsTemporaryError, "server error"),
        ("not_found", SmsConfigurationError, "wrong endpoint"),
        ("slow", SmsTemporaryError, "timeout"),
        ("reset", SmsTemporaryError, "connection failed"),
    ],
)
def test_transport_and_garbage(spryng_fake, provider_context, path, scenario, error, meaning):
    spryng_fake.scenario = scenario
    with pytest.raises(error) as info:
        send(provider_context, spryng_fake, path)
    assert info.value.raw_meaning == meaning


def test_no_sender_is_refused_before_sending(spryng_fake, provider_context):
    with pytest.raises(SmsConfigurationError):
        send(provider_context, spryng_fake, LEGACY_PATH, message(sender=None))
    assert spryng_fake.requests == []


# -- the simple endpoint ------------------------------------------------------------------


def test_simple_request_shape(spryng_fake, provider_context):
    receipt = send(provider_context, spryng_fake, SIMPLE_PATH, route="economy")
    sent = spryng_fake.last
    assert sent.form.to_dict() == {
        "username": spryng.USERNAME,
        "password": spryng.PASSWORD,
        "destination": "31612345678",
        "sender": "Poort",
        "body": TEXT,
        "route": "economy",
        "reference": message().reference,
    }
    assert receipt.raw_meaning == "received"


@pytest.mark.parametrize(
    ("scenario", "error", "raw_code"),
    [
        ("auth_failure", SmsConfigurationError, "HTTP 401"),
        ("unprocessable", SmsConfigurationError, "HTTP 422"),
        ("rate_limited", SmsTemporaryError, "HTTP 429"),
    ],
)
def test_simple_statuses(spryng_fake, provider_context, scenario, error, raw_code):
    spryng_fake.scenario = scenario
    with pytest.raises(error) as info:
        send(provider_context, spryng_fake, SIMPLE_PATH)
    assert info.value.raw_code == raw_code
    if scenario == "rate_limited":
        assert info.value.retry_after == 30


# -- REST v1 ------------------------------------------------------------------------------


def test_rest_request_shape_and_receipt(spryng_fake, provider_context):
    receipt = send(provider_context, spryng_fake, REST_PATH)
    sent = spryng_fake.last
    assert sent.headers["Authorization"] == f"Bearer {spryng.API_KEY}"
    assert sent.content_type == "application/json"
    assert sent.json == {
        "body": TEXT,
        "originator": "Poort",
        "recipients": ["31612345678"],
        "route": "business",
        "reference": message().reference,
        "encoding": "plain",
    }
    assert uuid.UUID(receipt.provider_message_id or "")
    assert receipt.raw_meaning == "accepted (1 credits)"


def test_rest_sends_unicode_text_as_unicode(spryng_fake, provider_context):
    send(provider_context, spryng_fake, REST_PATH, message(text="Uw code: 918273 ✅"))
    assert spryng_fake.last.json["encoding"] == "unicode"


@pytest.mark.parametrize(
    ("scenario", "error", "raw_code"),
    [
        ("auth_failure", SmsConfigurationError, "HTTP 401"),
        ("unprocessable_recipient", SmsRecipientError, "HTTP 422"),
        ("unprocessable", SmsConfigurationError, "HTTP 422"),
        ("rate_limited", SmsTemporaryError, "HTTP 429"),
    ],
)
def test_rest_statuses(spryng_fake, provider_context, scenario, error, raw_code):
    spryng_fake.scenario = scenario
    with pytest.raises(error) as info:
        send(provider_context, spryng_fake, REST_PATH)
    assert type(info.value) is error
    assert info.value.raw_code == raw_code


def test_rest_refuses_a_wrong_key_and_a_bad_number(spryng_fake, provider_context):
    with pytest.raises(SmsConfigurationError):
        send(provider_context, spryng_fake, REST_PATH, password="not-the-key")
    with pytest.raises(SmsRecipientError):
        send(provider_context, spryng_fake, REST_PATH, message(recipient="+31"))


# -- the session ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [LEGACY_PATH, SIMPLE_PATH, REST_PATH])
def test_two_sends_share_the_context_session(
    spryng_fake, provider_context, recording_session, path
):
    recording_session.headers["X-Session-Marker"] = "one-session"
    provider = SpryngProvider(options(spryng_fake, path), provider_context)
    provider.send(message())
    provider.send(message())
    assert len(recording_session.calls) == 2
    assert all(r.headers.get("X-Session-Marker") == "one-session" for r in spryng_fake.requests)
    assert len(spryng_fake.requests) == 2


def test_the_fake_balance_endpoints_check_credentials(spryng_fake, recording_session):
    check = f"{spryng_fake.url}/api/check.php"
    good = {"USERNAME": spryng.USERNAME, "PASSWORD": spryng.PASSWORD}
    assert recording_session.get(check, params=good).text == "123.45"
    assert recording_session.get(check, params={**good, "PASSWORD": "wrong!"}).text == "-1"
    balance = f"{spryng_fake.url}/v1/balance"
    headers = {"Authorization": f"Bearer {spryng.API_KEY}"}
    assert recording_session.get(balance, headers=headers).json() == {"amount": 42.0}
    assert recording_session.get(balance).status_code == 401
