"""Work that runs after the answer has reached the browser, in the same worker.

The phone POST of a sign-in must not wait for an SMS provider: a known number would then
answer later than an unknown one (whose code is withheld), which tells an attacker which
numbers have an account. So the request commits the code, answers, and only then, in the
same worker thread, asks the provider (WSGI's ``close()`` of the response, which gunicorn and
the development server call once the response is written). A graceful stop or recycle of
the worker waits for it like for any request; a killed worker leaves the attempt in the
message log ("sending", later "unknown"), see :mod:`idp.verification.attempts`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask, after_this_request, current_app
from werkzeug.wrappers import Response

log = logging.getLogger(__name__)


def after_answer(work: Callable[[], None]) -> None:
    """Run *work* in a fresh app context once this request's response has been sent."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]

    def attach(response: Response) -> Response:
        response.call_on_close(lambda: _run(app, work))
        return response

    after_this_request(attach)


def _run(app: Flask, work: Callable[[], None]) -> None:
    try:
        with app.app_context():
            work()
    except Exception:  # the answer is gone: log it, never let it reach the server
        log.exception("work after the answer failed")
