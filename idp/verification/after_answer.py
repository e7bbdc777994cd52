"""Work that runs after the answer has reached the browser, in the same worker.

The phone POST of a sign-in must not wait for an SMS provider: a known number would then
answer later than an unknown one (whose code is withheld), which tells an attacker which
numbers have an account. So the request commits the code, answers, and only then, in the
same worker thread, asks the provider.

"Then" is right after the server was handed the last piece of the answer's body (by
:class:`AfterAnswer`, a WSGI middleware), when the answer has a length and so is complete for
the browser. It is not the WSGI ``close()`` of the answer: some servers (werkzeug's, which the
demo uses) first wait there for the browser to close its connection, which can take seconds.
``close()`` only runs what is left, when the body was never read to its end.

A graceful stop or recycle of the worker waits for the work like for any request; a killed
worker leaves the attempt in the message log ("sending", later "unknown"), see
:mod:`idp.verification.attempts`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from flask import Flask, current_app, request

log = logging.getLogger(__name__)

#: Where a request keeps the work to run after its answer (a list in the WSGI environ).
ENVIRON_KEY = "poort.after_answer"

Work = Callable[[], None]


def after_answer(work: Work) -> None:
    """Run *work* in a fresh app context once this request's answer has been sent."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    works: list[Work] = request.environ.setdefault(ENVIRON_KEY, [])
    works.append(lambda: _run(app, work))


def _run(app: Flask, work: Work) -> None:
    try:
        with app.app_context():
            work()
    except Exception:  # the answer is gone: log it, never let it reach the server
        log.exception("work after the answer failed")


class AfterAnswer:
    """WSGI middleware running what :func:`after_answer` registered once the answer is out."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        sized = False
        works: list[Work] = []
        environ[ENVIRON_KEY] = works

        def start(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            nonlocal sized
            sized = any(name.lower() == "content-length" for name, _ in headers)
            return start_response(status, headers, *exc_info)

        body = self.wsgi_app(environ, start)
        if not works:
            return body
        return _Answer(body, works, lambda: sized)


class _Answer:
    """The answer's body, then the work; whatever did not run by ``close()`` runs there."""

    def __init__(self, body: Iterable[bytes], works: list[Work], sized: Callable[[], bool]):
        self.body = body
        self.works = works
        self.sized = sized

    def __iter__(self) -> Iterator[bytes]:
        yield from self.body
        # Without a length the browser waits for the server to finish the answer, which it
        # does only after iterating: leave the work to close() then.
        if self.sized():
            self._run_works()

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self._run_works()

    def _run_works(self) -> None:
        while self.works:
            self.works.pop(0)()
