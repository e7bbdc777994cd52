"""MessageBird: the REST API (``POST /messages``) with an access key.

Success is HTTP 201 with the message object; the parts each recipient costs
(``recipients.items[].messagePartCount``) become the segments in the message log. Errors come
as ``{"errors": [{"code", "description", "parameter"}]}`` and are judged by their code, not by
the HTTP status. The description is not kept: our own words for each code are.
"""

from __future__ import annotations

import re
from typing import Any

import requests
from flask_babel import lazy_gettext
from wtforms import StringField
from wtforms.validators import InputRequired, Length, Optional

from idp.options import OptionsForm, SecretField
from idp.sms import (
    HttpSmsProvider,
    SmsConfigurationError,
    SmsMessage,
    SmsReceipt,
    SmsRecipientError,
    SmsTemporaryError,
)
from idp.sms.errors import SmsError
from idp.sms.reports import CallbackRequest, DeliveryReport
from idp_sms_providers.common import HttpUrl, json_body, timeout_field
from idp_sms_providers.messagebird_signature import check_signature_jwt
from idp_sms_providers.reports import messagebird_report

DEFAULT_ENDPOINT = "https://rest.messagebird.com"
_CONFIG, _TEMPORARY = SmsConfigurationError, SmsTemporaryError
#: MessageBird error codes: meaning, error class, what the admin should do.
CODES: dict[int, tuple[str, type[SmsError], str]] = {
    2: ("request not allowed (incorrect access key)", _CONFIG, "check the access key"),
    9: ("missing parameters", _CONFIG, "a required field is empty; check the sender"),
    10: ("invalid parameters", _CONFIG, "check the sender"),
    20: ("not found", _CONFIG, "check the endpoint"),
    21: ("bad request", _CONFIG, "check the settings"),
    25: ("not enough balance", _CONFIG, "top up the balance in the MessageBird dashboard"),
    98: ("API endpoint not found", _CONFIG, "check the endpoint"),
    99: ("internal error", _TEMPORARY, "MessageBird had an internal error; try again later"),
    100: ("service unavailable", _TEMPORARY, "MessageBird is unavailable; try again later"),
}
_PARAMETER = re.compile(r"^[A-Za-z_.\[\]0-9]{1,40}$")


class MessageBirdOptions(OptionsForm):
    access_key = SecretField(
        lazy_gettext("Access key (live API key)"), validators=[InputRequired(), Length(max=200)]
    )
    endpoint = StringField(
        lazy_gettext("API address"),
        default=DEFAULT_ENDPOINT,
        validators=[InputRequired(), HttpUrl(), Length(max=500)],
    )
    timeout = timeout_field(5.0)
    signing_key = SecretField(
        lazy_gettext("Signing key for status reports (optional)"),
        validators=[Optional(), Length(max=200)],
        description=lazy_gettext(
            "Developers > API access > Signing key. When set, every status report "
            "must carry a valid MessageBird-Signature-JWT."
        ),
    )


def _first_error(answer: Any) -> tuple[int, str | None] | None:
    """The code and parameter of the first error in an error answer, or None."""
    if not isinstance(answer, dict) or not isinstance(answer.get("errors"), list):
        return None
    for error in answer["errors"]:
        if isinstance(error, dict) and isinstance(error.get("code"), int):
            parameter = error.get("parameter")
            safe = parameter if isinstance(parameter, str) and _PARAMETER.match(parameter) else None
            return error["code"], safe
    return None


def _segments(answer: dict[str, Any]) -> int | None:
    recipients = answer.get("recipients")
    items = recipients.get("items") if isinstance(recipients, dict) else None
    counts = [
        item["messagePartCount"]
        for item in items or []
        if isinstance(item, dict) and isinstance(item.get("messagePartCount"), int)
    ]
    return max(counts) if counts else None


class MessageBirdProvider(HttpSmsProvider):
    name = "messagebird"
    title = "MessageBird"
    options_form = MessageBirdOptions
    docs_url = "https://developers.messagebird.com/api/sms-messaging/"
    delivery_report_help = lazy_gettext(
        "In the MessageBird dashboard, Developers > API settings: paste this address as the "
        "status report URL (MessageBird calls it with GET)."
    )

    def parse_delivery_report(self, request: CallbackRequest) -> DeliveryReport | None:
        key = self.options.get("signing_key")
        if key:
            check_signature_jwt(request, key, self.context.clock())
        return messagebird_report(request)

    def send(self, message: SmsMessage) -> SmsReceipt:
        if not message.sender:
            raise SmsConfigurationError(
                "MessageBird needs an originator; set a sender on the verifier.",
                provider=self.name,
                raw_meaning="no sender",
            )
        url = (self.options.get("endpoint") or DEFAULT_ENDPOINT).rstrip("/") + "/messages"
        payload = {
            "originator": message.sender,
            "recipients": [message.digits],
            "body": message.text,
            "datacoding": "auto",
        }
        if message.reference:
            payload["reference"] = message.reference
        headers = {
            "Authorization": f"AccessKey {self.options.get('access_key') or ''}",
            "Accept": "application/json",
        }
        with self.request("POST", url, json=payload, headers=headers) as response:
            answer = json_body(response)
            status = response.status_code
            if not 200 <= status < 300:
                self._raise_error(response, answer)
        if not isinstance(answer, dict) or not isinstance(answer.get("id"), str):
            raise SmsTemporaryError(
                "MessageBird gave an answer we do not understand.",
                provider=self.name,
                raw_code=f"HTTP {status}",
                raw_meaning="unexpected answer",
            )
        return SmsReceipt(
            provider_message_id=answer["id"][:64],
            raw_code=f"HTTP {status}",
            raw_meaning="accepted",
            segments=_segments(answer),
        )

    def _raise_error(self, response: requests.Response, answer: Any) -> None:
        found = _first_error(answer)
        if found is None:
            self.raise_for_transport_status(response)
            raise SmsConfigurationError(
                f"MessageBird refused the request (HTTP {response.status_code}).",
                provider=self.name,
                raw_code=f"HTTP {response.status_code}",
                raw_meaning="request refused",
            )
        code, parameter = found
        meaning, error, hint = CODES.get(
            code,
            (
                "unknown error code",
                SmsTemporaryError if response.status_code >= 500 else SmsConfigurationError,
                "see the MessageBird dashboard",
            ),
        )
        if code == 10 and parameter == "recipients":
            error, hint = SmsRecipientError, "MessageBird refused the phone number"
        elif code == 10 and parameter != "originator":
            hint = "check the settings"
        if parameter and code in (9, 10):
            meaning = f"{meaning} ({parameter})"
        raise error(
            f"MessageBird answered error {code} ({meaning}): {hint}.",
            provider=self.name,
            raw_code=str(code),
            raw_meaning=meaning,
        )
