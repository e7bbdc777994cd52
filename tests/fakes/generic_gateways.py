"""Gateways the generic ``http`` provider talks to in privacyIDEA's examples (reference F.4-F.7).

One server, four APIs, each checking what the real one checks:

- Clickatell legacy ``/http/sendmsg`` (GET or POST): ``user``, ``password``, ``api_id``; ``to``
  digits; ``text``. Answers 200 ``ID: <hex>`` or ``ERR: <code>, <text>``. Also ``/http/auth``
  and ``/http/getbalance``.
- Clickatell platform ``/messages/http/send`` (GET): ``apiKey``, ``to`` digits, ``content``.
  Answers 202 JSON ``{"messages": [...], "error": null}``.
- GTX ``/smsc.php`` (GET or POST): ``user``, ``pass``, ``to`` digits, ``text``, ``t``.
  Answers ``200 OK``, ``400 Bad Request`` or ``401 Unauthorized`` (the status mirrored).
- a typical JSON gateway ``/json/send`` (POST JSON, header ``X-Api-Key``), and ``/echo``,
  which takes anything and answers ``OK`` (to look at what the provider sent).
- Twilio ``/2010-04-01/Accounts/<sid>/Messages[.json]`` (POST form, basic auth): ``To`` in
  E.164, exactly one of ``From`` / ``MessagingServiceSid``, ``Body``. Answers 201 with the
  message (JSON, or XML without ``.json``) or ``{code, message, more_info, status}``.

Scenarios: ``success``, ``auth_failure``, ``no_credit``, ``internal`` (an error in a 200
answer), ``rate_limited``, ``rejected_recipient``, Twilio codes (``"21211"``, ``"21408"``,
``"21610"``, ``"21614"``), ``redirect`` (302), ``no_content`` (204), ``server_error``,
``malformed``, ``slow``, ``reset``.
"""

from __future__ import annotations

import base64
import re
import secrets
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.fakes.http_server import FakeHttpApp, Recorded

CLICKATELL_USER, CLICKATELL_PASSWORD, CLICKATELL_API_ID = "poort", "clickatell-pw-91", "3412987"
CLICKATELL_API_KEY = "ctPlatformKey-Q7w9E2r4T6y8"
GTX_USER, GTX_PASS = "poort-routing", "gtx-pass-5521"
TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "twilio-auth-token-77e1"
JSON_GATEWAY_KEY = "json-gateway-key-6b1a"
DIGITS = re.compile(r"^[1-9][0-9]{3,14}$")
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
TWILIO_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages(?P<json>\.json)?$")
TWILIO_ERRORS = {
    "auth_failure": (401, 20003, "Authenticate"),
    "21211": (400, 21211, "The 'To' number is not a valid phone number."),
    "21408": (400, 21408, "Permission to send an SMS has not been enabled for the region."),
    "21610": (400, 21610, "Attempt to send to unsubscribed recipient"),
    "21614": (400, 21614, "'To' number is not a valid mobile number"),
    "rate_limited": (429, 20429, "Too Many Requests"),
}


