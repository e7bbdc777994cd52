"""A fake sipgate REST API: ``POST /v2/sessions/sms`` (reference F.8).

It checks basic auth (token id + token), ``Content-Type: application/json`` (415 otherwise),
a non-blank ``smsId`` matching ``^s\\d+$``, ``recipient`` and ``message`` (400 if blank), and
``sendAt`` in the future and at most 30 days ahead when given (400 otherwise). Success is
204 without a body.

Scenarios (``fake.scenario``): ``success``; ``auth_failure`` (401); ``balance`` (402);
``forbidden`` (403, as for an smsId the token may not use); ``bad_request`` (400);
``server_error`` (500); ``malformed`` (200 with an HTML page); ``slow`` and ``reset``.
"""

from __future__ import annotations

import re
import time

from werkzeug.wrappers import Request, Response

from tests.fakes.http_server import FakeHttpApp, Recorded

TOKEN_ID = "token-AB12CD"
TOKEN = "sipgate-pat-0f9e8d7c6b5a"
SMS_ID = "s0"
KNOWN_SMS_IDS = {"s0", "s1"}


class SipgateFake(FakeHttpApp):
    def answer(self, request: Request, recorded: Recorded) -> Response:
        r = recorded
        if r.path != "/v2/sessions/sms":
            return self.json_response({"status": 404}, 404)
        if r.method != "POST":
            return Response("", status=405)
        auth = request.authorization
        if (
            auth is None
            or auth.username != TOKEN_ID
            or auth.password != TOKEN
            or r.scenario == "auth_failure"
        ):
            return Response("", status=401)
        if r.content_type != "application/json":
            return Response("", status=415)
        if r.scenario == "server_error":
            return self.server_error()
        data = r.json if isinstance(r.json, dict) else {}
        sms_id = str(data.get("smsId") or "")
        if not re.fullmatch(r"s\d+", sms_id):
            return self.server_error()  # sipgate answers a missing smsId with a 500
        if (
            not str(data.get("recipient") or "").strip()
            or not str(data.get("message") or "").strip()
        ):
            return Response("", status=400)
        send_at = data.get("sendAt")
        if send_at is not None and not (time.time() < float(send_at) <= time.time() + 30 * 86400):
            return Response("", status=400)
        if sms_id not in KNOWN_SMS_IDS or r.scenario == "forbidden":
            return Response("", status=403)
        if r.scenario == "balance":
            return Response("", status=402)
        if r.scenario == "bad_request":
            return Response("", status=400)
        if r.scenario == "malformed":
            return self.malformed()
        return Response(status=204)
