"""A fake Vonage SMS API: ``POST /sms/json`` (reference F.9).

It takes the credentials as form fields or as a Basic header, requires ``from``, ``to``
(digits, no +) and ``text``, and always answers HTTP 200 with one entry per part, the parts
counted the way Vonage counts them (``type=unicode``: UCS-2 segments; otherwise GSM).

Scenarios (``fake.scenario``): ``success``; ``auth_failure`` (status 4); ``status:<n>`` (one
entry with that status and Vonage's error text); ``status:3:to`` (invalid to address);
``partial`` (a two-part message whose second part failed with status 1); ``server_error``
(500 HTML); ``malformed`` (200 HTML); ``slow`` and ``reset``.

:func:`receipt` builds the fields of a delivery receipt; :func:`signed` adds Vonage's ``sig``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from werkzeug.wrappers import Request, Response

from idp.sms.encoding import segments
from tests.fakes.http_server import FakeHttpApp, Recorded

API_KEY = "a1b2c3d4"
API_SECRET = "vonage-secret-91f"
SIGNATURE_SECRET = "vonage-signature-secret-55"
ERROR_TEXTS = {
    "1": "Throughput Rate Exceeded - please wait [ 30 ] and retry",
    "2": "Missing from param",
    "3": "Invalid from param",
    "4": "Bad Credentials",
    "5": "Internal Error",
    "6": "Unroutable message - rejected",
    "7": "Number barred.",
    "8": "Partner account barred.",
    "9": "Partner quota exceeded.",
    "11": "Account not enabled for HTTP",
    "12": "Message too long",
    "15": "Illegal Sender Address - rejected",
    "29": "Non White-listed Destination - rejected",
    "99": "Something Poort has never heard of",
}


def _entry(to: str, client_ref: str | None) -> dict[str, Any]:
    entry = {
        "to": to,
        "message-id": secrets.token_hex(8).upper(),
        "status": "0",
        "remaining-balance": "3.14159265",
        "message-price": "0.03330000",
        "network": "20408",
    }
    if client_ref:
        entry["client-ref"] = client_ref
    return entry


class VonageFake(FakeHttpApp):
    def answer(self, request: Request, recorded: Recorded) -> Response:
        r = recorded
        if r.path != "/sms/json" or r.method != "POST":
            return Response("Not Found", status=404)
        params = r.params
        key, secret = params.get("api_key"), params.get("api_secret")
        if key is None and request.authorization is not None:
            key, secret = request.authorization.username, request.authorization.password
        if key != API_KEY or secret != API_SECRET or r.scenario == "auth_failure":
            return self.failure("4")
        if r.scenario == "server_error":
            return self.server_error()
        if r.scenario == "malformed":
            return self.malformed()
        for name in ("from", "to", "text"):
            if not params.get(name):
                return self.json_response(
                    {
                        "message-count": "1",
                        "messages": [{"status": "2", "error-text": f"Missing {name} param"}],
                    }
                )
        to = params["to"]
        if not to.isdigit():
            return self.failure("3", "Invalid to address")
        if params.get("type", "text") not in ("text", "unicode", "binary"):
            return self.failure("3", "Invalid type")
        if r.scenario.startswith("status:"):
            _, code, *field = r.scenario.split(":")
            return self.failure(code, "Invalid to address" if field == ["to"] else None)
        client_ref = params.get("client-ref")
        if r.scenario == "partial":
            parts = [_entry(to, client_ref), {"status": "1", "error-text": ERROR_TEXTS["1"]}]
        else:
            count = segments(params["text"]).count
            parts = [_entry(to, client_ref) for _ in range(count)]
        return self.json_response({"message-count": str(len(parts)), "messages": parts})

    def failure(self, code: str, text: str | None = None) -> Response:
        entry = {"status": code, "error-text": text or ERROR_TEXTS.get(code, "Error")}
        return self.json_response({"message-count": "1", "messages": [entry]})


def receipt(
    message_id: str,
    status: str = "delivered",
    err_code: str = "0",
    client_ref: str | None = None,
) -> dict[str, str]:
    """The fields of a delivery receipt, as Vonage sends them."""
    fields = {
        "msisdn": "31612345678",
        "to": "Poort",
        "network-code": "20408",
        "messageId": message_id,
        "price": "0.03330000",
        "status": status,
        "scts": "2601051200",
        "err-code": err_code,
        "api-key": API_KEY,
        "message-timestamp": "2026-01-05 12:00:00",
    }
    if client_ref:
        fields["client-ref"] = client_ref
    return fields


def signed(
    fields: dict[str, str], secret: str = SIGNATURE_SECRET, method: str = "md5hash"
) -> dict[str, str]:
    """*fields* with a timestamp and Vonage's ``sig`` (written apart from the provider)."""
    fields = {**fields, "timestamp": "1767614400"}
    text = "".join(
        "&" + key + "=" + fields[key].replace("&", "_").replace("=", "_") for key in sorted(fields)
    )
    if method == "md5hash":
        sig = hashlib.md5((text + secret).encode(), usedforsecurity=False).hexdigest()
    else:
        sig = hmac.new(secret.encode(), text.encode(), method).hexdigest()
    return {**fields, "sig": sig}
