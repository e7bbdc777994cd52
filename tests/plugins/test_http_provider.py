"""The generic HTTP provider: privacyIDEA's four examples, success matching, errors, options."""

from __future__ import annotations

import logging
import re
import socket
from typing import Any

import pytest
from werkzeug.datastructures import MultiDict

from idp.options import OptionsInvalid, bind_form, is_sealed, validate_options
from idp.sms import SmsConfigurationError, SmsReceipt, SmsTemporaryError
from idp_sms_providers.http import HttpOptions, HttpProvider, fill, fill_json
from tests.fakes import generic_gateways as gw
from tests.fakes.fixtures import CODE, TEXT, TIMEOUT, message

HEX32 = re.compile(r"^[0-9a-f]{32}$")


def send(context, **options: Any) -> SmsReceipt:
    options.setdefault("timeout", TIMEOUT)
    return HttpProvider(options, context).send(message())


def clickatell_legacy(fake, **overrides: Any) -> dict[str, Any]:
    """privacyIDEA's Clickatell example, as written there (only the host is ours)."""
    options = {
        "url": f"{fake.url}/http/sendmsg",
        "method": "GET",
        "return_success": "ID",
        "parameters": (
            f"user={gw.CLICKATELL_USER}\n"
            f"password={gw.CLICKATELL_PASSWORD}\n"
            f"api_id={gw.CLICKATELL_API_ID}\n"
            "text=Your OTP value is {otp}\n"
            "to={phone}"
        ),
        "phone_format": "digits",
    }
    options.update(overrides)
    return options


# -- privacyIDEA's examples, as written there ---------------------------------------------


def test_clickatell_legacy_example(gateways_fake, provider_context):
    receipt = send(provider_context, **clickatell_legacy(gateways_fake))
    sent = gateways_fake.last
    assert sent.method == "GET"
    assert sent.query.to_dict() == {
        "user": gw.CLICKATELL_USER,
        "password": gw.CLICKATELL_PASSWORD,
        "api_id": gw.CLICKATELL_API_ID,
        "text": f"Your OTP value is {CODE}",
        "to": "31612345678",
    }
    assert receipt.raw_code == "HTTP 200"
    assert HEX32.match(receipt.provider_message_id or "")


def test_clickatell_legacy_with_the_password_as_a_secret_parameter(gateways_fake, provider_context):
    options = clickatell_legacy(gateways_fake)
    options["parameters"] = options["parameters"].replace(
        f"password={gw.CLICKATELL_PASSWORD}\n", ""
    )
    options["secret_parameters"] = f"password={gw.CLICKATELL_PASSWORD}"
    send(provider_context, **options)
    assert gateways_fake.last.query["password"] == gw.CLICKATELL_PASSWORD


def test_clickatell_platform_example_succeeds_by_status_202(gateways_fake, provider_context):
    receipt = send(
        provider_context,
        url=f"{gateways_fake.url}/messages/http/send",
        method="GET",
        parameters=f"apiKey={gw.CLICKATELL_API_KEY}\n"
        "content=Your OTP value is {otp}\n"
        "to={phone}",
        phone_format="digits",
    )
    assert gateways_fake.last.query["content"] == f"Your OTP value is {CODE}"
    assert receipt.raw_code == "HTTP 202"


def test_gtx_example(gateways_fake, provider_context):
    receipt = send(
        provider_context,
        url=f"{gateways_fake.url}/smsc.php",
        method="GET",
        check_ssl=True,
        return_success="200 OK",
        parameters=f"user={gw.GTX_USER}\npass={gw.GTX_PASS}\nto={{phone}}\n"
        "text=Your OTP value is {otp}.",
        phone_format="digits",
    )
    assert gateways_fake.last.query["text"] == f"Your OTP value is {CODE}."
    assert gateways_fake.last.query["to"] == "31612345678"
    assert receipt.raw_meaning == "accepted"


def twilio(fake, path: str = "Messages", **overrides: Any) -> dict[str, Any]:
    """privacyIDEA's Twilio example: POST, basic auth with the account SID, form fields."""
    options = {
        "url": f"{fake.url}/2010-04-01/Accounts/{gw.TWILIO_SID}/{path}",
        "method": "POST",
        "username": gw.TWILIO_SID,
        "password": gw.TWILIO_TOKEN,
        "parameters": "From=+3197010203040\nBody={otp}\nTo={phone}",
    }
    options.update(overrides)
    return options


def test_twilio_example(gateways_fake, provider_context):
    receipt = send(provider_context, **twilio(gateways_fake))
    sent = gateways_fake.last
    assert sent.method == "POST"
    assert sent.content_type == "application/x-www-form-urlencoded"
    assert sent.form.to_dict() == {"From": "+3197010203040", "Body": CODE, "To": "+31612345678"}
    assert receipt.raw_code == "HTTP 201"  # without .json Twilio answers XML; the status decides


def test_twilio_json_answer_gives_the_message_sid(gateways_fake, provider_context):
    receipt = send(provider_context, **twilio(gateways_fake, "Messages.json"))
    assert re.match(r"^SM[0-9a-f]{32}$", receipt.provider_message_id or "")


