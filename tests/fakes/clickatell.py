"""A fake Clickatell Platform API: ``POST /messages`` (reference F.6).

It requires ``Authorization`` to be the raw API key (a "Bearer" prefix is refused, as the
platform refuses it), a JSON body with non-empty ``content`` and ``to`` as a list of digit
strings, and answers 202 with one entry per recipient.

Scenarios (``fake.scenario``): ``success``; ``auth_failure`` (401, request-level code 1);
``message:<code>`` (202 with ``accepted: false`` and that error, e.g. 25, 26, 28);
``mixed`` (207, the first entry refused with code 25); ``string_error`` (401 with the error as
a string, the older shape); ``request:<status>:<code>`` (a request-level error, e.g.
``request:402:20``, ``request:429:43``); ``http:<status>`` (that status with an empty body);
``server_error`` (503 HTML); ``malformed`` (202 HTML); ``slow`` and ``reset``.

:func:`callback` builds the JSON of a status callback.
"""

from __future__ import annotations

import secrets
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.fakes.http_server import FakeHttpApp, Recorded

API_KEY = "ctk-Qz8mR2vX5nL7pW1s"
DESCRIPTIONS = {
    1: "Invalid or missing Integration API Key",
    7: "IP lockdown violation",
    20: "Insufficient account balance",
    23: "Invalid or missing parameter",
    25: "Invalid recipient address",
    26: "Recipient opted out",
    28: "Recipient not available on sandbox",
    43: "Rate limit exceeded",
    45: "From number not linked to integration",
    999: "An error Poort does not know",
}


def _error(code: int) -> dict[str, Any]:
    return {"code": str(code), "description": DESCRIPTIONS.get(code, "Error")}


class ClickatellFake(FakeHttpApp):
    def answer(self, request: Request, recorded: Recorded) -> Response:
        r = recorded
        if r.path != "/messages":
            return self.json_response({"error": _error(21)}, 404)
        if r.method != "POST":
            return self.json_response({"error": _error(21)}, 405)
        if r.scenario == "string_error":
            return self.json_response({"messages": [], "error": "1, Invalid API key"}, 401)
        if r.headers.get("Authorization") != API_KEY or r.scenario == "auth_failure":
            return self.json_response({"messages": [], "error": _error(1)}, 401)
        if r.scenario == "server_error":
            return Response("<html>Service Unavailable</html>", status=503, mimetype="text/html")
        if r.content_type != "application/json" or not isinstance(r.json, dict):
            return self.json_response({"messages": [], "error": _error(21)}, 400)
        content, to = r.json.get("content"), r.json.get("to")
        if not content or not isinstance(to, list) or not to:
            return self.json_response({"messages": [], "error": _error(23)}, 400)
        if r.scenario.startswith("request:"):
            _, status, code = r.scenario.split(":")
            return self.json_response({"messages": [], "error": _error(int(code))}, int(status))
        if r.scenario.startswith("http:"):
            return Response("", status=int(r.scenario.split(":")[1]))
        if r.scenario == "malformed":
            return Response("<html>maintenance</html>", status=202, mimetype="text/html")
        entries = []
        for number in to:
            ok = isinstance(number, str) and number.isdigit()
            entries.append(
                {
                    "apiMessageId": secrets.token_hex(16) if ok else None,
                    "accepted": ok,
                    "to": str(number),
                    "error": None if ok else _error(25),
                }
            )
        if r.scenario.startswith("message:"):
            code = int(r.scenario.split(":")[1])
            entries[0] = {
                "apiMessageId": None,
                "accepted": False,
                "to": to[0],
                "error": _error(code),
            }
        if r.scenario == "mixed":
            entries[0] = {"apiMessageId": None, "accepted": False, "to": to[0], "error": _error(25)}
            entries.append(
                {
                    "apiMessageId": secrets.token_hex(16),
                    "accepted": True,
                    "to": "27999000001",
                    "error": None,
                }
            )
            return self.json_response({"messages": entries, "error": None}, 207)
        return self.json_response({"messages": entries, "error": None}, 202)


def callback(
    message_id: str,
    status_code: int = 4,
    status: str = "RECEIVED_BY_RECIPIENT",
    *,
    client_message_id: str | None = None,
    api_key: str = API_KEY,
) -> dict[str, Any]:
    """The JSON body of a status callback, as Clickatell sends it."""
    return {
        "integrationName": "Poort",
        "apiKey": api_key,
        "messageId": message_id,
        "requestId": secrets.token_hex(16),
        "clientMessageId": client_message_id or "",
        "to": "31612345678",
        "from": "",
        "status": status,
        "statusCode": status_code,
        "statusDescription": status.replace("_", " ").title(),
        "timestamp": 1767614400000,
    }
