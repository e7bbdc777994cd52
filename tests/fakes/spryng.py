"""A fake Spryng: legacy send.php / check.php, the "simple" endpoint, REST v1 (reference F.1, F.2).

It refuses what Spryng refuses, with Spryng's answers: the legacy API answers HTTP 200 with a
number (``1`` or a code of the table), the simple endpoint with ``1``, a code, or 401 / 422 /
429, REST v1 with JSON and 200 / 401 / 422 / 429.

Scenarios (``fake.scenario``): ``success``; a code of the table (``"100"`` ... ``"800"``),
answered by send.php and the simple endpoint; ``auth_failure`` (send.php: ``200``; the others:
401); ``unprocessable`` and ``unprocessable_recipient`` (422); ``rate_limited`` (429 with
Retry-After); ``not_found`` (404); ``server_error`` (500 HTML); ``malformed`` (200 HTML);
``slow`` and ``reset`` (see :mod:`tests.fakes.http_server`).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Request, Response

from tests.fakes.http_server import FakeHttpApp, Recorded

USERNAME = "poort-test"
PASSWORD = "spryng-pass-4417"
#: The REST v1 API key (Poort sends the password option as the bearer token).
API_KEY = "spryng-api-key-8d2f9c"
ROUTES = {"BUSINESS", "ECONOMY", *"0123456789"}
DESTINATION = re.compile(r"^[1-9][0-9]{3,14}$")
LEGACY_CODES = {"100", *map(str, range(101, 111)), "200", "201", "202", "203", "800"}


def _sender_code(sender: str) -> str | None:
    if not sender:
        return "108"
    limit = 14 if sender.isdigit() else 11
    if len(sender) > limit or not re.fullmatch(r"[A-Za-z0-9 ]+", sender):
        return "107"
    return None


def _destination_code(destination: str) -> str | None:
    for number in destination.split(","):
        number = number.strip()
        if DESTINATION.match(number):
            continue
        return "106" if len(number) > 15 else "105"
    return None


class SpryngFake(FakeHttpApp):
    def answer(self, request: Request, recorded: Recorded) -> Response:
        routes = {
            "/api/send.php": self.legacy,
            "/api/check.php": self.legacy_balance,
            "/api/simple/message": self.simple,
            "/api/simple/balance": self.simple_balance,
            "/v1/messages": self.rest,
            "/v1/balance": self.rest_balance,
        }
        handler = routes.get(recorded.path)
        if handler is None or recorded.scenario == "not_found":
            return self.text("Not Found", 404)
        recorded.extra["api"] = recorded.path
        if recorded.scenario == "server_error":
            return self.server_error()
        return handler(recorded)

    # -- legacy send.php ------------------------------------------------------------------

    def legacy_problem(self, p: MultiDict[str, str]) -> str | None:
        """The code send.php answers for a request it refuses (OpenWave's 101/102 and 109/110)."""
        if p.get("OPERATION") != "send":
            return "100"
        username = p.get("USERNAME")
        if username is None or "DESTINATION" not in p or "BODY" not in p or "SENDER" not in p:
            return "100"
        if len(username) > 32:
            return "101"
        if len(username) < 2:
            return "102"
        if ("PASSWORD" in p) == ("SECRET" in p):
            return "100"
        password = p.get("PASSWORD") or p.get("SECRET") or ""
        if len(password) < 6:
            return "103"
        if len(password) > 32:
            return "104"
        if username != USERNAME or password != PASSWORD:
            return "200"
        code = _destination_code(p["DESTINATION"]) or _sender_code(p["SENDER"])
        if code:
            return code
        body, long_ok = p["BODY"], p.get("ALLOWLONG") == "1"
        if not body:
            return "110"
        if len(body) > (612 if long_ok else 160):
            return "109"
        if p.get("ROUTE", "BUSINESS").upper() not in ROUTES:
            return "201"
        reference = p.get("REFERENCE")
        if reference is not None and not 1 <= len(reference) <= 256:
            return "100"
        return None

    def legacy(self, r: Recorded) -> Response:
        if r.method not in ("GET", "POST"):
            return self.text("Method Not Allowed", 405)
        if r.scenario == "malformed":
            return self.malformed()
        if r.scenario == "auth_failure":
            return self.text("200")
        problem = self.legacy_problem(r.params)
        if problem:
            return self.text(problem)
        if r.scenario in LEGACY_CODES or r.scenario == "01":  # "01": the old UK docs' success
            return self.text(r.scenario)
        return self.text("1")

    def legacy_balance(self, r: Recorded) -> Response:
        p = r.params
        password = p.get("PASSWORD") or p.get("SECRET")
        ok = p.get("USERNAME") == USERNAME and password == PASSWORD
        return self.text("123.45" if ok and r.scenario != "auth_failure" else "-1")

    # -- the simple endpoint ----------------------------------------------------------------

    @staticmethod
    def _lower(p: MultiDict[str, str]) -> dict[str, str]:
        """The simple endpoint takes its names in either case, from the query or the form."""
        return {key.lower(): value for key, value in p.items()}

    def simple(self, r: Recorded) -> Response:
        if r.method != "POST":
            return self.text("Method Not Allowed", 405)
        p = self._lower(r.params)
        secret = p.get("password") or p.get("secret")
        if r.scenario == "auth_failure" or p.get("username") != USERNAME or secret != PASSWORD:
            return self.json_response({"message": "Unauthenticated."}, 401)
        missing = [name for name in ("destination", "sender", "body") if not p.get(name)]
        invalid = _destination_code(p.get("destination", "")) or _sender_code(p.get("sender", ""))
        route = p.get("route", "business").upper()
        if r.scenario.startswith("unprocessable") or missing or invalid or route not in ROUTES:
            return self.json_response({"message": "The given data was invalid."}, 422)
        if r.scenario == "rate_limited":
            return self.json_response(
                {"message": "Too Many Attempts."}, 429, **{"Retry-After": "30"}
            )
        if r.scenario == "malformed":
            return self.malformed()
        if r.scenario in LEGACY_CODES:
            return self.text(r.scenario)
        return self.text("1")

    def simple_balance(self, r: Recorded) -> Response:
        p = self._lower(r.params)
        if p.get("username") != USERNAME or (p.get("password") or p.get("secret")) != PASSWORD:
            return self.json_response({"message": "Unauthenticated."}, 401)
        return self.text("123.45")

    # -- REST v1 ------------------------------------------------------------------------------

    def _authorized(self, r: Recorded) -> bool:
        return (
            r.headers.get("Authorization") == f"Bearer {API_KEY}" and r.scenario != "auth_failure"
        )

    def rest_errors(self, r: Recorded) -> dict[str, list[str]]:
        data = r.json if isinstance(r.json, dict) else {}
        errors: dict[str, list[str]] = {}
        if not isinstance(data.get("body"), str) or not data["body"]:
            errors["body"] = ["The body field is required."]
        originator = data.get("originator")
        if not isinstance(originator, str) or not originator:
            errors["originator"] = ["The originator field is required."]
        elif _sender_code(originator):
            errors["originator"] = ["The originator may not be greater than 11 characters."]
        recipients = data.get("recipients")
        if not isinstance(recipients, list) or not recipients:
            errors["recipients"] = ["The recipients field is required."]
        else:
            for i, number in enumerate(recipients):
                if not isinstance(number, str) or not DESTINATION.match(number):
                    errors[f"recipients.{i}"] = [f"The recipients.{i} format is invalid."]
        if data.get("encoding", "plain") not in ("plain", "unicode", "auto"):
            errors["encoding"] = ["The selected encoding is invalid."]
        route = data.get("route", "business")
        if not isinstance(route, str) or not (route == "business" or route.isdigit()):
            errors["route"] = ["The selected route is invalid."]
        return errors

    def rest(self, r: Recorded) -> Response:
        if r.method != "POST":
            return self.json_response({"message": "Method Not Allowed."}, 405)
        if not self._authorized(r):
            return self.json_response({"message": "Unauthenticated."}, 401)
        if r.content_type != "application/json":
            return self.json_response({"message": "Unsupported Media Type."}, 415)
        errors = self.rest_errors(r)
        if r.scenario == "unprocessable_recipient":
            errors["recipients.0"] = ["The recipients.0 format is invalid."]
        elif r.scenario == "unprocessable":
            errors["originator"] = ["The originator is not allowed on this route."]
        if errors:
            return self.json_response(
                {"message": "The given data was invalid.", "errors": errors}, 422
            )
        if r.scenario == "rate_limited":
            return self.json_response(
                {"message": "Too Many Attempts."}, 429, **{"Retry-After": "30"}
            )
        if r.scenario == "malformed":
            return self.malformed()
        return self.json_response(self.message_object(r))

    def message_object(self, r: Recorded) -> dict[str, Any]:
        data: dict[str, Any] = r.json
        now = datetime.now(UTC).isoformat()
        message = {
            "id": str(uuid.uuid4()),
            "encoding": data.get("encoding", "plain"),
            "originator": data["originator"],
            "body": data["body"],
            "reference": data.get("reference"),
            "credits": 1.0,
            "scheduled_at": None,
            "canceled_at": None,
            "created_at": now,
            "updated_at": now,
            "links": [],
        }
        if "recipients" in r.query.getlist("with[]"):
            message["recipients"] = [{"number": n, "status": "queued"} for n in data["recipients"]]
        return message

    def rest_balance(self, r: Recorded) -> Response:
        if not self._authorized(r):
            return self.json_response({"message": "Unauthenticated."}, 401)
        return self.json_response({"amount": 42.0})
