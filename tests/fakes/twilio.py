"""A fake Twilio Messages API: ``POST /2010-04-01/Accounts/{sid}/Messages.json`` (reference F.4).

It checks basic auth (user the Account SID of the path, password the Auth Token), a form
body, ``To`` in E.164 with +, exactly one of ``From`` / ``MessagingServiceSid``, ``Body`` of at
most 1600 characters, and answers 201 with the message object or Twilio's error JSON.

Scenarios (``fake.scenario``): ``success``; ``auth_failure`` (401, 20003); ``error:<code>``
(the code with Twilio's HTTP status: 21211, 21408, 21610, 21614, 21608, 20404, 20429 ...);
``problem:<code>`` (the same as RFC 9457 problem JSON); ``server_error`` (500 HTML);
``malformed`` (201 HTML); ``slow`` and ``reset``.

:func:`status_callback` builds the form Twilio POSTs to a status callback, with its
``X-Twilio-Signature``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Request, Response

from idp.sms.encoding import segments
from tests.fakes.http_server import FakeHttpApp, Recorded

ACCOUNT_SID = "AC" + "5e1f" * 8
AUTH_TOKEN = "twilio-auth-token-7c41d2"
SERVICE_SID = "MG" + "0a1b" * 8
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages\.json$")

ERRORS = {
    20003: (401, "Authentication Error - invalid username"),
    20404: (404, "The requested resource was not found"),
    20429: (429, "Too Many Requests"),
    21211: (400, "The 'To' number is not a valid phone number."),
    21408: (400, "Permission to send an SMS has not been enabled for the region"),
    21604: (400, "A 'To' phone number is required."),
    21606: (400, "The 'From' phone number provided is not a valid message-capable number."),
    21608: (400, "The number is unverified. Trial accounts may only send to verified numbers."),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21614: (400, "'To' number is not a valid mobile number"),
    21617: (400, "The concatenated message body exceeds the 1600 character limit."),
    21635: (400, "The 'To' number is a landline."),
    21265: (400, "'To' number cannot be a Short Code"),
    30001: (400, "Queue overflow"),
}


def error(code: int, problem: bool = False) -> Response:
    status, message = ERRORS[code]
    if problem:
        body: dict[str, Any] = {
            "type": f"https://www.twilio.com/docs/errors/{code}",
            "title": message,
            "status": status,
            "code": code,
            "detail": message,
        }
        return FakeHttpApp.json_response(
            body, status, **{"Content-Type": "application/problem+json"}
        )
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    headers = {"Retry-After": "2"} if status == 429 else {}
    return FakeHttpApp.json_response(body, status, **headers)


class TwilioFake(FakeHttpApp):
    def answer(self, request: Request, recorded: Recorded) -> Response:
        r = recorded
        match = PATH.match(r.path)
        if match is None:
            return error(20404)
        if r.method != "POST":
            return self.json_response({"code": 20004, "message": "Method not allowed"}, 405)
        auth = request.authorization
        if (
            auth is None
            or auth.username != match["sid"]
            or auth.password != AUTH_TOKEN
            or match["sid"] != ACCOUNT_SID
            or r.scenario == "auth_failure"
        ):
            return error(20003)
        if r.scenario == "server_error":
            return self.server_error()
        if r.content_type != "application/x-www-form-urlencoded":
            return self.json_response({"code": 21602, "message": "Message body is required"}, 400)
        form = r.form
        if not form.get("To"):
            return error(21604)
        if not E164.match(form["To"]):
            return error(21211)
        has_from, has_service = bool(form.get("From")), bool(form.get("MessagingServiceSid"))
        if has_from == has_service:
            return error(21606)
        body = form.get("Body", "")
        if not body:
            return self.json_response({"code": 21602, "message": "Message body is required"}, 400)
        if len(body) > 1600:
            return error(21617)
        if r.scenario.startswith(("error:", "problem:")):
            kind, code = r.scenario.split(":")
            return error(int(code), problem=kind == "problem")
        if r.scenario == "malformed":
            return Response("<html>Twilio is down</html>", status=201, mimetype="text/html")
        return self.json_response(self.message_object(form, match["sid"]), 201)

    @staticmethod
    def message_object(form: MultiDict[str, str], sid: str) -> dict[str, Any]:
        message_sid = "SM" + secrets.token_hex(16)
        now = format_datetime(datetime.now(UTC))
        service = form.get("MessagingServiceSid")
        return {
            "account_sid": sid,
            "api_version": "2010-04-01",
            "body": form["Body"],
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": service,
            "num_media": "0",
            "num_segments": "0" if service else str(segments(form["Body"]).count),
            "price": None,
            "price_unit": "USD",
            "sid": message_sid,
            "status": "accepted" if service else "queued",
            "subresource_uris": {
                "media": f"/2010-04-01/Accounts/{sid}/Messages/{message_sid}/Media.json"
            },
            "to": form["To"],
            "uri": f"/2010-04-01/Accounts/{sid}/Messages/{message_sid}.json",
        }


def sign(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    """What Twilio puts in X-Twilio-Signature (written apart from the provider's own code)."""
    data = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def status_callback(
    message_sid: str,
    status: str = "delivered",
    error_code: str | None = None,
    *,
    to: str = "+31612345678",
) -> dict[str, str]:
    """The form fields of a status callback, as Twilio sends them."""
    params = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "From": "Poort",
        "MessageSid": message_sid,
        "MessageStatus": status,
        "SmsSid": message_sid,
        "SmsStatus": status,
        "To": to,
    }
    if error_code:
        params["ErrorCode"] = error_code
        params["ErrorMessage"] = "Unreachable destination handset"
    return params
