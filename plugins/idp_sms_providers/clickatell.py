"""Clickatell Platform API: ``POST /messages`` with the integration's API key.

The raw key goes in the ``Authorization`` header (no "Bearer"); the JSON body carries
``content``, ``to`` (a list of digit strings), ``clientMessageId`` (our reference, echoed in
status callbacks) and, for two-way integrations only, ``from``. Success is HTTP 202 with one
entry per recipient: ``{"apiMessageId", "accepted", "to", "error"}``; an entry with
``accepted: false`` carries its own error. Errors, per message or for the whole request, are
a code with a description (an object in newer answers, a string in older ones) and are
judged by the code, then by the HTTP status.

Status callbacks: Clickatell POSTs JSON (``messageId``, ``clientMessageId``, ``status``,
``statusCode``, ``apiKey`` ...) to the address set on the integration. The callback names
the integration's API key; Poort refuses a callback that names another.
"""

from __future__ import annotations

import re
from typing import Any

import requests
from flask_babel import lazy_gettext
from wtforms import BooleanField, StringField
from wtforms.validators import InputRequired, Length

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
from idp.sms.http import retry_after
from idp.sms.reports import (
    DELIVERED,
    UNDELIVERED,
    BadSignature,
    CallbackRequest,
    DeliveryReport,
    MalformedReport,
    same,
    short,
)
from idp_sms_providers.common import HttpUrl, json_body, timeout_field

DEFAULT_ENDPOINT = "https://platform.clickatell.com"
_CONFIG, _RECIPIENT, _TEMPORARY = SmsConfigurationError, SmsRecipientError, SmsTemporaryError

#: Clickatell error codes: meaning, error class, what the admin should do.
CODES: dict[int, tuple[str, type[SmsError], str]] = {
    1: ("invalid or missing integration API key", _CONFIG, "check the API key"),
    2: ("account is not active", _CONFIG, "activate the Clickatell account"),
    3: ("integration is not active", _CONFIG, "activate the integration in the portal"),
    4: ("integration type mismatch", _CONFIG, "use a REST (HTTP) integration"),
    7: ("IP address not approved", _CONFIG, "allow this server's IP address on the integration"),
    18: ("internal error", _TEMPORARY, "a fault at Clickatell; try again later"),
    19: ("internal error, please retry", _TEMPORARY, "a fault at Clickatell; try again"),
    20: ("insufficient account balance", _CONFIG, "top up the Clickatell balance"),
    21: ("payload malformed", _CONFIG, "check the settings"),
    22: ("too many messages in one request", _CONFIG, "check the settings"),
    23: ("invalid or missing parameter", _CONFIG, "check the sender setting"),
    24: ("content too long", _CONFIG, "shorten the message template"),
    25: ("invalid recipient address", _RECIPIENT, "Clickatell refused the number"),
    26: ("recipient opted out", _RECIPIENT, "the user opted out of messages"),
    27: ("recipient not available on channel", _RECIPIENT, "the number cannot receive SMS"),
    28: ("recipient not in sandbox", _CONFIG, "add the number to the sandbox or go live"),
    43: ("rate limit", _TEMPORARY, "Clickatell throttled us; try again"),
    44: ("from number suspended", _CONFIG, "check the two-way number"),
    45: ("from number not linked to the integration", _CONFIG, "switch off 'send from'"),
    46: ("demo access expired", _CONFIG, "upgrade the Clickatell account"),
    100: ("maximum message parts exceeded", _CONFIG, "shorten the message template"),
    101: ("two-way restriction", _CONFIG, "check the integration's settings"),
    110: ("USA restriction", _CONFIG, "check the integration's settings"),
    111: ("USA restriction", _CONFIG, "check the integration's settings"),
}
#: Status codes of status callbacks (the numbers of the classic API's table).
STATUSES: dict[int, tuple[str, str | None]] = {
    1: ("message unknown", None),
    2: ("queued", None),
    3: ("delivered to gateway", None),
    4: ("received by recipient", DELIVERED),
    5: ("error with message", UNDELIVERED),
    6: ("cancelled by user", UNDELIVERED),
    7: ("error delivering message", UNDELIVERED),
    8: ("received by Clickatell", None),
    9: ("routing error", UNDELIVERED),
    10: ("message expired", UNDELIVERED),
    11: ("queued for later delivery", None),
    12: ("out of credit", UNDELIVERED),
    14: ("maximum MT limit exceeded", UNDELIVERED),
}
_NAMES = {
    "RECEIVED_BY_RECIPIENT": 4,
    "ERROR_WITH_MESSAGE": 5,
    "USER_CANCELLED": 6,
    "ERROR_DELIVERING": 7,
    "ROUTING_ERROR": 9,
    "EXPIRED": 10,
    "OUT_OF_CREDIT": 12,
    "MAX_MT_EXCEEDED": 14,
}
_STATUS_HTTP: dict[int, tuple[str, type[SmsError], str]] = {
    400: ("request refused", _CONFIG, "check the settings"),
    402: ("no credit", _CONFIG, "top up the Clickatell balance"),
    410: ("number blocked or unroutable", _RECIPIENT, "the number cannot receive SMS"),
}
_MESSAGE_ID = re.compile(r"^[0-9A-Za-z-]{1,64}$")


class ClickatellOptions(OptionsForm):
    api_key = SecretField(
        lazy_gettext("API key"),
        validators=[InputRequired(), Length(max=200)],
        description=lazy_gettext(
            "Of a REST integration: Clickatell portal > My workspace > integration."
        ),
    )
    send_from = BooleanField(
        lazy_gettext("Send the verifier's sender as 'from' (two-way integrations only)"),
        default=False,
    )
    endpoint = StringField(
        lazy_gettext("API address"),
        default=DEFAULT_ENDPOINT,
        validators=[InputRequired(), HttpUrl(), Length(max=500)],
    )
    timeout = timeout_field(5.0)


