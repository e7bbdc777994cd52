"""Vonage (formerly Nexmo) SMS API: ``POST /sms/json`` with the API key and secret.

A form body with ``api_key``, ``api_secret``, ``from``, ``to`` (digits, no +), ``text``,
``type=unicode`` when the text needs UCS-2, and ``client-ref`` (our reference, echoed in
delivery receipts). Vonage always answers HTTP 200 with ``{"message-count", "messages"}``,
one entry per part; each entry has its own ``status`` ("0" = accepted). A message counts as
sent only when every part was accepted.

Delivery receipts: Vonage calls the address set in the dashboard (or sent with the message
as ``callback``) with GET or POST fields ``messageId``, ``status``, ``err-code``,
``client-ref``, ... one receipt per part. With "signed webhooks" switched on, a ``sig``
field signs them with the signature secret; Poort checks it when the secret is filled in.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

from flask_babel import lazy_gettext
from wtforms import SelectField, StringField
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
from idp.sms.encoding import GSM7, segments
from idp.sms.errors import SmsError
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
from idp_sms_providers.fields import choices

DEFAULT_ENDPOINT = "https://rest.nexmo.com"
_CONFIG, _RECIPIENT, _TEMPORARY = SmsConfigurationError, SmsRecipientError, SmsTemporaryError

#: The per-message ``status`` of the SMS API: meaning, error class, what the admin should do.
CODES: dict[str, tuple[str, type[SmsError], str]] = {
    "1": ("throttled", _TEMPORARY, "sending faster than the account allows; try again"),
    "2": ("missing parameters", _CONFIG, "a required field is empty; check the sender"),
    "3": ("invalid parameters", _CONFIG, "a field was refused; check the sender"),
    "4": ("invalid credentials", _CONFIG, "check the API key and secret"),
    "5": ("internal error", _TEMPORARY, "a fault at Vonage; try again later"),
    "6": ("invalid message (unroutable number)", _RECIPIENT, "Vonage cannot route to it"),
    "7": ("number barred", _RECIPIENT, "the number is blocked at Vonage"),
    "8": ("partner account barred", _CONFIG, "the Vonage account is suspended"),
    "9": ("partner quota violation (no credit)", _CONFIG, "top up the Vonage balance"),
    "10": ("too many existing binds", _TEMPORARY, "try again later"),
    "11": ("account not enabled for HTTP", _CONFIG, "ask Vonage to enable the SMS API"),
    "12": ("message too long", _CONFIG, "shorten the message template"),
    "14": ("invalid signature", _CONFIG, "check the API secret"),
    "15": ("invalid sender address", _CONFIG, "use a sender allowed for this country"),
    "22": ("invalid network code", _CONFIG, "check the settings"),
    "23": ("invalid callback URL", _CONFIG, "check Poort's issuer address"),
    "29": (
        "non-whitelisted destination",
        _CONFIG,
        "add the number to the test numbers or top up the account (trial accounts)",
    ),
    "32": ("signature and API secret disallowed", _CONFIG, "use the API secret, not signing"),
    "33": ("number de-activated", _RECIPIENT, "the number is no longer in use"),
}
#: ``err-code`` of a delivery receipt.
RECEIPT_ERRORS: dict[str, str] = {
    "0": "delivered",
    "1": "unknown",
    "2": "absent subscriber (temporary)",
    "3": "absent subscriber (permanent)",
    "4": "call barred by user",
    "5": "portability error",
    "6": "anti-spam rejection",
    "7": "handset busy",
    "8": "network error",
    "9": "illegal number",
    "10": "illegal message",
    "11": "unroutable",
    "12": "destination unreachable",
    "13": "subscriber age restriction",
    "14": "number blocked by carrier",
    "15": "prepaid insufficient funds",
    "99": "general error",
}
_FINAL = {
    "delivered": DELIVERED,
    "expired": UNDELIVERED,
    "failed": UNDELIVERED,
    "rejected": UNDELIVERED,
}
_TO_FIELD = re.compile(r"(?i)\bto\b")
_MESSAGE_ID = re.compile(r"^[0-9A-Za-z-]{1,40}$")
SIGNATURE_METHODS = ("md5hash", "md5", "sha1", "sha256", "sha512")


class VonageOptions(OptionsForm):
    api_key = StringField(
        lazy_gettext("API key"),
        validators=[InputRequired(), Length(max=40)],
        description=lazy_gettext("At the top of the Vonage API dashboard."),
    )
    api_secret = SecretField(
        lazy_gettext("API secret"), validators=[InputRequired(), Length(max=200)]
    )
    signature_secret = SecretField(
        lazy_gettext("Signature secret (optional)"),
        validators=[Optional(), Length(max=200)],
        description=lazy_gettext(
            "Only when signed webhooks are switched on in the dashboard: delivery "
            "receipts without a valid signature are then refused."
        ),
    )
    signature_method = SelectField(
        lazy_gettext("Signature method"),
        choices=choices(*((m, m) for m in SIGNATURE_METHODS)),
        default="md5hash",
    )
    endpoint = StringField(
        lazy_gettext("API address"),
        default=DEFAULT_ENDPOINT,
        validators=[InputRequired(), HttpUrl(), Length(max=500)],
    )
    timeout = timeout_field(5.0)


def webhook_signature(params: dict[str, str], secret: str, method: str) -> str:
    """Vonage's ``sig`` over *params* (without ``sig``): sorted ``&key=value`` pairs, in which
    ``&`` and ``=`` of values become ``_``; MD5 of that plus the secret (``md5hash``), or an
    HMAC keyed with the secret."""
    payload = "".join(
        f"&{key}={str(params[key]).replace('&', '_').replace('=', '_')}" for key in sorted(params)
    )
    if method == "md5hash":
        return hashlib.md5((payload + secret).encode(), usedforsecurity=False).hexdigest()
    return hmac.new(secret.encode(), payload.encode(), method).hexdigest()


def _sender(sender: str) -> str:
    """A numeric sender goes without + or 00, an alphanumeric one as it is."""
    if sender.lstrip("+").isdigit():
        return sender.lstrip("+").removeprefix("00")
    return sender


class VonageProvider(HttpSmsProvider):
    name = "vonage"
    title = "Vonage (Nexmo)"
    options_form = VonageOptions
    docs_url = "https://developer.vonage.com/en/messaging/sms/overview"
    delivery_report_help = lazy_gettext(
        "In the Vonage API dashboard, Settings > SMS settings: paste this address as the "
        "Delivery receipts webhook (GET or POST). Poort also sends it with each message when "
        "it is at most 100 characters long."
    )

    def send(self, message: SmsMessage) -> SmsReceipt:
        if not message.sender:
            raise SmsConfigurationError(
                "Vonage needs a sender; set one on the verifier.",
                provider=self.name,
                raw_meaning="no sender",
            )
        data = {
            "api_key": self.options.get("api_key") or "",
            "api_secret": self.options.get("api_secret") or "",
            "from": _sender(message.sender),
            "to": message.digits,
            "text": message.text,
        }
        if segments(message.text).encoding != GSM7:
            data["type"] = "unicode"
        if message.reference:
            data["client-ref"] = message.reference
        callback = self.context.callback_url
        if callback and len(callback) <= 100:
            data["callback"] = callback
            data["status-report-req"] = "1"
        url = (self.options.get("endpoint") or DEFAULT_ENDPOINT).rstrip("/") + "/sms/json"
        with self.request("POST", url, data=data, headers={"Accept": "application/json"}) as r:
            self.raise_for_transport_status(r)
            answer = json_body(r)
            status = r.status_code
        parts = answer.get("messages") if isinstance(answer, dict) else None
        if not 200 <= status < 300 or not isinstance(parts, list) or not parts:
            raise SmsTemporaryError(
                "Vonage gave an answer we do not understand.",
                provider=self.name,
                raw_code=f"HTTP {status}",
                raw_meaning="unexpected answer",
            )
        for part in parts:
            code = str(part.get("status")) if isinstance(part, dict) else "?"
            if code != "0":
                self._raise_status(code, part if isinstance(part, dict) else {}, len(parts))
        first = parts[0].get("message-id")
        return SmsReceipt(
            provider_message_id=short(first, 64),
            raw_code="0",
            raw_meaning="accepted",
            segments=len(parts),
        )

    def _raise_status(self, code: str, part: dict[str, Any], count: int) -> None:
        if code in CODES:
            meaning, error, hint = CODES[code]
        else:
            meaning, error, hint = "unknown status", _CONFIG, "see the Vonage dashboard"
        if code == "3" and _TO_FIELD.search(str(part.get("error-text") or "")):
            meaning, error, hint = "invalid to address", _RECIPIENT, "Vonage refused the number"
        partly = " (some parts of the message were sent)" if count > 1 else ""
        raise error(
            f"Vonage answered status {code} ({meaning}){partly}: {hint}.",
            provider=self.name,
            raw_code=code[:10],
            raw_meaning=meaning,
        )

    # -- delivery reports ---------------------------------------------------------------------

    def parse_delivery_report(self, request: CallbackRequest) -> DeliveryReport | None:
        fields: dict[str, str]
        if "json" in request.content_type:
            body = request.json()
            if not isinstance(body, dict):
                raise MalformedReport("A Vonage receipt is a JSON object.")
            fields = {str(k): str(v) for k, v in body.items() if not isinstance(v, dict | list)}
        else:
            fields = {k: v for k, v in request.values.items()}
        secret = str(self.options.get("signature_secret") or "")
        if secret:
            given = fields.pop("sig", "")
            method = str(self.options.get("signature_method") or "md5hash")
            if not given or not same(webhook_signature(fields, secret, method), given.lower()):
                raise BadSignature("The Vonage receipt is not signed with the signature secret.")
        message_id = fields.get("messageId") or fields.get("message-id") or ""
        status = fields.get("status", "").lower()
        if not _MESSAGE_ID.match(message_id) or not status.isalpha():
            raise MalformedReport("A Vonage receipt names a messageId and a status.")
        reference = short(fields.get("client-ref"), 32)
        outcome = _FINAL.get(status)
        if outcome is None:
            return None
        code = short(fields.get("err-code"), 4)
        reason = status
        if outcome == UNDELIVERED and code:
            reason = f"{status}: {RECEIPT_ERRORS.get(code, 'error ' + code)}"
        return DeliveryReport(
            outcome=outcome,
            provider_message_id=message_id,
            reference=reference,
            raw_code=f"{status}:{code}" if code else status,
            reason=reason,
        )
