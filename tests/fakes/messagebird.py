"""A fake MessageBird REST API: ``POST /messages`` (reference F.3).

It checks the access key (header ``Authorization: AccessKey <key>`` or query ``access_key``),
takes JSON (and a form, as MessageBird does), requires originator, recipients and body, and
checks their formats; it answers 201 with the full message object, recipients as JSON integers.

Scenarios (``fake.scenario``): ``success``; ``auth_failure`` (401, code 2);
``error:<code>`` or ``error:<code>:<parameter>`` (the code with its usual HTTP status, e.g.
``error:25``, ``error:10:recipients``); ``server_error`` (500 HTML); ``malformed`` (201 HTML);
``slow`` and ``reset``.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from idp.sms.encoding import segments
from tests.fakes.http_server import FakeHttpApp, Recorded

ACCESS_KEY = "live_mb8Xk2Qp7Rz4Tn1Vw"
DESCRIPTIONS = {
    2: ("Request not allowed (incorrect access_key)", 401),
    9: ("no ({parameter}) given", 422),
    10: ("{parameter} is invalid", 422),
    20: ("message not found", 404),
    21: ("Bad request", 400),
    25: ("Not enough balance", 422),
    98: ("API endpoint not found", 404),
    99: ("Internal error", 500),
    100: ("Service unavailable", 503),
}
MSISDN = re.compile(r"^[1-9][0-9]{6,14}$")


def error(code: int, parameter: str | None = None) -> Response:
    description, status = DESCRIPTIONS[code]
    body = {
        "errors": [
            {
                "code": code,
                "description": description.format(parameter=parameter or "parameter"),
                "parameter": parameter,
            }
        ]
    }
    return FakeHttpApp.json_response(body, status)


class MessageBirdFake(FakeHttpApp):
    def answer(self, request: Request, recorded: Recorded) -> Response:
        r = recorded
        if r.path != "/messages":
            return error(98)
        if r.method != "POST":
            return self.json_response({"errors": [{"code": 21, "description": "Bad request"}]}, 405)
        auth = r.headers.get("Authorization")
        if auth is None:
            key = r.query.get("access_key")
        else:
            key = auth.removeprefix("AccessKey ") if auth.startswith("AccessKey ") else None
        if key != ACCESS_KEY or r.scenario == "auth_failure":
            return error(2, "access_key")
        if r.scenario == "server_error":
            return self.server_error()
        data: dict[str, Any] = r.json if isinstance(r.json, dict) else r.form.to_dict()
        for name in ("originator", "recipients", "body"):
            if not data.get(name):
                return error(9, name)
        originator = str(data["originator"])
        if not originator.isdigit() and (len(originator) > 11 or not originator.isalnum()):
            return error(10, "originator")
        if len(originator) > 17:
            return error(10, "originator")
        recipients = data["recipients"]
        if isinstance(recipients, str):
            recipients = [item.strip() for item in recipients.split(",")]
        if not isinstance(recipients, list) or not all(
            MSISDN.match(str(item)) for item in recipients
        ):
            return error(10, "recipients")
        if data.get("datacoding", "plain") not in ("plain", "unicode", "auto"):
            return error(10, "datacoding")
        if len(str(data.get("reference") or "")) > 128:
            return error(10, "reference")
        if r.scenario.startswith("error:"):
            _, code, *parameter = r.scenario.split(":")
            return error(int(code), parameter[0] if parameter else None)
        if r.scenario == "malformed":
            return Response("<html>Bad gateway</html>", status=201, mimetype="text/html")
        return self.json_response(self.message_object(data, recipients), 201)

    @staticmethod
    def message_object(data: dict[str, Any], recipients: list[Any]) -> dict[str, Any]:
        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        message_id = secrets.token_hex(16)
        parts = segments(str(data["body"])).count
        return {
            "id": message_id,
            "href": f"https://rest.messagebird.com/messages/{message_id}",
            "direction": "mt",
            "type": "sms",
            "originator": data["originator"],
            "body": data["body"],
            "reference": data.get("reference"),
            "validity": None,
            "gateway": 10,
            "typeDetails": {},
            "datacoding": data.get("datacoding", "plain"),
            "mclass": 1,
            "scheduledDatetime": None,
            "createdDatetime": now,
            "recipients": {
                "totalCount": len(recipients),
                "totalSentCount": len(recipients),
                "totalDeliveredCount": 0,
                "totalDeliveryFailedCount": 0,
                "items": [
                    {
                        "recipient": int(number),
                        "status": "sent",
                        "statusDatetime": now,
                        "messagePartCount": parts,
                    }
                    for number in recipients
                ],
            },
        }
