"""E-mail-to-SMS gateways: the text goes out as an e-mail that the gateway turns into an SMS.

Modelled on privacyIDEA's SMTP provider: MAILTO, SUBJECT and BODY are templates holding
``{phone}`` (the number, in the chosen format), ``{otp}`` (the code; the whole text for a
message without one) and ``{message}`` (the whole text). The defaults are privacyIDEA's:
SUBJECT ``{phone}``, BODY ``{otp}``. Tags are replaced as plain text, so a template with other
braces in it is sent as written (privacyIDEA's ``str.format`` crashed on those).

The connection: plain SMTP, STARTTLS or SMTP over TLS ("SSL"), with an optional login. The
client comes from ``ProviderContext.smtp_factory`` when Poort (or a test) passes one, else
from :mod:`smtplib`. Refusals are judged by the SMTP reply code: 4xx temporary, 5xx a
configuration error (the gateway refused our sender, its own address or the login).
There are no delivery reports (some gateways answer by e-mail; Poort does not read mail).
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from flask_babel import gettext, lazy_gettext
from wtforms import BooleanField, IntegerField, SelectField, StringField
from wtforms.validators import Email, InputRequired, Length, NumberRange, Optional, ValidationError

from idp.options import OptionsForm, SecretField
from idp.sms import SmsConfigurationError, SmsMessage, SmsProvider, SmsReceipt, SmsTemporaryError
from idp.sms.errors import SmsError
from idp_sms_providers.common import timeout_field
from idp_sms_providers.fields import choices

PLAIN, STARTTLS, SSL = "plain", "starttls", "ssl"
PHONE_FORMATS = {
    "digits": lambda e164: e164.lstrip("+"),
    "e164": lambda e164: e164,
    "00": lambda e164: "00" + e164.lstrip("+"),
}


def _mailto(form: Any, field: Any) -> None:
    value = str(field.data or "")
    if "@" not in value.replace("{phone}", "x").replace("{otp}", "x"):
        raise ValidationError(
            gettext("Enter the gateway's address, such as {phone}@sms.example.net.")
        )
    if any(ch in value for ch in "\r\n,;<> "):
        raise ValidationError(
            gettext("One address only, without spaces, commas or angle brackets.")
        )


class SmtpOptions(OptionsForm):
    host = StringField(lazy_gettext("SMTP server"), validators=[InputRequired(), Length(max=253)])
    port = IntegerField(
        lazy_gettext("Port"),
        default=587,
        validators=[InputRequired(), NumberRange(min=1, max=65535)],
        description=lazy_gettext("587 for STARTTLS, 465 for SSL, 25 for plain."),
    )
    security = SelectField(
        lazy_gettext("Connection security"),
        choices=choices(
            (STARTTLS, "STARTTLS"), (SSL, "SSL/TLS (SMTPS)"), (PLAIN, lazy_gettext("None (plain)"))
        ),
        default=STARTTLS,
    )
    check_tls = BooleanField(lazy_gettext("Check the server's TLS certificate"), default=True)
    username = StringField(
        lazy_gettext("User name (optional)"), validators=[Optional(), Length(max=200)]
    )
    password = SecretField(lazy_gettext("Password"), validators=[Optional(), Length(max=200)])
    mail_from = StringField(
        lazy_gettext("Sender address"),
        validators=[InputRequired(), Email(check_deliverability=False), Length(max=254)],
        description=lazy_gettext(
            "The From of the e-mails; many gateways only accept registered senders."
        ),
    )
    mailto = StringField(
        "MAILTO",
        validators=[InputRequired(), Length(max=254), _mailto],
        description=lazy_gettext(
            "The gateway's address; {phone} is the number, e.g. {phone}@sms.example.net."
        ),
    )
    subject = StringField("SUBJECT", default="{phone}", validators=[Optional(), Length(max=200)])
    body = StringField(
        "BODY",
        default="{otp}",
        validators=[Optional(), Length(max=2000)],
        description=lazy_gettext("{otp} is the code alone, {message} Poort's whole text."),
    )
    phone_format = SelectField(
        lazy_gettext("Phone number format"),
        choices=choices(
            ("digits", "31612345678"), ("e164", "+31612345678"), ("00", "0031612345678")
        ),
        default="digits",
    )
    timeout = timeout_field(10.0)


def fill(template: str, values: dict[str, str]) -> str:
    """Replace ``{phone}``, ``{otp}`` and ``{message}``; every other brace stays as written."""
    out = template
    for tag, value in values.items():
        out = out.replace("{" + tag + "}", value)
    return out


def default_smtp_factory(
    host: str, port: int, timeout: float, mode: str, ssl_context: ssl.SSLContext
) -> smtplib.SMTP:
    """A connected client from :mod:`smtplib` (``SMTP_SSL`` for mode "ssl")."""
    if mode == SSL:
        return smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl_context)
    return smtplib.SMTP(host, port, timeout=timeout)


class SmtpProvider(SmsProvider):
    name = "smtp"
    #: Kept as written (a new verifier's default title); pages show it translated.
    title = "E-mail to SMS (SMTP)"
    _title_text = lazy_gettext("E-mail to SMS (SMTP)")  # for the catalogues
    options_form = SmtpOptions
    docs_url = "https://privacyidea.readthedocs.io/en/latest/configuration/sms_gateway_config.html"

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if not self.options.get("check_tls", True):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _error(
        self, cls: type[SmsError], message: str, raw_code: str | None, meaning: str
    ) -> SmsError:
        return cls(message, provider=self.name, raw_code=raw_code, raw_meaning=meaning)

    def _by_reply(self, code: int, what: str) -> SmsError:
        if not 400 <= code < 600:
            return self._error(
                SmsTemporaryError,
                "The mail server gave an answer we do not understand.",
                None,
                "unexpected answer",
            )
        raw = f"SMTP {code}"
        if 400 <= code < 500:
            return self._error(
                SmsTemporaryError,
                f"The mail server deferred {what} ({raw}); try again later.",
                raw,
                f"{what} deferred",
            )
        return self._error(
            SmsConfigurationError,
            f"The mail server refused {what} ({raw}); check the addresses and the gateway.",
            raw,
            f"{what} refused",
        )

    def compose(self, message: SmsMessage) -> tuple[str, EmailMessage]:
        phone = PHONE_FORMATS.get(str(self.options.get("phone_format")), PHONE_FORMATS["digits"])
        values = {
            "phone": phone(message.recipient),
            "otp": message.code if message.code is not None else message.text,
            "message": message.text,
        }
        one_line = {key: " ".join(value.split()) for key, value in values.items()}
        mailto = fill(str(self.options.get("mailto") or ""), one_line)
        email = EmailMessage()
        email["From"] = str(self.options.get("mail_from") or "")
        email["To"] = mailto
        email["Subject"] = fill(str(self.options.get("subject") or "{phone}"), one_line)
        email["Message-ID"] = make_msgid(idstring=message.reference or None, domain="poort.local")
        email.set_content(fill(str(self.options.get("body") or "{otp}"), values))
        return mailto, email

    def send(self, message: SmsMessage) -> SmsReceipt:
        mailto, email = self.compose(message)
        mode = str(self.options.get("security") or STARTTLS)
        host, port = str(self.options.get("host") or ""), int(self.options.get("port") or 25)
        timeout = float(self.options.get("timeout") or 10.0)
        context = self.ssl_context()
        factory = self.context.smtp_factory or default_smtp_factory
        client: Any = None
        try:
            client = factory(host, port, timeout, mode, context)
            client.ehlo()
            if mode == STARTTLS:
                client.starttls(context=context)
                client.ehlo()
            username = self.options.get("username")
            if username:
                client.login(str(username), str(self.options.get("password") or ""))
            client.send_message(email, from_addr=email["From"], to_addrs=[mailto])
        except smtplib.SMTPAuthenticationError as exc:
            raise self._error(
                SmsConfigurationError,
                f"The mail server refused the login (SMTP {exc.smtp_code}); check user name "
                "and password.",
                f"SMTP {exc.smtp_code}",
                "authentication failed",
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()] or [550]
            raise self._by_reply(int(codes[0]), "the gateway address") from exc
        except smtplib.SMTPSenderRefused as exc:
            raise self._by_reply(exc.smtp_code, "the sender address") from exc
        except smtplib.SMTPDataError as exc:
            raise self._by_reply(exc.smtp_code, "the message") from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise self._error(
                SmsConfigurationError,
                "The mail server does not offer what the settings ask (STARTTLS or login); "
                "check the connection security.",
                None,
                "not supported by the server",
            ) from exc
        except smtplib.SMTPResponseException as exc:
            raise self._by_reply(exc.smtp_code, "the connection") from exc
        except ssl.SSLCertVerificationError as exc:
            raise self._error(
                SmsConfigurationError,
                "The mail server's TLS certificate could not be verified; check the host name.",
                None,
                "TLS verification failed",
            ) from exc
        except ssl.SSLError as exc:
            raise self._error(
                SmsConfigurationError,
                "The TLS handshake with the mail server failed; check the connection security "
                "and the port.",
                None,
                "TLS handshake failed",
            ) from exc
        except TimeoutError as exc:
            raise self._error(
                SmsTemporaryError,
                f"The mail server did not answer within {timeout:g} s.",
                None,
                "timeout",
            ) from exc
        except smtplib.SMTPServerDisconnected as exc:
            if isinstance(exc.__context__, TimeoutError):
                raise self._error(
                    SmsTemporaryError,
                    f"The mail server did not answer within {timeout:g} s.",
                    None,
                    "timeout",
                ) from exc
            raise self._error(
                SmsTemporaryError,
                "The mail server dropped the connection.",
                None,
                "connection dropped",
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise self._error(
                SmsTemporaryError,
                "Could not talk to the mail server (connection refused or dropped).",
                None,
                "connection failed",
            ) from exc
        finally:
            if client is not None:
                try:
                    client.quit()
                except (smtplib.SMTPException, OSError):
                    client.close()
        return SmsReceipt(raw_code="SMTP 250", raw_meaning="accepted by the mail server")
