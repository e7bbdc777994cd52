"""Twilio Programmable Messaging: ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``.

HTTP basic authentication with the Account SID and the Auth Token; a form body with ``To``
(E.164 with +), ``Body`` and either ``From`` (the verifier's sender: a Twilio number or an
alphanumeric sender id) or ``MessagingServiceSid``. Success is HTTP 201 with the message
object (``sid`` "SM...", ``status`` queued or accepted). Errors come as JSON
``{"code", "message", "more_info", "status"}`` (newer services: RFC 9457 problem JSON with a
``code`` too) and are judged by Twilio's error code, then by the HTTP status.

Delivery reports: when Poort knows the verifier's callback address it sends it with every
message as ``StatusCallback``. Twilio then POSTs a form (``MessageSid``, ``MessageStatus``,
``ErrorCode`` ...) signed in ``X-Twilio-Signature``: base64 of HMAC-SHA1, keyed with the
Auth Token, over the full URL followed by every parameter name and value in name order.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from flask_babel import lazy_gettext
from wtforms import StringField
from wtforms.validators import InputRequired, Length, Optional, Regexp

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

DEFAULT_ENDPOINT = "https://api.twilio.com"
_CONFIG, _RECIPIENT, _TEMPORARY = SmsConfigurationError, SmsRecipientError, SmsTemporaryError

#: Twilio error codes of the send call: meaning, error class, what the admin should do.
CODES: dict[int, tuple[str, type[SmsError], str]] = {
    20001: ("unknown parameter", _CONFIG, "check the settings"),
    20003: ("authentication failed", _CONFIG, "check the Account SID and the Auth Token"),
    20005: ("account not active", _CONFIG, "the Twilio account is suspended or closed"),
    20008: ("test credentials cannot do this", _CONFIG, "use the live Account SID and token"),
    20404: ("resource not found", _CONFIG, "check the Account SID (AC...)"),
    20429: ("too many concurrent requests", _TEMPORARY, "Twilio throttled us; try again"),
    20500: ("internal server error", _TEMPORARY, "a fault at Twilio; try again later"),
    20503: ("service unavailable", _TEMPORARY, "Twilio is unavailable; try again later"),
    21211: ("invalid To number", _RECIPIENT, "Twilio refused the phone number"),
    21212: ("invalid From number", _CONFIG, "check the sender"),
    21401: ("invalid phone number", _CONFIG, "check the sender"),
    21408: (
        "sending to this country is not enabled",
        _CONFIG,
        "allow the country under Messaging > Settings > Geo permissions",
    ),
    21602: ("message body is required", _CONFIG, "the message text is empty"),
    21604: ("To number is required", _CONFIG, "the phone number was not sent"),
    21606: ("From number cannot send SMS", _CONFIG, "use a sender that can send SMS"),
    21608: (
        "trial account: the number is not verified",
        _CONFIG,
        "verify the number in the Twilio console, or upgrade the account",
    ),
    21610: ("recipient unsubscribed (replied STOP)", _RECIPIENT, "the user opted out"),
    21612: ("To and From cannot be combined", _RECIPIENT, "Twilio cannot route to this number"),
    21614: ("To is not a mobile number", _RECIPIENT, "the number cannot receive SMS"),
    21617: ("message body too long", _CONFIG, "shorten the message template"),
    21635: ("To is a landline", _RECIPIENT, "the number cannot receive SMS"),
    21659: (
        "From is not a Twilio number",
        _CONFIG,
        "use one of your Twilio numbers or a sender id",
    ),
    21701: ("messaging service not found", _CONFIG, "check the Messaging Service SID"),
    21703: ("messaging service has no senders", _CONFIG, "add a sender to the service"),
}

#: Error codes in status callbacks (the message was accepted, then failed on the way).
DELIVERY_CODES: dict[str, str] = {
    "30001": "queue overflow",
    "30002": "account suspended",
    "30003": "destination handset unreachable",
    "30004": "message blocked",
    "30005": "unknown destination handset",
    "30006": "landline or unreachable carrier",
    "30007": "carrier filtering",
    "30008": "unknown error",
    "30034": "sender not registered (US A2P 10DLC)",
}
_FINAL = {"delivered": DELIVERED, "undelivered": UNDELIVERED, "failed": UNDELIVERED}
_MESSAGE_SID = re.compile(r"^(SM|MM)[0-9a-fA-F]{32}$")


class TwilioOptions(OptionsForm):
    account_sid = StringField(
        "Account SID",
        validators=[
            InputRequired(),
            Regexp(
                r"^AC[0-9a-fA-F]{32}$",
                message=lazy_gettext("An Account SID is AC followed by 32 hex."),
            ),
        ],
        description=lazy_gettext("On the Twilio console's dashboard, under Account Info."),
    )
    auth_token = SecretField(
        "Auth Token",
        validators=[InputRequired(), Length(max=200)],
        description=lazy_gettext(
            "Beside the Account SID; it also checks the signature of status callbacks."
        ),
    )
    messaging_service_sid = StringField(
        lazy_gettext("Messaging Service SID (optional)"),
        validators=[
            Optional(),
            Regexp(
                r"^MG[0-9a-fA-F]{32}$",
                message=lazy_gettext("A Messaging Service SID is MG + 32 hex."),
            ),
        ],
        description=lazy_gettext(
            "When set, Twilio picks the sender from the service; the verifier's sender is not used."
        ),
    )
    endpoint = StringField(
        lazy_gettext("API address"),
        default=DEFAULT_ENDPOINT,
        validators=[InputRequired(), HttpUrl(), Length(max=500)],
    )
    timeout = timeout_field(5.0)


def _error_code(answer: Any) -> int | None:
    """Twilio's error code in a classic or an RFC 9457 error answer."""
    if isinstance(answer, dict):
        code = answer.get("code")
        if isinstance(code, int) and not isinstance(code, bool):
            return code
        if isinstance(code, str) and code.isdigit():
            return int(code)
    return None


