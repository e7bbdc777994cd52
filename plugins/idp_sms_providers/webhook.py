"""Bring your own gateway: Poort POSTs each message as signed JSON to an address you run.

The body is ``{"recipient": "+31612345678", "text": "...", "sender": "Poort",
"reference": "<our id>"}``. It is signed the Standard Webhooks way (v1): the headers
``webhook-id`` (the reference), ``webhook-timestamp`` (Unix seconds) and ``webhook-signature``
(``v1,<base64 of HMAC-SHA256 over "<id>.<timestamp>.<body>">``). The key is the secret's
bytes; a secret written as ``whsec_<base64>`` is base64-decoded first, as Standard Webhooks
libraries do.

The receiver answers 2xx when it took the message (optionally with ``{"id": "..."}``, its
own id); 4xx when it refuses our request (a configuration error; ``{"error": "recipient"}``
with the 4xx says the number is the problem); 5xx, 429 or no answer within the timeout is
temporary; a redirect (3xx) is a configuration error (the address moved).

Delivery reports: the receiver may later POST ``{"reference": "...", "status":
"delivered" | "undelivered", "reason": "..."}`` to the verifier's callback address, signed
the same way with the same secret; Poort refuses unsigned, wrongly signed and stale ones.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from typing import Any

from flask_babel import lazy_gettext
from wtforms import StringField
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

#: How old (or how far in the future) a signed delivery report may be, in seconds.
TOLERANCE = 300
_REFERENCE = re.compile(r"^[0-9A-Za-z_-]{1,64}$")
_STATUS = {DELIVERED: DELIVERED, UNDELIVERED: UNDELIVERED, "failed": UNDELIVERED}


def secret_key(secret: str) -> bytes:
    """The HMAC key: the base64 after ``whsec_``, or the secret's own UTF-8 bytes."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError):
            pass
    return secret.encode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value for one request."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class WebhookOptions(OptionsForm):
    url = StringField(
        lazy_gettext("Your gateway's address"),
        validators=[InputRequired(), HttpUrl(), Length(max=500)],
        description=lazy_gettext("Poort POSTs each message here as signed JSON."),
    )
    secret = SecretField(
        lazy_gettext("Signing secret"),
        validators=[InputRequired(), Length(min=16, max=200)],
        description=lazy_gettext(
            "At least 16 characters; a Standard Webhooks secret (whsec_...) works "
            "as it is. Your gateway checks the signature with it."
        ),
    )
    timeout = timeout_field(5.0)


class WebhookProvider(HttpSmsProvider):
    name = "webhook"
    #: Kept as written (a new verifier's default title); pages show it translated.
    title = "Your own gateway (signed webhook)"
    _title_text = lazy_gettext("Your own gateway (signed webhook)")  # for the catalogues
    options_form = WebhookOptions
    docs_url = "https://www.standardwebhooks.com/"
    delivery_report_help = lazy_gettext(
        "Let your gateway POST delivery reports as signed JSON to this address "
        '({"reference": ..., "status": "delivered" or "undelivered", "reason": ...}).'
    )

    def send(self, message: SmsMessage) -> SmsReceipt:
        payload = {
            "recipient": message.recipient,
            "text": message.text,
            "sender": message.sender,
            "reference": message.reference,
        }
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        message_id = message.reference or secrets.token_hex(16)
        timestamp = int(self.context.clock().timestamp())
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(
                str(self.options.get("secret") or ""), message_id, timestamp, body
            ),
        }
        url = self.options["url"]
        with self.request("POST", url, data=body, headers=headers, allow_redirects=False) as r:
            status = r.status_code
            answer = json_body(r)
            empty = not r.content.strip()
        if 200 <= status < 300:
            if not empty and answer is None:
                raise SmsTemporaryError(
                    "Your gateway answered with something that is not JSON.",
                    provider=self.name,
                    raw_code=f"HTTP {status}",
                    raw_meaning="unexpected answer",
                )
            gateway_id = answer.get("id") if isinstance(answer, dict) else None
            return SmsReceipt(
                provider_message_id=short(gateway_id, 64) or message.reference,
                raw_code=f"HTTP {status}",
                raw_meaning="accepted",
            )
        if 300 <= status < 400:
            raise SmsConfigurationError(
                f"Your gateway redirected the request (HTTP {status}); enter the address it "
                "redirects to.",
                provider=self.name,
                raw_code=f"HTTP {status}",
                raw_meaning="redirected",
            )
        if status >= 500 or status == 429:
            raise SmsTemporaryError(
                f"Your gateway answered HTTP {status}.",
                provider=self.name,
                raw_code=f"HTTP {status}",
                raw_meaning="rate limited" if status == 429 else "gateway error",
            )
        if isinstance(answer, dict) and answer.get("error") == "recipient":
            raise SmsRecipientError(
                "Your gateway refused the phone number.",
                provider=self.name,
                raw_code=f"HTTP {status}",
                raw_meaning="recipient refused",
            )
        raise SmsConfigurationError(
            f"Your gateway refused the request (HTTP {status}); check its address and the "
            "signing secret.",
            provider=self.name,
            raw_code=f"HTTP {status}",
            raw_meaning="authentication failed" if status in (401, 403) else "request refused",
        )

    # -- delivery reports ---------------------------------------------------------------------

    def parse_delivery_report(self, request: CallbackRequest) -> DeliveryReport | None:
        message_id = request.header("webhook-id") or ""
        stamp = request.header("webhook-timestamp") or ""
        given = (request.header("webhook-signature") or "").split()
        if not message_id or not stamp.isdigit() or not given:
            raise BadSignature("The report lacks the webhook-id, -timestamp or -signature.")
        expected = sign(str(self.options.get("secret") or ""), message_id, int(stamp), request.body)
        if not any(same(expected, candidate) for candidate in given):
            raise BadSignature("The webhook-signature does not match.")
        if abs(self.context.clock().timestamp() - int(stamp)) > TOLERANCE:
            raise BadSignature("The report's timestamp is too old or in the future.")
        data: Any = request.json()
        if not isinstance(data, dict):
            raise MalformedReport("A report is a JSON object.")
        reference = data.get("reference")
        gateway_id = data.get("id")
        status = str(data.get("status") or "").lower()
        if not (isinstance(reference, str) and _REFERENCE.match(reference)) and not (
            isinstance(gateway_id, str) and _REFERENCE.match(gateway_id)
        ):
            raise MalformedReport("A report names the reference Poort sent (or your id).")
        if not status.isalpha():
            raise MalformedReport("A report has a status.")
        outcome = _STATUS.get(status)
        if outcome is None:
            return None
        reason = data.get("reason")
        reason = short(reason, 100) if isinstance(reason, str) else None
        return DeliveryReport(
            outcome=outcome,
            provider_message_id=gateway_id if isinstance(gateway_id, str) else None,
            reference=reference if isinstance(reference, str) else None,
            raw_code=status,
            reason=reason or status,
        )
