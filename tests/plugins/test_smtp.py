"""E-mail to SMS: templates, plain / STARTTLS / SSL with login against a real aiosmtpd server
on 127.0.0.1, and every refusal mapped."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path
from typing import Any

import pytest

from idp.options import OptionsInvalid, validate_options
from idp.sms import ProviderContext, SmsConfigurationError, SmsTemporaryError
from idp_sms_providers.smtp import SmtpOptions, SmtpProvider, default_smtp_factory, fill
from tests.fakes import smtp
from tests.fakes.fixtures import CODE, TEXT, message
from tests.fakes.smtp import SmtpFake


def trusting(fake: SmtpFake) -> type[SmtpProvider]:
    """The provider, trusting the fake's self-signed certificate (and still checking it)."""

    class Trusting(SmtpProvider):
        def ssl_context(self) -> ssl.SSLContext:
            context = super().ssl_context()
            context.load_verify_locations(cafile=str(fake.cert_path))
            return context

    return Trusting


def options(fake: SmtpFake, **overrides: Any) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": fake.port,
        "security": fake.security,
        "check_tls": True,
        "username": smtp.USERNAME,
        "password": smtp.PASSWORD,
        "mail_from": "poort@example.org",
        "mailto": "{phone}@sms.example.net",
        "subject": "{phone}",
        "body": "{otp}",
        "phone_format": "digits",
        "timeout": 0.5,
        **overrides,
    }


def send(fake: SmtpFake, msg=None, context: ProviderContext | None = None, **overrides: Any):
    provider = trusting(fake)(options(fake, **overrides), context or ProviderContext())
    return provider.send(msg or message())


@pytest.mark.parametrize("security", ["plain", "starttls", "ssl"])
def test_each_connection_security_with_a_login(tmp_path: Path, security: str):
    with SmtpFake(tmp_path, security=security, login=True) as fake:
        receipt = send(fake)
        got = fake.last
    assert (receipt.raw_code, receipt.raw_meaning) == ("SMTP 250", "accepted by the mail server")
    assert got.mail_from == "poort@example.org"
    assert got.rcpt_tos == ["31612345678@sms.example.net"]
    assert got.message["Subject"] == "31612345678"
    assert got.message.get_content().strip() == CODE  # privacyIDEA's default BODY: {otp}
    assert fake.logins == [smtp.USERNAME]


def test_templates_and_phone_formats(smtp_fake):
    send(
        smtp_fake,
        mailto="sms+{phone}@gw.example.net",
        subject="Code {otp} for {phone}",
        body="{message}\n-- {literal} {phone",
        phone_format="e164",
    )
    got = smtp_fake.last
    assert got.rcpt_tos == ["sms++31612345678@gw.example.net"]
    assert got.message["Subject"] == f"Code {CODE} for +31612345678"
    assert got.message.get_content().replace("\r\n", "\n") == TEXT + "\n-- {literal} {phone\n"


def test_fill_leaves_other_braces_alone():
    assert fill("{a} {phone} {{otp}}", {"phone": "31", "otp": "1"}) == "{a} 31 {1}"


def test_a_message_without_code_puts_the_text_in_otp(smtp_fake):
    send(smtp_fake, message(code=None), body="{otp}", phone_format="00")
    assert smtp_fake.last.message.get_content().replace("\r\n", "\n").strip() == TEXT.strip()
    assert smtp_fake.last.message["Subject"] == "0031612345678"


def test_a_subject_template_with_the_text_stays_on_one_line(smtp_fake):
    send(smtp_fake, subject="{message}")
    assert "\n" not in smtp_fake.last.message["Subject"]


def test_the_smtp_client_comes_through_the_seam(smtp_fake):
    made: list[tuple[str, int, str]] = []

    def factory(host, port, timeout, mode, context):
        made.append((host, port, mode))
        return default_smtp_factory(host, port, timeout, mode, context)

    send(smtp_fake, context=ProviderContext(smtp_factory=factory))
    assert made == [("127.0.0.1", smtp_fake.port, "plain")]


@pytest.mark.parametrize(
    ("scenario", "error", "raw_code", "meaning"),
    [
        ("auth_failure", SmsConfigurationError, "SMTP 535", "authentication failed"),
        ("recipient_refused", SmsConfigurationError, "SMTP 550", "the gateway address refused"),
        ("recipient_deferred", SmsTemporaryError, "SMTP 450", "the gateway address deferred"),
        ("sender_refused", SmsConfigurationError, "SMTP 553", "the sender address refused"),
        ("server_error", SmsTemporaryError, "SMTP 451", "the message deferred"),
        ("rejected", SmsConfigurationError, "SMTP 554", "the message refused"),
        ("slow", SmsTemporaryError, None, "timeout"),
        ("reset", SmsTemporaryError, None, "connection dropped"),
        ("malformed", SmsTemporaryError, None, "unexpected answer"),
    ],
)
def test_refusals(smtp_fake, scenario, error, raw_code, meaning):
    smtp_fake.scenario = scenario
    with pytest.raises(error) as caught:
        send(smtp_fake)
    assert (caught.value.raw_code, caught.value.raw_meaning) == (raw_code, meaning)
    assert caught.value.__cause__ is not None


def test_nobody_listening_is_temporary():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = SmtpProvider(
        {
            "host": "127.0.0.1",
            "port": port,
            "security": "plain",
            "mail_from": "poort@example.org",
            "mailto": "{phone}@sms.example.net",
            "timeout": 0.5,
        },
        ProviderContext(),
    )
    with pytest.raises(SmsTemporaryError) as caught:
        provider.send(message())
    assert caught.value.raw_meaning == "connection failed"


def test_an_untrusted_certificate_is_a_configuration_error(tmp_path):
    with SmtpFake(tmp_path, security="ssl") as fake:
        provider = SmtpProvider(options(fake, username=""), ProviderContext())  # trusts no test CA
        with pytest.raises(SmsConfigurationError) as caught:
            provider.send(message())
    assert caught.value.raw_meaning == "TLS verification failed"


def test_an_unchecked_certificate_is_accepted_when_asked(tmp_path):
    with SmtpFake(tmp_path, security="ssl") as fake:
        provider = SmtpProvider(options(fake, username="", check_tls=False), ProviderContext())
        assert provider.send(message()).raw_code == "SMTP 250"


def test_starttls_on_a_server_without_it_is_a_configuration_error(smtp_fake):
    with pytest.raises(SmsConfigurationError) as caught:
        send(smtp_fake, security="starttls")
    assert caught.value.raw_meaning == "not supported by the server"


def test_ssl_on_a_plain_port_is_a_configuration_error(smtp_fake):
    with pytest.raises(SmsConfigurationError) as caught:
        send(smtp_fake, security="ssl")
    assert caught.value.raw_meaning == "TLS handshake failed"


def test_options(options_box):
    good = {"host": "smtp.example.net", "mail_from": "a@example.org", "mailto": "{phone}@gw.net"}
    stored = validate_options(SmtpOptions, good, options_box)
    assert (stored["subject"], stored["body"], stored["port"]) == ("{phone}", "{otp}", 587)
    with pytest.raises(OptionsInvalid) as caught:
        validate_options(SmtpOptions, {**good, "mailto": "a@b, c@d"}, options_box)
    assert set(caught.value.errors) == {"mailto"}
    with pytest.raises(OptionsInvalid):
        validate_options(SmtpOptions, {**good, "mailto": "{phone}"}, options_box)