def _segments(answer: dict[str, Any]) -> int | None:
    value = answer.get("num_segments")
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    return value if isinstance(value, int) and value >= 1 else None


def signature(token: str, url: str, params: Any) -> str:
    """The X-Twilio-Signature of a callback to *url* with form *params* (a MultiDict)."""
    payload = url
    for name in sorted(set(params.keys())):
        for value in sorted(params.getlist(name)):
            payload += name + value
    digest = hmac.new(token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def url_variants(url: str) -> list[str]:
    """*url* as called, and with the default port added or removed (Twilio signs either)."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        return [url]
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    variants = [url]
    if port is None and default is not None:
        variants.append(urlunsplit(parts._replace(netloc=f"{prefix}{host}:{default}")))
    elif port is not None and port == default:
        variants.append(urlunsplit(parts._replace(netloc=f"{prefix}{host}")))
    return variants


class TwilioProvider(HttpSmsProvider):
    name = "twilio"
    title = "Twilio"
    options_form = TwilioOptions
    docs_url = "https://www.twilio.com/docs/messaging/api/message-resource"
    delivery_report_help = lazy_gettext(
        "Nothing to paste: Poort sends this address with every message as its status "
        "callback, and checks Twilio's signature with the Auth Token. For a callback on a "
        "Messaging Service, paste it under Integration > Status callback URL."
    )

    @property
    def messages_url(self) -> str:
        base = (self.options.get("endpoint") or DEFAULT_ENDPOINT).rstrip("/")
        return f"{base}/2010-04-01/Accounts/{self.options.get('account_sid') or ''}/Messages.json"

    def send(self, message: SmsMessage) -> SmsReceipt:
        data = {"To": message.recipient, "Body": message.text}
        service = self.options.get("messaging_service_sid")
        if service:
            data["MessagingServiceSid"] = service
        elif message.sender:
            data["From"] = message.sender
        else:
            raise SmsConfigurationError(
                "Twilio needs a sender or a Messaging Service SID; set one on the verifier.",
                provider=self.name,
                raw_meaning="no sender",
            )
        if self.context.callback_url:
            data["StatusCallback"] = self.context.callback_url
        auth = (self.options.get("account_sid") or "", self.options.get("auth_token") or "")
        headers = {"Accept": "application/json"}
        with self.request("POST", self.messages_url, data=data, auth=auth, headers=headers) as r:
            answer = json_body(r)
            status = r.status_code
            if not 200 <= status < 300:
                self._raise_error(r, answer)
        if not isinstance(answer, dict) or not isinstance(answer.get("sid"), str):
            raise SmsTemporaryError(
                "Twilio gave an answer we do not understand.",
                provider=self.name,
                raw_code=f"HTTP {status}",
                raw_meaning="unexpected answer",
            )
        state = answer.get("status")
        meaning = state if isinstance(state, str) and state.isalpha() else "accepted"
        return SmsReceipt(
            provider_message_id=answer["sid"][:64],
            raw_code=f"HTTP {status}",
            raw_meaning=meaning[:40],
            segments=_segments(answer),
        )

    def _raise_error(self, response: requests.Response, answer: Any) -> None:
        code = _error_code(answer)
        if code is None:
            self.raise_for_transport_status(response)
            raise SmsConfigurationError(
                f"Twilio refused the request (HTTP {response.status_code}).",
                provider=self.name,
                raw_code=f"HTTP {response.status_code}",
                raw_meaning="request refused",
            )
        status = response.status_code
        if code in CODES:
            meaning, error, hint = CODES[code]
        elif status >= 500 or status == 429:
            meaning, error, hint = "server error", _TEMPORARY, "a fault at Twilio; try again"
        elif status in (401, 403):
            meaning, error, hint = "not allowed", _CONFIG, "check the Account SID and token"
        elif 21200 <= code < 21300 or 21600 <= code < 21700:
            meaning, error, hint = "phone number refused", _RECIPIENT, "Twilio refused the number"
        else:
            meaning, error, hint = "request refused", _CONFIG, "see the Twilio error page"
        kwargs: dict[str, Any] = {}
        if error is SmsTemporaryError:
            kwargs["retry_after"] = retry_after(response)
        raise error(
            f"Twilio answered error {code} ({meaning}): {hint}.",
            provider=self.name,
            raw_code=str(code),
            raw_meaning=meaning,
            **kwargs,
        )

    # -- delivery reports ---------------------------------------------------------------------

    def parse_delivery_report(self, request: CallbackRequest) -> DeliveryReport | None:
        given = request.header("X-Twilio-Signature")
        if not given:
            raise BadSignature("The callback has no X-Twilio-Signature.")
        token = str(self.options.get("auth_token") or "")
        params = request.form if request.method == "POST" else request.args
        if not any(same(signature(token, url, params), given) for url in url_variants(request.url)):
            raise BadSignature("The X-Twilio-Signature does not match.")
        sid = params.get("MessageSid") or params.get("SmsSid") or ""
        status = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
        if not _MESSAGE_SID.match(sid) or not status.isalpha():
            raise MalformedReport("A Twilio status callback names a MessageSid and a status.")
        account = params.get("AccountSid")
        if account and account != self.options.get("account_sid"):
            raise MalformedReport("The callback is for another Twilio account.")
        outcome = _FINAL.get(status)
        if outcome is None:
            return None
        code = short(params.get("ErrorCode"), 10)
        reason = status
        if outcome == UNDELIVERED and code:
            reason = DELIVERY_CODES.get(code, f"{status} (error {code})")
        return DeliveryReport(
            outcome=outcome,
            provider_message_id=sid,
            raw_code=code if code and code.isdigit() else status,
            reason=reason,
        )
