"""A fake customer gateway for the webhook provider: it checks Poort's Standard Webhooks
signature the way a receiver following docs/providers.md does, and answers by scenario.

Checks: ``POST /sms``, ``Content-Type: application/json``; headers ``webhook-id``,
``webhook-timestamp`` (within five minutes of now) and ``webhook-signature`` (``v1,<base64>``
of HMAC-SHA256 over ``id.timestamp.body`` with :data:`SECRET`); a JSON body with string
``recipient`` (E.164), ``text``, ``reference`` and ``sender`` (string or null). A request that
fails a check gets 401 (signature) or 400 (body).

Scenarios (``fake.scenario``): ``success`` (200 ``{"id": ...}``); ``no_content`` (204);
``auth_failure`` (401); ``recipient`` (422 ``{"error": "recipient"}``); ``bad_request`` (400);
``rate_limited`` (429); ``redirect`` (302); ``server_error`` (500 HTML); ``malformed``
(200 HTML); ``slow`` and ``reset``.

:func:`signed_report` builds a delivery report as such a gateway would POST it back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.fakes.http_server import FakeHttpApp, Recorded

SECRET = "whsec_" + base64.b64encode(b"poort-webhook-test-key-32-bytes!").decode()
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def signature(secret: str, message_id: str, timestamp: str, body: bytes) -> str:
    key = (
        base64.b64decode(secret.removeprefix("whsec_"))
        if secret.startswith("whsec_")
        else secret.encode()
    )
    mac = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


class WebhookReceiverFake(FakeHttpApp):
    def __init__(self, secret: str = SECRET) -> None:
        super().__init__()
        self.secret = secret
        #: The receiver's clock (Unix seconds); a test with a fake clock replaces it.
        self.now = time.time

    def answer(self, request: Request, recorded: Recorded) -> Response:
        r = recorded
        if r.path != "/sms" or r.method != "POST":
            return Response("", status=404)
        message_id = r.headers.get("Webhook-Id", "")
        stamp = r.headers.get("Webhook-Timestamp", "")
        given = r.headers.get("Webhook-Signature", "").split()
        expected = signature(self.secret, message_id, stamp, r.body)
        if (
            not message_id
            or not stamp.isdigit()
            or abs(self.now() - int(stamp)) > 300
            or not any(hmac.compare_digest(expected, s) for s in given)
            or r.scenario == "auth_failure"
        ):
            return self.json_response({"error": "signature"}, 401)
        data: Any = r.json
        if (
            r.content_type != "application/json"
            or not isinstance(data, dict)
            or not E164.match(str(data.get("recipient")))
            or not isinstance(data.get("text"), str)
            or not isinstance(data.get("reference"), str)
            or not isinstance(data.get("sender"), str | None)
        ):
            return self.json_response({"error": "bad request"}, 400)
        simple = {
            "no_content": Response(status=204),
            "recipient": self.json_response({"error": "recipient"}, 422),
            "bad_request": self.json_response({"error": "bad request"}, 400),
            "rate_limited": self.json_response({"error": "slow down"}, 429),
            "redirect": Response("", status=302, headers={"Location": "/elsewhere"}),
            "server_error": self.server_error(),
            "malformed": self.malformed(),
        }
        if r.scenario in simple:
            return simple[r.scenario]
        return self.json_response({"id": "gw-" + secrets.token_hex(6)})


def signed_report(
    data: dict[str, Any], *, secret: str = SECRET, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a signed delivery report."""
    body = json.dumps(data).encode()
    message_id = "msg_" + secrets.token_hex(8)
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "Content-Type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": stamp,
        "webhook-signature": signature(secret, message_id, stamp, body),
    }
    return body, headers