# -- what counts as success -------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "options", "meaning"),
    [
        ("auth_failure", {}, "answer did not contain RETURN_SUCCESS"),
        ("no_credit", {}, "answer did not contain RETURN_SUCCESS"),
        ("no_credit", {"return_success": "", "return_fail": "ERR"}, "answer contained RETURN_FAIL"),
        ("malformed", {}, "answer did not contain RETURN_SUCCESS"),
    ],
)
def test_an_answer_that_fails_the_match_is_temporary(
    gateways_fake, provider_context, scenario, options, meaning
):
    gateways_fake.scenario = scenario
    with pytest.raises(SmsTemporaryError) as info:
        send(provider_context, **clickatell_legacy(gateways_fake, **options))
    assert info.value.raw_meaning == meaning
    assert info.value.raw_code == "HTTP 200"


def test_return_fail_alone_accepts_an_answer_without_it(gateways_fake, provider_context):
    options = clickatell_legacy(gateways_fake, return_success="", return_fail="ERR")
    assert send(provider_context, **options).raw_meaning == "accepted"


def test_return_fail_catches_a_rejected_recipient_in_a_202(gateways_fake, provider_context):
    gateways_fake.scenario = "rejected_recipient"
    with pytest.raises(SmsTemporaryError, match="RETURN_FAIL"):
        send(
            provider_context,
            url=f"{gateways_fake.url}/messages/http/send",
            parameters=f"apiKey={gw.CLICKATELL_API_KEY}\ncontent={{message}}\nto={{phone}}",
            phone_format="digits",
            return_fail='"accepted": false',
        )


# -- HTTP statuses and transport -------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "error", "raw_code"),
    [
        ("auth_failure", SmsConfigurationError, "HTTP 401"),
        ("21211", SmsConfigurationError, "HTTP 400"),
        ("21610", SmsConfigurationError, "HTTP 400"),
        ("rate_limited", SmsTemporaryError, "HTTP 429"),
        ("server_error", SmsTemporaryError, "HTTP 500"),
        ("redirect", SmsConfigurationError, "HTTP 302"),
        ("no_content", SmsTemporaryError, "HTTP 204"),
        ("slow", SmsTemporaryError, None),
        ("reset", SmsTemporaryError, None),
    ],
)
def test_statuses_and_transport_failures(
    gateways_fake, provider_context, scenario, error, raw_code
):
    gateways_fake.scenario = scenario
    with pytest.raises(error) as info:
        send(provider_context, **twilio(gateways_fake, "Messages.json"))
    assert type(info.value) is error
    assert info.value.raw_code == raw_code
    if raw_code is None:
        assert info.value.__cause__ is not None


def test_gtx_refusals_by_status(gateways_fake, provider_context):
    options = {
        "url": f"{gateways_fake.url}/smsc.php",
        "return_success": "200 OK",
        "parameters": f"user={gw.GTX_USER}\npass=wrong-pass\nto={{phone}}\ntext={{otp}}",
        "phone_format": "digits",
    }
    with pytest.raises(SmsConfigurationError) as info:
        send(provider_context, **options)
    assert info.value.raw_meaning == "authentication failed"
    options["parameters"] = options["parameters"].replace("wrong-pass", gw.GTX_PASS)
    with pytest.raises(SmsConfigurationError) as info:  # GTX wants digits, not +316...
        send(provider_context, **{**options, "phone_format": "e164"})
    assert info.value.raw_code == "HTTP 400"


def test_a_closed_port_is_temporary(provider_context):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SmsTemporaryError) as info:
        send(provider_context, url=f"http://127.0.0.1:{port}/send", parameters="to={phone}")
    assert info.value.raw_meaning == "connection failed"


# -- the request: tags, phone formats, JSON, headers, proxy, TLS switch ---------------------


@pytest.mark.parametrize(
    ("style", "expected"),
    [("e164", "+31612345678"), ("digits", "31612345678"), ("00", "0031612345678")],
)
def test_phone_formats(gateways_fake, provider_context, style, expected):
    send(
        provider_context,
        url=f"{gateways_fake.url}/echo",
        parameters="to={phone}",
        phone_format=style,
    )
    assert gateways_fake.last.query["to"] == expected


def test_message_tag_and_braces_in_values(gateways_fake, provider_context):
    send(
        provider_context,
        url=f"{gateways_fake.url}/echo",
        method="POST",
        parameters="text={message}\nliteral={not a tag} {phone}",
    )
    assert gateways_fake.last.form["text"] == TEXT
    assert gateways_fake.last.form["literal"] == "{not a tag} +31612345678"


def test_tags_are_filled_once():
    values = {"phone": "+31600000000", "otp": "{phone}", "message": "m"}
    assert fill("{otp} to {phone}", values) == "{phone} to +31600000000"


def test_json_values_keep_their_type():
    values = {"phone": "+31600000000", "otp": "123456", "message": "hi"}
    assert fill_json('["{phone}"]', values) == ["+31600000000"]
    assert fill_json("false", values) is False
    assert fill_json('{"n": "{otp}"}', values) == {"n": "123456"}
    assert fill_json("{otp}", values) == "123456"  # a code stays a string, leading zeros and all


