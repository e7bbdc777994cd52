"""A real HTTP server on 127.0.0.1 for fakes of vendor APIs, so providers run their own code.

A fake is a :class:`FakeHttpApp`: it records every request and answers through ``answer``,
which a vendor fake overrides. The scenarios every fake shares are handled here:

- ``slow``: sleep ``slow_seconds`` (just past the client's timeout), then answer as ``success``;
- ``reset``: close the connection without an answer (the client sees it dropped);
- anything else is for the vendor fake to interpret (``success``, ``server_error``, codes...).

Usage::

    with FakeHttpServer(SpryngFake()) as server:
        server.url                       # "http://127.0.0.1:54321"
        server.app.scenario = "203"
        server.app.requests[-1].form
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

#: Sleep of the ``slow`` scenario; tests give the provider a timeout of 0.5 s.
SLOW_SECONDS = 0.9


@dataclass
class Recorded:
    """One request as the fake saw it."""

    method: str
    path: str
    query: MultiDict[str, str]
    headers: dict[str, str]
    form: MultiDict[str, str]
    json: Any
    body: bytes
    content_type: str
    scenario: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def params(self) -> MultiDict[str, str]:
        """Query and form fields together (vendors that accept both)."""
        merged: MultiDict[str, str] = MultiDict(self.query)
        for key, value in self.form.items(multi=True):
            merged.add(key, value)
        return merged


class FakeHttpApp:
    """Base of a vendor fake: a WSGI app with a scenario switch and a request record."""

    def __init__(self) -> None:
        self.scenario = "success"
        self.slow_seconds = SLOW_SECONDS
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()

    # -- what a vendor fake fills in ------------------------------------------------------

    def answer(self, request: Request, recorded: Recorded) -> Response:
        return Response("", status=204)

    # -- helpers for vendor fakes ---------------------------------------------------------

    @staticmethod
    def json_response(data: Any, status: int = 200, **headers: str) -> Response:
        return Response(
            json.dumps(data), status=status, headers=headers, mimetype="application/json"
        )

    @staticmethod
    def text(body: str, status: int = 200) -> Response:
        return Response(body, status=status, mimetype="text/plain")

    @staticmethod
    def server_error() -> Response:
        return Response(
            "<html><body><h1>500 Internal Server Error</h1></body></html>",
            status=500,
            mimetype="text/html",
        )

    @staticmethod
    def malformed() -> Response:
        return Response("<html><body>Gateway maintenance</body>", status=200, mimetype="text/html")

    @property
    def last(self) -> Recorded:
        assert self.requests, "the fake received no request"
        return self.requests[-1]

    # -- WSGI -----------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        body = request.get_data(cache=True)
        parsed_json = None
        if request.is_json:
            try:
                parsed_json = json.loads(body or b"null")
            except ValueError:
                parsed_json = None
        with self._lock:
            scenario = self.scenario
            recorded = Recorded(
                method=request.method,
                path=request.path,
                query=MultiDict(request.args),
                headers=dict(request.headers),
                form=MultiDict(request.form),
                json=parsed_json,
                body=body,
                content_type=request.mimetype,
                scenario=scenario,
            )
            self.requests.append(recorded)
        if scenario == "reset":
            _drop(environ["werkzeug.socket"])
            start_response("500 Dropped", [("Content-Length", "0")])
            return []  # werkzeug's write then meets the closed socket and gives up quietly
        if scenario == "slow":
            time.sleep(self.slow_seconds)
            recorded.scenario = "success"
        return self.answer(request, recorded)(environ, start_response)


def _drop(sock: socket.socket) -> None:
    """Abort the connection: no status line, and a reset instead of an orderly close."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.shutdown(socket.SHUT_RDWR)


class _QuietHandler(WSGIRequestHandler):
    """No access log: a fake's log lines would carry query strings into the test's caplog."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class FakeHttpServer:
    """Serve a :class:`FakeHttpApp` on 127.0.0.1 (a free port) in a thread."""

    def __init__(self, app: FakeHttpApp) -> None:
        self.app = app
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "the fake server is not running"
        return f"http://127.0.0.1:{self._server.port}"

    # The app's switch and record, reachable from the server a fixture hands out.
    @property
    def scenario(self) -> str:
        return self.app.scenario

    @scenario.setter
    def scenario(self, value: str) -> None:
        self.app.scenario = value

    @property
    def requests(self) -> list[Recorded]:
        return self.app.requests

    @property
    def last(self) -> Recorded:
        return self.app.last

    def start(self) -> FakeHttpServer:
        self._server = make_server(
            "127.0.0.1", 0, self.app, threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-http",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeHttpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
