"""Spryng (the Netherlands): the legacy send.php API, the "simple" endpoint and REST API v1.

The endpoint an admin enters chooses the API, the way OpenWave configures Spryng:

- ``https://api.spryngsms.com/api/send.php``: the legacy API, a form POST with upper-case
  names; the answer is a plain-text number (1 = received, otherwise the code table below);
- ``https://rest.spryngsms.com/api/simple/message``: the "simple" endpoint, lower-case names;
  it answers 200 with 1 or a legacy code, or 401 / 422 / 429;
- ``https://rest.spryngsms.com/v1/messages``: REST v1 with the password used as the API key
  (``Authorization: Bearer``) and a JSON body; 200 with the message object.

Where public sources disagree on 101/102 and 109/110, the OpenWave table is followed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from flask_babel import gettext, lazy_gettext
from wtforms import BooleanField, StringField
from wtforms.validators import InputRequired, Length, Optional, Regexp, ValidationError

from idp.options import OptionsForm, SecretField
from idp.sms import (
    HttpSmsProvider,
    SmsConfigurationError,
    SmsMessage,
    SmsReceipt,
    SmsRecipientError,
    SmsTemporaryError,
)
from idp.sms.encoding import GSM7, segments
from idp.sms.errors import SmsError
from idp.sms.reports import CallbackRequest, DeliveryReport
from idp_sms_providers.common import HttpUrl, json_body, plain_text, timeout_field
from idp_sms_providers.reports import spryng_report

LEGACY, SIMPLE, REST = "send.php", "simple", "rest"
_ENDPOINTS = {"/send.php": LEGACY, "/api/simple/message": SIMPLE, "/v1/messages": REST}

_CONFIG, _RECIPIENT, _TEMPORARY = SmsConfigurationError, SmsRecipientError, SmsTemporaryError
#: The numeric answers of send.php and the simple endpoint: meaning, error class, what to do.
CODES: dict[str, tuple[str, type[SmsError], str]] = {
    "100": ("missing parameter", _CONFIG, "a required field is empty; check the settings"),
    "101": ("username too long", _CONFIG, "check the user name"),
    "102": ("username too short", _CONFIG, "check the user name"),
    "103": ("password too short", _CONFIG, "check the password"),
    "104": ("password too long", _CONFIG, "check the password"),
    "105": ("destination too short", _RECIPIENT, "the phone number is too short"),
    "106": ("destination too long", _RECIPIENT, "the phone number is too long"),
    "107": ("sender too long", _CONFIG, "use a sender of at most 11 characters"),
    "108": ("sender too short", _CONFIG, "enter a sender"),
    "109": ("body too long", _CONFIG, "switch on long messages or shorten the text"),
    "110": ("body too short", _CONFIG, "the message text is empty"),
    "200": ("security error", _CONFIG, "Spryng refused the user name or password"),
    "201": ("unknown route", _CONFIG, "check the route"),
    "202": ("route access violation", _CONFIG, "the account may not use this route"),
    "203": ("insufficient credits", _CONFIG, "buy credits in the Spryng portal"),
    "800": ("technical error", _TEMPORARY, "Spryng had a technical error; try again later"),
}
RECEIVED = "received"


def api_of(endpoint: str) -> str | None:
    """Which Spryng API an endpoint address belongs to, or None."""
    path = urlsplit(endpoint.strip()).path.rstrip("/")
    return next((api for suffix, api in _ENDPOINTS.items() if path.endswith(suffix)), None)


def _known_endpoint(form: Any, field: Any) -> None:
    if field.data and api_of(field.data) is None:
        raise ValidationError(
            gettext(
                "Use a Spryng endpoint ending in /api/send.php, /api/simple/message or "
                "/v1/messages."
            )
        )


class SpryngOptions(OptionsForm):
    endpoint = StringField(
        lazy_gettext("Endpoint"),
        default="https://rest.spryngsms.com/api/simple/message",
        validators=[InputRequired(), HttpUrl(), _known_endpoint, Length(max=500)],
        description=lazy_gettext(
            "The address chooses the API: …/api/send.php, …/api/simple/message "
            "or …/v1/messages (REST, the password is then the API key)."
        ),
    )
    username = StringField(
        lazy_gettext("User name"), validators=[Optional(), Length(min=2, max=32)]
    )
    password = SecretField(
        lazy_gettext("Password (API key for REST v1)"),
        validators=[InputRequired(), Length(max=500)],
    )
    route = StringField(
        lazy_gettext("Route"),
        default="business",
        validators=[
            Optional(),
            Regexp(
                r"(?i)^(business|economy|[0-9]{1,10})$",
                message=lazy_gettext(
                    "Use business, economy, or the number of a route Spryng gave you."
                ),
            ),
        ],
    )
    allow_long = BooleanField(lazy_gettext("Allow long messages (several segments)"), default=True)
    timeout = timeout_field(5.0)

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        api = api_of(self.endpoint.data or "")
        if api in (LEGACY, SIMPLE) and not (self.username.data or "").strip():
            self.username.errors = [
                *self.username.errors,
                gettext("This API needs the user name."),
            ]
            ok = False
        return ok


class SpryngProvider(HttpSmsProvider):
    name = "spryng"
    title = "Spryng"
    options_form = SpryngOptions
    docs_url = "https://docs.spryngsms.com"
    delivery_report_help = lazy_gettext(
        "In the Spryng portal, paste this address as the delivery report URL of the API "
        "account; Spryng calls it with GET."
    )

    def parse_delivery_report(self, request: CallbackRequest) -> DeliveryReport | None:
        return spryng_report(request)

    @property
    def api(self) -> str:
        return api_of(self.options["endpoint"]) or SIMPLE

    @property
    def route(self) -> str:
        return str(self.options.get("route") or "business")

    def send(self, message: SmsMessage) -> SmsReceipt:
        if not message.sender:
            raise SmsConfigurationError(
                "Spryng needs a sender; set one on the verifier.",
                provider=self.name,
                raw_meaning="no sender",
            )
        if self.api == REST:
            return self._send_rest(message)
        o = self.options
        fields = {
            "USERNAME": o.get("username") or "",
            "PASSWORD": o.get("password") or "",
            "DESTINATION": message.digits,
            "SENDER": message.sender,
            "BODY": message.text,
            "ROUTE": self.route.upper(),
        }
        if message.reference:
            fields["REFERENCE"] = message.reference
        if self.api == LEGACY:
            data = {"OPERATION": "send", **fields, "ALLOWLONG": "1" if o.get("allow_long") else "0"}
        else:
            data = {key.lower(): value for key, value in fields.items()}
            data["route"] = self.route.lower()
        response = self.request("POST", o["endpoint"], data=data)
        with response:
            return self._numeric_answer(response, message)

    def _numeric_answer(self, response: requests.Response, message: SmsMessage) -> SmsReceipt:
        self.raise_for_transport_status(response)
        status = response.status_code
        if status == 422:
            raise SmsConfigurationError(
                "Spryng says a field is missing or invalid (HTTP 422); check the settings.",
                provider=self.name,
                raw_code="HTTP 422",
                raw_meaning="missing or invalid parameters",
            )
        self._other_status(status)
        answer = plain_text(response, 64).strip()
        code = answer.lstrip("0") if answer.isdigit() else answer
        if code == "1":
            return SmsReceipt(
                provider_message_id=message.reference, raw_code="1", raw_meaning=RECEIVED
            )
        if code in CODES:
            meaning, error, hint = CODES[code]
            raise error(
                f"Spryng answered {code} ({meaning}): {hint}.",
                provider=self.name,
                raw_code=code,
                raw_meaning=meaning,
            )
        raise SmsTemporaryError(
            "Spryng gave an answer we do not understand.",
            provider=self.name,
            raw_code=f"HTTP {status}",
            raw_meaning="unexpected answer",
        )

    def _other_status(self, status: int) -> None:
        if 400 <= status < 500:
            raise SmsConfigurationError(
                f"Spryng refused the request (HTTP {status}); check the endpoint.",
                provider=self.name,
                raw_code=f"HTTP {status}",
                raw_meaning="request refused",
            )
        if not 200 <= status < 300:
            raise SmsTemporaryError(
                f"Spryng answered HTTP {status}.",
                provider=self.name,
                raw_code=f"HTTP {status}",
                raw_meaning="unexpected answer",
            )

    def _send_rest(self, message: SmsMessage) -> SmsReceipt:
        payload = {
            "body": message.text,
            "originator": message.sender,
            "recipients": [message.digits],
            "route": self.route.lower(),
            "reference": message.reference,
            "encoding": "plain" if segments(message.text).encoding == GSM7 else "unicode",
        }
        headers = {
            "Authorization": f"Bearer {self.options.get('password') or ''}",
            "Accept": "application/json",
        }
        payload = {key: value for key, value in payload.items() if value}
        with self.request("POST", self.options["endpoint"], json=payload, headers=headers) as r:
            self.raise_for_transport_status(r)
            answer = json_body(r)
            if r.status_code == 422:
                errors = answer.get("errors") if isinstance(answer, dict) else None
                if isinstance(errors, dict) and any(k.startswith("recipient") for k in errors):
                    raise SmsRecipientError(
                        "Spryng refused the phone number.",
                        provider=self.name,
                        raw_code="HTTP 422",
                        raw_meaning="invalid recipient",
                    )
                raise SmsConfigurationError(
                    "Spryng says a field is missing or invalid (HTTP 422); check the sender "
                    "and route.",
                    provider=self.name,
                    raw_code="HTTP 422",
                    raw_meaning="missing or invalid parameters",
                )
            self._other_status(r.status_code)
        if not isinstance(answer, dict) or not isinstance(answer.get("id"), str):
            raise SmsTemporaryError(
                "Spryng gave an answer we do not understand.",
                provider=self.name,
                raw_code=f"HTTP {r.status_code}",
                raw_meaning="unexpected answer",
            )
        credits = answer.get("credits")
        meaning = "accepted"
        if isinstance(credits, int | float) and not isinstance(credits, bool):
            meaning = f"accepted ({credits:g} credits)"
        return SmsReceipt(
            provider_message_id=answer["id"][:64],
            raw_code=f"HTTP {r.status_code}",
            raw_meaning=meaning,
        )
