"""A fake SMS gateway on 127.0.0.1 for Poort's generic ``http`` provider.

Poort's verifier posts ``to={phone}`` and ``code={otp}`` to ``/send``; the gateway remembers
the code for the number, waits ``delay`` seconds (0 for an instant gateway, 0.5 for a slow
one) and answers ``OK ID: <n>``. The load generator reads the code with
``GET /code?phone=+316...`` (each code can be read once), so it can finish the login the way
a person who received the text would.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bench.load import LOOPBACK_HOST


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # 32 clients may all be waiting for a slow gateway at once

    def __init__(self, gateway: FakeSmsGateway) -> None:
        super().__init__((LOOPBACK_HOST, 0), _Handler)
        self.gateway = gateway


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: Poort's provider reuses its connections
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        return None  # no access log: it would only carry numbers and codes

    def _answer(self, status: int, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 - stdlib's name
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
        if urlsplit(self.path).path != "/send":
            self._answer(404, "no such path")
            return
        phone = (form.get("to") or [""])[0]
        code = (form.get("code") or [""])[0]
        gateway = self.server.gateway
        number = gateway.received(phone, code)
        if gateway.delay:
            time.sleep(gateway.delay)
        self._answer(200, f"OK ID: bench-{number}")

    def do_GET(self) -> None:  # noqa: N802 - stdlib's name
        url = urlsplit(self.path)
        if url.path != "/code":
            self._answer(404, "no such path")
            return
        phone = (parse_qs(url.query).get("phone") or [""])[0]
        code = self.server.gateway.take(phone)
        if code is None:
            self._answer(404, "no code for this number")
        else:
            self._answer(200, code)


class FakeSmsGateway:
    """Serve the fake gateway in a thread: ``with FakeSmsGateway() as gw: gw.url``."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.sent = 0
        self._codes: dict[str, str] = {}
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "the fake gateway is not running"
        return f"http://{LOOPBACK_HOST}:{self._server.server_address[1]}"

    def received(self, phone: str, code: str) -> int:
        with self._lock:
            self.sent += 1
            self._codes[phone] = code
            return self.sent

    def take(self, phone: str) -> str | None:
        with self._lock:
            return self._codes.pop(phone, None)

    def wait_for(self, phone: str, timeout: float) -> str:
        """The code texted to *phone*, waiting up to *timeout* seconds for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.take(phone)
            if code is not None:
                return code
            time.sleep(0.05)
        raise TimeoutError(f"no code reached the fake gateway for {phone} in {timeout:.0f} s")

    def start(self) -> FakeSmsGateway:
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
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

    def __enter__(self) -> FakeSmsGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
