"""A fake GTX-Messaging HTTP gateway: ``/smsc.php`` (reference F.7).

It takes GET and POST, checks ``user`` / ``pass`` of the routing account, ``to`` as digits
without +, ``text``, and ``t`` in {TEXT, BINARY, UNICODE} when given, and answers with a
status line in the body: ``200 OK`` followed by a message id, ``401 Unauthorized`` or
``400 Bad Request``.

Scenarios (``fake.scenario``): ``success``; ``bare_ok`` (``200 OK`` alone); ``auth_failure``
(``401 Unauthorized``); ``bad_request`` (``400 Bad Request``); ``payment`` (``402 Payment
Required``); ``status:<line>`` (that body); ``server_error`` (500 HTML); ``malformed`` (200 HTML);
``slow`` and ``reset``.
"""

from __future__ import annotations

import secrets

from werkzeug.wrappers import Request, Response

from tests.fakes.http_server import FakeHttpApp, Recorded

USER = "poort-routing"
PASSWORD = "gtx-pass-23c9"


class GtxFake(FakeHttpApp):
    def answer(self, request: Request, recorded: Recorded) -> Response:
        r = recorded
        if r.path != "/smsc.php":
            return self.text("404 Not Found", 404)
        p = r.params
        if p.get("user") != USER or p.get("pass") != PASSWORD or r.scenario == "auth_failure":
            return self.text("401 Unauthorized", 401)
        if r.scenario == "server_error":
            return self.server_error()
        if r.scenario == "malformed":
            return self.malformed()
        to = p.get("to", "")
        if (
            not to.isdigit()
            or not p.get("text")
            or p.get("t", "TEXT")
            not in (
                "TEXT",
                "BINARY",
                "UNICODE",
            )
        ):
            return self.text("400 Bad Request", 400)
        if r.scenario == "bad_request":
            return self.text("400 Bad Request", 400)
        if r.scenario == "payment":
            return self.text("402 Payment Required", 402)
        if r.scenario.startswith("status:"):
            return self.text(r.scenario.split(":", 1)[1], 200)
        if r.scenario == "bare_ok":
            return self.text("200 OK")
        return self.text(f"200 OK {secrets.token_hex(8)}")