def test_json_body_with_headers_and_a_secret_header(gateways_fake, provider_context):
    receipt = send(
        provider_context,
        url=f"{gateways_fake.url}/json/send",
        method="POST",
        body="json",
        headers="X-Tenant: poort\n\nAccept: application/json",
        secret_header_name="X-Api-Key",
        secret_header_value=gw.JSON_GATEWAY_KEY,
        parameters='to=["{phone}"]\ntext={message}\nflash=false',
        return_success='"accepted"',
    )
    sent = gateways_fake.last
    assert sent.json == {"to": ["+31612345678"], "text": TEXT, "flash": False}
    assert sent.headers["X-Tenant"] == "poort"
    assert receipt.provider_message_id  # the "id" of the JSON answer


def test_a_wrong_secret_header_is_a_configuration_error(gateways_fake, provider_context):
    with pytest.raises(SmsConfigurationError):
        send(
            provider_context,
            url=f"{gateways_fake.url}/json/send",
            method="POST",
            body="json",
            secret_header_name="X-Api-Key",
            secret_header_value="not-the-key",
            parameters="to={phone}\ntext={message}",
        )


def test_proxy_carries_the_request(gateways_fake, provider_context):
    # The gateway's name does not resolve; only the proxy (our fake) is reached.
    send(
        provider_context,
        url="http://gateway.invalid/echo",
        proxy=gateways_fake.url,
        parameters="to={phone}",
    )
    assert gateways_fake.last.path == "/echo"
    assert gateways_fake.last.headers["Host"] == "gateway.invalid"


def test_tls_switch_timeout_and_no_redirects_reach_the_session(
    gateways_fake, provider_context, recording_session
):
    send(provider_context, url=f"{gateways_fake.url}/echo", check_ssl=False, timeout=2.5)
    send(provider_context, url=f"{gateways_fake.url}/echo", check_ssl=True)
    first, second = recording_session.calls
    assert (first["verify"], second["verify"]) == (False, True)
    assert first["timeout"][1] == 2.5
    assert first["allow_redirects"] is False


def test_two_sends_share_the_context_session(gateways_fake, provider_context, recording_session):
    recording_session.headers["X-Session-Marker"] = "one-session"
    provider = HttpProvider(clickatell_legacy(gateways_fake, timeout=TIMEOUT), provider_context)
    provider.send(message())
    provider.send(message())
    assert len(recording_session.calls) == 2
    assert [r.headers.get("X-Session-Marker") for r in gateways_fake.requests] == [
        "one-session",
        "one-session",
    ]


def test_query_strings_stay_out_of_debug_logs(gateways_fake, provider_context, caplog):
    caplog.set_level(logging.DEBUG)
    send(provider_context, **clickatell_legacy(gateways_fake))
    assert "/http/sendmsg?[query hidden]" in caplog.text  # urllib3's request line, censored
    assert CODE not in caplog.text
    assert gw.CLICKATELL_PASSWORD not in caplog.text


# -- options --------------------------------------------------------------------------------


def test_complete_options_validate_and_seal_the_secrets(options_box):
    stored = validate_options(
        HttpOptions,
        {
            "url": "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages",
            "method": "POST",
            "username": "AC123",
            "password": "token",
            "secret_parameters": "apiKey=abc\npassword=x=y",
            "parameters": "From=Poort\nBody={otp}\nTo={phone}",
        },
        options_box,
    )
    assert is_sealed(stored["password"]) and is_sealed(stored["secret_parameters"])
    assert stored["timeout"] == 3.0 and stored["check_ssl"] is True
    assert stored["phone_format"] == "e164"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "ftp://gateway.example/send"}, "url"),
        ({"url": "https://gateway.example:port/"}, "url"),
        ({"method": "PUT"}, "method"),
        ({"body": "xml"}, "body"),
        ({"headers": "no colon here"}, "headers"),
        ({"headers": "Bad Name: x"}, "headers"),
        ({"parameters": "to={phone}\njust text"}, "parameters"),
        ({"secret_parameters": "=value"}, "secret_parameters"),
        ({"secret_header_value": "key"}, "secret_header_name"),
        ({"proxy": "proxy.example:3128"}, "proxy"),
        ({"timeout": 0}, "timeout"),
        ({"phone_format": "national"}, "phone_format"),
    ],
)
def test_bad_options_are_refused_with_the_field_named(options_box, values, field):
    values = {"url": "https://gateway.example/send", **values} if field != "url" else values
    with pytest.raises(OptionsInvalid) as info:
        validate_options(HttpOptions, values, options_box)
    assert field in info.value.errors


def test_secret_parameters_are_never_rendered_back():
    form = bind_form(
        HttpOptions,
        formdata=MultiDict({"options-secret_parameters": "password=hunter22"}),
    )
    html = str(form.secret_parameters())
    assert "<textarea" in html
    assert "hunter22" not in html
