"""GTX-Messaging (Germany): the HTTP gateway ``smsc.php``, as privacyIDEA configures it.

A GET (or POST) with ``user`` and ``pass`` of the *routing account* (not the portal login),
``to`` (digits, no +), ``from`` (the verifier's sender), ``text`` and, when the text needs
UCS-2, ``t=UNICODE``. The answer is a status line in the body: ``200 OK`` (possibly followed
by a message id) means accepted; ``401 Unauthorized`` and ``400 Bad Request`` are refusals.
GTX's ``smsc.php`` has no documented delivery reports.
"""

from __future__ import annotations

import re

import requests
from flask_babel import lazy_gettext
from wtforms import SelectField, StringField
from wtforms.validators import InputRequired, Length

from idp.options import OptionsForm, SecretField
from idp.sms import (
    HttpSmsProvider,
    SmsConfigurationError,
    SmsMessage,
    SmsReceipt,
    SmsTemporaryError,
)
from idp.sms.encoding import GSM7, segments
from idp.sms.errors import SmsError
from idp_sms_providers.common import HttpUrl, plain_text, timeout_field
from idp_sms_providers.fields import choices

DEFAULT_ENDPOINT = "https://http.gtx-messaging.net"
_CONFIG, _TEMPORARY = SmsConfigurationError, SmsTemporaryError
#: The status line GTX answers with: meaning, error class, what the admin should do.
CODES: dict[str, tuple[str, type[SmsError], str]] = {
    "400": ("bad request", _CONFIG, "GTX refused a field; check the sender and the number format"),
    "401": ("unauthorized", _CONFIG, "check the routing account's user name and password"),
    "402": ("payment required", _CONFIG, "top up the GTX account"),
    "403": ("forbidden", _CONFIG, "the routing account may not send this; ask GTX"),
}
_STATUS_LINE = re.compile(r"^\s*(\d{3})\b[ \t]*([^\r\n]*)")
_ID = re.compile(r"[0-9A-Za-z-]{1,64}")


class GtxOptions(OptionsForm):
    user = StringField(
        lazy_gettext("Routing account user"),
        validators=[InputRequired(), Length(max=100)],
        description=lazy_gettext(
            "Of the routing account GTX set up for you, not the portal login."
        ),
    )
    password = SecretField(
        lazy_gettext("Routing account password"), validators=[InputRequired(), Length(max=200)]
    )
    endpoint = StringField(
        lazy_gettext("API address"),
        default=DEFAULT_ENDPOINT,
        validators=[InputRequired(), HttpUrl(), Length(max=500)],
        description=lazy_gettext("Poort adds /smsc.php."),
    )
    method = SelectField(
        "HTTP method", choices=choices(("GET", "GET"), ("POST", "POST")), default="GET"
    )
    timeout = timeout_field(5.0)


class GtxProvider(HttpSmsProvider):
    name = "gtx"
    title = "GTX-Messaging"
    options_form = GtxOptions
    docs_url = "https://www.gtx-messaging.com/en/api-docs/http/"

    def send(self, message: SmsMessage) -> SmsReceipt:
        fields = {
            "user": self.options.get("user") or "",
            "pass": self.options.get("password") or "",
            "to": message.digits,
            "text": message.text,
        }
        if message.sender:
            fields["from"] = message.sender.lstrip("+")
        if segments(message.text).encoding != GSM7:
            fields["t"] = "UNICODE"
        base = (self.options.get("endpoint") or DEFAULT_ENDPOINT).rstrip("/")
        url = base if base.endswith("/smsc.php") else base + "/smsc.php"
        if (self.options.get("method") or "GET") == "POST":
            response = self.request("POST", url, data=fields)
        else:
            response = self.request("GET", url, params=fields)
        with response:
            return self._answer(response)

    def _answer(self, response: requests.Response) -> SmsReceipt:
        answer = plain_text(response, 256)
        match = _STATUS_LINE.match(answer)
        code = match.group(1) if match else None
        if code == "200" and 200 <= response.status_code < 300:
            assert match is not None
            rest = match.group(2).strip()
            extra = rest[2:].strip(" :\t") if rest.upper().startswith("OK") else ""
            message_id = extra if _ID.fullmatch(extra) else None
            return SmsReceipt(provider_message_id=message_id, raw_code="200", raw_meaning="OK")
        if code in CODES:
            meaning, error, hint = CODES[code]
            raise error(
                f"GTX answered {code} ({meaning}): {hint}.",
                provider=self.name,
                raw_code=code,
                raw_meaning=meaning,
            )
        self.raise_for_transport_status(response)
        if code is not None and code.startswith("5"):
            raise SmsTemporaryError(
                f"GTX answered {code} (server error).",
                provider=self.name,
                raw_code=code,
                raw_meaning="server error",
            )
        raise SmsTemporaryError(
            "GTX gave an answer we do not understand.",
            provider=self.name,
            raw_code=f"HTTP {response.status_code}",
            raw_meaning="unexpected answer",
        )
