"""sipgate (Germany): the REST API ``POST /v2/sessions/sms``.

HTTP basic authentication with a personal access token (user: the token id, password: the
token; scope ``sessions:sms:write``), or with the account's user name and password. A JSON
body ``{"smsId": "s0", "recipient": "+49...", "message": "..."}``; success is any 2xx
with an empty body (204); a 2xx answer carrying a page instead is not sipgate's and counts as
a temporary failure. Errors are told by the HTTP status alone.

sipgate switched its old XML-RPC API ("samurai") off; privacyIDEA's "Sipgate provider" used
it, and a configuration taken over from privacyIDEA maps to this provider: the sipgate user
name and password go into token id and token, plus the web-SMS extension id.

The sender is not chosen per message: sipgate sends with the caller id set for the SMS
extension in the sipgate app (or "sipgate"). There are no delivery reports.
"""

from __future__ import annotations

import requests
from flask_babel import lazy_gettext
from wtforms import StringField
from wtforms.validators import InputRequired, Length, Regexp

from idp.options import OptionsForm, SecretField
from idp.sms import (
    HttpSmsProvider,
    SmsConfigurationError,
    SmsMessage,
    SmsReceipt,
    SmsTemporaryError,
)
from idp.sms.errors import SmsError
from idp_sms_providers.common import HttpUrl, timeout_field

DEFAULT_ENDPOINT = "https://api.sipgate.com"
_CONFIG, _TEMPORARY = SmsConfigurationError, SmsTemporaryError
#: HTTP statuses of sessions/sms: meaning, error class, what the admin should do.
STATUSES: dict[int, tuple[str, type[SmsError], str]] = {
    400: ("bad request", _CONFIG, "sipgate refused a field; check the SMS extension id"),
    401: ("wrong token", _CONFIG, "check the token id and token"),
    402: ("insufficient balance", _CONFIG, "top up the sipgate account"),
    403: (
        "no permission for this SMS extension",
        _CONFIG,
        "check the SMS extension id, that SMS is booked, and the token's scope sessions:sms:write",
    ),
    404: ("wrong endpoint", _CONFIG, "check the API address"),
    405: ("wrong method", _CONFIG, "check the API address"),
    415: ("wrong content type", _CONFIG, "check the API address"),
}


class SipgateOptions(OptionsForm):
    token_id = StringField(
        lazy_gettext("Token id (or sipgate user name)"),
        validators=[InputRequired(), Length(max=200)],
        description=lazy_gettext(
            "sipgate app > Personal access tokens; the token needs the scope sessions:sms:write."
        ),
    )
    token = SecretField(
        lazy_gettext("Token (or password)"), validators=[InputRequired(), Length(max=200)]
    )
    sms_id = StringField(
        lazy_gettext("SMS extension id"),
        default="s0",
        validators=[
            InputRequired(),
            Regexp(
                r"^s\d{1,10}$",
                message=lazy_gettext("An SMS extension id is s followed by digits (s0)."),
            ),
        ],
        description=lazy_gettext(
            "The web-SMS extension, such as s0 (GET /v2/{userId}/sms lists them)."
        ),
    )
    endpoint = StringField(
        lazy_gettext("API address"),
        default=DEFAULT_ENDPOINT,
        validators=[InputRequired(), HttpUrl(), Length(max=500)],
    )
    timeout = timeout_field(5.0)


class SipgateProvider(HttpSmsProvider):
    name = "sipgate"
    title = "sipgate"
    options_form = SipgateOptions
    docs_url = "https://developer.sipgate.io/rest-api/api-reference/"

    def send(self, message: SmsMessage) -> SmsReceipt:
        payload = {
            "smsId": self.options.get("sms_id") or "s0",
            "recipient": message.recipient,
            "message": message.text,
        }
        auth = (str(self.options.get("token_id") or ""), str(self.options.get("token") or ""))
        url = (self.options.get("endpoint") or DEFAULT_ENDPOINT).rstrip("/") + "/v2/sessions/sms"
        headers = {"Accept": "application/json"}
        with self.request("POST", url, json=payload, auth=auth, headers=headers) as response:
            return self._answer(response)

    def _answer(self, response: requests.Response) -> SmsReceipt:
        status = response.status_code
        # sipgate answers 204 without a body; a page in a 2xx answer is a proxy, not sipgate.
        page = bool(response.content.strip()) and "json" not in response.headers.get(
            "Content-Type", ""
        )
        if 200 <= status < 300 and not page:
            return SmsReceipt(raw_code=f"HTTP {status}", raw_meaning="accepted")
        if status in STATUSES:
            meaning, error, hint = STATUSES[status]
            raise error(
                f"sipgate answered HTTP {status} ({meaning}): {hint}.",
                provider=self.name,
                raw_code=f"HTTP {status}",
                raw_meaning=meaning,
            )
        self.raise_for_transport_status(response)
        raise SmsTemporaryError(
            f"sipgate answered HTTP {status}.",
            provider=self.name,
            raw_code=f"HTTP {status}",
            raw_meaning="unexpected answer",
        )
