"""sipgate: the REST sessions/sms request and every documented HTTP status."""

from __future__ import annotations

from typing import Any

import pytest

from idp.options import OptionsInvalid, validate_options
from idp.sms import SmsConfigurationError, SmsTemporaryError
from idp_sms_providers.sipgate import SipgateOptions, SipgateProvider
from tests.fakes import sipgate
from tests.fakes.fixtures import TEXT, TIMEOUT, message

# -- sipgate -----------------------------------------------------------------------------------


def send_sipgate(context, fake, msg=None, **overrides: Any):
    options = {
        "endpoint": fake.url,
        "token_id": sipgate.TOKEN_ID,
        "token": sipgate.TOKEN,
        "sms_id": sipgate.SMS_ID,
        "timeout": TIMEOUT,
        **overrides,
    }
    return SipgateProvider(options, context).send(msg or message())


def test_sipgate_request_shape(sipgate_fake, provider_context):
    receipt = send_sipgate(provider_context, sipgate_fake)
    sent = sipgate_fake.last
    assert (sent.method, sent.path, sent.content_type) == (
        "POST",
        "/v2/sessions/sms",
        "application/json",
    )
    assert sent.json == {"smsId": "s0", "recipient": "+31612345678", "message": TEXT}
    assert (receipt.raw_code, receipt.raw_meaning) == ("HTTP 204", "accepted")


@pytest.mark.parametrize(
    ("scenario", "overrides", "error", "meaning"),
    [
        ("auth_failure", {}, SmsConfigurationError, "wrong token"),
        ("balance", {}, SmsConfigurationError, "insufficient balance"),
        ("forbidden", {}, SmsConfigurationError, "no permission for this SMS extension"),
        (
            "success",
            {"sms_id": "s7"},
            SmsConfigurationError,
            "no permission for this SMS extension",
        ),
        ("bad_request", {}, SmsConfigurationError, "bad request"),
        ("server_error", {}, SmsTemporaryError, "server error"),
        ("malformed", {}, SmsTemporaryError, "unexpected answer"),
    ],
)
def test_sipgate_answers(sipgate_fake, provider_context, scenario, overrides, error, meaning):
    sipgate_fake.scenario = scenario
    with pytest.raises(error) as caught:
        send_sipgate(provider_context, sipgate_fake, **overrides)
    assert caught.value.raw_meaning == meaning


def test_sipgate_options(options_box):
    stored = validate_options(SipgateOptions, {"token_id": "t", "token": "x"}, options_box)
    assert stored["sms_id"] == "s0"
    with pytest.raises(OptionsInvalid) as caught:
        validate_options(
            SipgateOptions, {"token_id": "t", "token": "x", "sms_id": "0"}, options_box
        )
    assert set(caught.value.errors) == {"sms_id"}