def _error(value: Any) -> tuple[int | None, bool]:
    """The code of a Clickatell error (object or string), and whether there is an error."""
    if value in (None, "", False):
        return None, False
    code: Any = value.get("code") if isinstance(value, dict) else None
    if code is None and isinstance(value, str):
        match = re.match(r"^\s*(\d{1,3})\b", value)
        code = match.group(1) if match else None
    if isinstance(code, str) and code.strip().isdigit():
        code = int(code)
    if isinstance(code, int) and not isinstance(code, bool):
        return code, True
    return None, True


class ClickatellProvider(HttpSmsProvider):
    name = "clickatell"
    title = "Clickatell"
    options_form = ClickatellOptions
    docs_url = "https://docs.clickatell.com/channels/sms-channels/sms-api-reference/"
    delivery_report_help = lazy_gettext(
        "In the Clickatell portal, open the integration, switch on 'Message status "
        "callbacks' (HTTP POST) and paste this address as the callback URL."
    )

    def send(self, message: SmsMessage) -> SmsReceipt:
        payload: dict[str, Any] = {"content": message.text, "to": [message.digits]}
        if self.options.get("send_from") and message.sender:
            payload["from"] = message.sender.lstrip("+")
        if message.reference:
            payload["clientMessageId"] = message.reference
        headers = {
            "Authorization": str(self.options.get("api_key") or ""),
            "Accept": "application/json",
        }
        url = (self.options.get("endpoint") or DEFAULT_ENDPOINT).rstrip("/") + "/messages"
        with self.request("POST", url, json=payload, headers=headers) as r:
            answer = json_body(r)
            status = r.status_code
            if not 200 <= status < 300:
                self._raise_request_error(r, answer)
        entries = answer.get("messages") if isinstance(answer, dict) else None
        if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict):
            code, failed = _error(answer.get("error") if isinstance(answer, dict) else None)
            if failed:
                self._raise_code(code, status)
            raise SmsTemporaryError(
                "Clickatell gave an answer we do not understand.",
                provider=self.name,
                raw_code=f"HTTP {status}",
                raw_meaning="unexpected answer",
            )
        entry = entries[0]
        code, failed = _error(entry.get("error"))
        if failed or entry.get("accepted") is not True:
            self._raise_code(code, status)
        return SmsReceipt(
            provider_message_id=short(entry.get("apiMessageId"), 64),
            raw_code=f"HTTP {status}",
            raw_meaning="accepted",
        )

    def _raise_request_error(self, response: requests.Response, answer: Any) -> None:
        code, _ = _error(answer.get("error") if isinstance(answer, dict) else None)
        if code is None and isinstance(answer, dict):
            entries = answer.get("messages")
            if isinstance(entries, list) and entries and isinstance(entries[0], dict):
                code, _ = _error(entries[0].get("error"))
        if code is None or code not in CODES:
            if response.status_code in _STATUS_HTTP:
                meaning, error, hint = _STATUS_HTTP[response.status_code]
                raise error(
                    f"Clickatell answered HTTP {response.status_code} ({meaning}): {hint}.",
                    provider=self.name,
                    raw_code=f"HTTP {response.status_code}",
                    raw_meaning=meaning,
                )
            self.raise_for_transport_status(response)
        self._raise_code(code, response.status_code, retry_after(response))

    def _raise_code(self, code: int | None, status: int, retry: int | None = None) -> None:
        if code is not None and code in CODES:
            meaning, error, hint = CODES[code]
        elif status >= 500:
            meaning, error, hint = "server error", _TEMPORARY, "a fault at Clickatell"
        else:
            meaning, error, hint = "message refused", _CONFIG, "see the Clickatell portal"
        kwargs: dict[str, Any] = {"retry_after": retry} if error is SmsTemporaryError else {}
        raw = str(code) if code is not None else f"HTTP {status}"
        raise error(
            f"Clickatell answered error {raw} ({meaning}): {hint}.",
            provider=self.name,
            raw_code=raw,
            raw_meaning=meaning,
            **kwargs,
        )

    # -- delivery reports ---------------------------------------------------------------------

    def parse_delivery_report(self, request: CallbackRequest) -> DeliveryReport | None:
        if "json" in request.content_type:
            body = request.json()
            if not isinstance(body, dict):
                raise MalformedReport("A Clickatell callback is a JSON object.")
            body = body.get("data", body) if isinstance(body.get("data"), dict) else body
        else:
            body = dict(request.values.items())
        key = str(body.get("apiKey") or body.get("integrationKey") or "")
        if not key or not same(key, str(self.options.get("api_key") or "")):
            raise BadSignature("The callback does not name this integration's API key.")
        message_id = str(body.get("messageId") or body.get("apiMessageId") or "")
        if not _MESSAGE_ID.match(message_id):
            raise MalformedReport("A Clickatell callback names a messageId.")
        raw = body.get("statusCode")
        code: int | None = None
        if isinstance(raw, int) and not isinstance(raw, bool):
            code = raw
        elif isinstance(raw, str) and raw.strip().isdigit():
            code = int(raw)
        name = str(body.get("status") or "").upper()
        if code is None:
            code = _NAMES.get(name)
        if code is None and not name:
            raise MalformedReport("A Clickatell callback names a status.")
        meaning, outcome = STATUSES.get(code or 0, ("unknown status", None))
        if outcome is None:
            return None
        return DeliveryReport(
            outcome=outcome,
            provider_message_id=message_id,
            reference=short(body.get("clientMessageId"), 32),
            raw_code=f"{code:03d}",
            reason=meaning,
        )
