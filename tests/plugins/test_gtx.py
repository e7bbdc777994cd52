"""GTX-Messaging: request shape (GET as privacyIDEA configures it, or POST) and every answer."""

from __future__ import annotations

from typing import Any

import pytest

from idp.sms import SmsConfigurationError, SmsTemporaryError
from idp_sms_providers.gtx import GtxProvider
from tests.fakes import gtx
from tests.fakes.fixtures import TEXT, TIMEOUT, message

# -- GTX ---------------------------------------------------------------------------------------


def send_gtx(context, fake, msg=None, **overrides: Any):
    options = {
        "endpoint": fake.url,
        "user": gtx.USER,
        "password": gtx.PASSWORD,
        "timeout": TIMEOUT,
        **overrides,
    }
    return GtxProvider(options, context).send(msg or message())


def test_gtx_sends_a_get_as_privacyidea_does(gtx_fake, provider_context):
    receipt = send_gtx(provider_context, gtx_fake)
    sent = gtx_fake.last
    assert (sent.method, sent.path) == ("GET", "/smsc.php")
    assert sent.query.to_dict() == {
        "user": gtx.USER,
        "pass": gtx.PASSWORD,
        "to": "31612345678",
        "from": "Poort",
        "text": TEXT,
    }
    assert receipt.raw_code == "200" and len(receipt.provider_message_id or "") == 16


def test_gtx_post_unicode_and_a_full_endpoint(gtx_fake, provider_context):
    receipt = send_gtx(
        provider_context,
        gtx_fake,
        message(text="Ваш код 918273"),
        method="POST",
        endpoint=gtx_fake.url + "/smsc.php",
    )
    sent = gtx_fake.last
    assert (sent.method, sent.path, sent.form["t"]) == ("POST", "/smsc.php", "UNICODE")
    assert receipt.raw_meaning == "OK"


def test_gtx_a_bare_ok(gtx_fake, provider_context):
    gtx_fake.scenario = "bare_ok"
    assert send_gtx(provider_context, gtx_fake).provider_message_id is None


@pytest.mark.parametrize(
    ("scenario", "error", "raw_code"),
    [
        ("auth_failure", SmsConfigurationError, "401"),
        ("bad_request", SmsConfigurationError, "400"),
        ("payment", SmsConfigurationError, "402"),
        ("status:500 Internal Server Error", SmsTemporaryError, "500"),
        ("status:999 Something", SmsTemporaryError, "HTTP 200"),
        ("server_error", SmsTemporaryError, "HTTP 500"),
        ("malformed", SmsTemporaryError, "HTTP 200"),
    ],
)
def test_gtx_answers(gtx_fake, provider_context, scenario, error, raw_code):
    gtx_fake.scenario = scenario
    with pytest.raises(error) as caught:
        send_gtx(provider_context, gtx_fake)
    assert caught.value.raw_code == raw_code