class GenericGatewaysFake(FakeHttpApp):
    def answer(self, request: Request, recorded: Recorded) -> Response:
        r = recorded
        if r.scenario == "server_error":
            return self.server_error()
        if r.scenario == "redirect":
            return Response("", status=302, headers={"Location": "/moved"})
        if r.scenario == "no_content":
            return Response("", status=204)
        twilio = TWILIO_PATH.match(r.path)
        if twilio:
            return self.twilio(r, twilio["sid"], bool(twilio["json"]))
        routes = {
            "/http/sendmsg": self.clickatell_legacy,
            "/http/auth": self.clickatell_auth,
            "/http/getbalance": self.clickatell_balance,
            "/messages/http/send": self.clickatell_platform,
            "/smsc.php": self.gtx,
            "/json/send": self.json_gateway,
            "/echo": lambda r: self.text("OK"),
        }
        handler = routes.get(r.path)
        return handler(r) if handler else self.text("Not Found", 404)

    # -- Clickatell legacy ----------------------------------------------------------------

    def _clickatell_login(self, r: Recorded) -> bool:
        p = r.params
        return (
            p.get("user") == CLICKATELL_USER
            and p.get("password") == CLICKATELL_PASSWORD
            and p.get("api_id") == CLICKATELL_API_ID
            and r.scenario != "auth_failure"
        )

    def clickatell_legacy(self, r: Recorded) -> Response:
        p = r.params
        if not self._clickatell_login(r):
            return self.text("ERR: 001, Authentication failed")
        numbers = (p.get("to") or "").split(",")
        if not all(DIGITS.match(n) for n in numbers) or len(numbers) > 100:
            return self.text("ERR: 105, Invalid Destination Address")
        if not p.get("text"):
            return self.text("ERR: 107, Empty message")
        answers = {
            "no_credit": "ERR: 301, No Credit Left",
            "internal": "ERR: 901, Internal Error",
            "rejected_recipient": "ERR: 114, Cannot route message",
        }
        if r.scenario in answers:
            return self.text(answers[r.scenario])
        if r.scenario == "malformed":
            return self.malformed()
        if len(numbers) == 1:
            return self.text(f"ID: {secrets.token_hex(16)}")
        return self.text("\n".join(f"ID: {secrets.token_hex(16)} To: {n}" for n in numbers))

    def clickatell_auth(self, r: Recorded) -> Response:
        if not self._clickatell_login(r):
            return self.text("ERR: 001, Authentication failed")
        return self.text(f"OK: {secrets.token_hex(16)}")

    def clickatell_balance(self, r: Recorded) -> Response:
        return self.text(
            "Credit: 10.5" if self._clickatell_login(r) else "ERR: 001, Authentication failed"
        )

    # -- Clickatell platform (HTTP variant) ------------------------------------------------

    def clickatell_platform(self, r: Recorded) -> Response:
        p = r.params
        if r.method != "GET":
            return self.json_response({"messages": [], "error": "Method not allowed"}, 405)
        if p.get("apiKey") != CLICKATELL_API_KEY or r.scenario == "auth_failure":
            return self._platform_error(401, 1, "Invalid or missing Integration API Key")
        numbers = (p.get("to") or "").split(",")
        if not p.get("content") or not all(DIGITS.match(n) for n in numbers):
            return self._platform_error(400, 23, "Invalid or missing parameter")
        if r.scenario == "no_credit":
            return self._platform_error(402, 20, "Insufficient account balance")
        if r.scenario == "rate_limited":
            return self._platform_error(429, 43, "Rate limit exceeded")
        if r.scenario == "malformed":
            return Response("<html>Service maintenance</html>", status=202, mimetype="text/html")
        rejected = r.scenario == "rejected_recipient"
        messages: list[dict[str, Any]] = [
            {
                "apiMessageId": "" if rejected else secrets.token_hex(16),
                "accepted": not rejected,
                "to": n,
                "error": {"code": 25, "description": "Invalid recipient address"}
                if rejected
                else None,
            }
            for n in numbers
        ]
        return self.json_response({"messages": messages, "error": None}, 202)

    def _platform_error(self, status: int, code: int, description: str) -> Response:
        error = {"code": code, "description": description}
        return self.json_response({"messages": [], "error": error}, status)

    # -- GTX -------------------------------------------------------------------------------

    def gtx(self, r: Recorded) -> Response:
        p = r.params
        if p.get("user") != GTX_USER or p.get("pass") != GTX_PASS or r.scenario == "auth_failure":
            return self.text("401 Unauthorized", 401)
        if (
            not DIGITS.match(p.get("to", ""))
            or not p.get("text")
            or p.get("t", "TEXT") not in ("TEXT", "BINARY", "UNICODE")
        ):
            return self.text("400 Bad Request", 400)
        if r.scenario == "malformed":
            return self.malformed()
        return self.text("200 OK")

    # -- a typical JSON gateway: API key header, JSON body -------------------------------------

    def json_gateway(self, r: Recorded) -> Response:
        if r.headers.get("X-Api-Key") != JSON_GATEWAY_KEY or r.scenario == "auth_failure":
            return self.json_response({"status": "error", "error": "unauthorized"}, 403)
        data = r.json if isinstance(r.json, dict) else None
        if data is None or not data.get("text") or not data.get("to"):
            return self.json_response({"status": "error", "error": "bad request"}, 400)
        if r.scenario == "malformed":
            return self.malformed()
        return self.json_response({"status": "accepted", "id": secrets.token_hex(8)})

    # -- Twilio -----------------------------------------------------------------------------

    def twilio(self, r: Recorded, sid: str, as_json: bool) -> Response:
        if r.method != "POST":
            return self._twilio_error(405, 20004, "Method not allowed", sid)
        auth = r.extra["auth"] = _basic_auth(r)
        user_ok = auth is not None and (auth[0] == sid or auth[0].startswith("SK"))
        if not user_ok or auth[1] != TWILIO_TOKEN or sid != TWILIO_SID:
            return self._twilio_error(401, 20003, "Authenticate", sid)
        if r.scenario in TWILIO_ERRORS:
            status, code, text = TWILIO_ERRORS[r.scenario]
            return self._twilio_error(status, code, text, sid)
        if r.content_type != "application/x-www-form-urlencoded":
            return self._twilio_error(400, 20001, "Unsupported content type", sid)
        f = r.form
        if "To" not in f:
            return self._twilio_error(400, 21604, "A 'To' phone number is required.", sid)
        if not E164.match(f["To"]):
            return self._twilio_error(
                400, 21211, "The 'To' number is not a valid phone number.", sid
            )
        if ("From" in f) == ("MessagingServiceSid" in f):
            return self._twilio_error(400, 21603, "A 'From' phone number is required.", sid)
        if not f.get("Body") or len(f["Body"]) > 1600:
            return self._twilio_error(400, 21602, "Message body is required.", sid)
        if r.scenario == "malformed":
            return Response("<html>Bad gateway</html>", status=201, mimetype="text/html")
        message = self._twilio_message(sid, f)
        if as_json:
            return self.json_response(message, 201)
        xml = (
            "<?xml version='1.0' encoding='UTF-8'?>\n<TwilioResponse><Message>"
            f"<Sid>{message['sid']}</Sid><Status>{message['status']}</Status>"
            "</Message></TwilioResponse>"
        )
        return Response(xml, status=201, mimetype="application/xml")

    @staticmethod
    def _twilio_message(sid: str, f: Any) -> dict[str, Any]:
        now = format_datetime(datetime.now(UTC))
        return {
            "sid": "SM" + secrets.token_hex(16),
            "account_sid": sid,
            "to": f["To"],
            "from": f.get("From"),
            "messaging_service_sid": f.get("MessagingServiceSid"),
            "body": f["Body"],
            "status": "accepted" if "MessagingServiceSid" in f else "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "price": None,
            "price_unit": "USD",
            "date_created": now,
            "date_updated": now,
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{sid}/Messages.json",
        }

    def _twilio_error(self, status: int, code: int, message: str, sid: str) -> Response:
        body = {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
        return self.json_response(body, status)


def _basic_auth(r: Recorded) -> tuple[str, str] | None:
    header = r.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None
    return user, password
