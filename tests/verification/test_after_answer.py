"""Work registered with after_answer runs once the answer's body is out, not at close().

Werkzeug's server (the demo's) waits in close() for the browser to drop its connection, which
held sign-in texts back for seconds while Chromium kept the connection open.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from idp.verification.after_answer import AfterAnswer, after_answer


def _app(sized: bool, ran: list[str]) -> Any:
    app = Flask(__name__)

    @app.post("/")
    def answer() -> Any:
        after_answer(lambda: ran.append("work"))
        if sized:
            return "answered"
        return app.response_class(iter([b"answered"]))  # streamed: no Content-Length

    return AfterAnswer(app.wsgi_app)


def _environ() -> dict[str, Any]:
    from werkzeug.test import EnvironBuilder

    return EnvironBuilder(method="POST", path="/").get_environ()


def test_the_work_runs_right_after_the_last_piece_of_a_sized_answer() -> None:
    ran: list[str] = []
    body = _app(sized=True, ran=ran)(_environ(), lambda status, headers, *exc: None)

    pieces = list(body)  # what a server does before it waits for the connection in close()

    assert b"".join(pieces) == b"answered"
    assert ran == ["work"]
    body.close()
    assert ran == ["work"]  # once


def test_an_answer_without_a_length_runs_its_work_at_close() -> None:
    ran: list[str] = []
    body = _app(sized=False, ran=ran)(_environ(), lambda status, headers, *exc: None)

    list(body)
    assert ran == []  # the browser still waits for the end of the answer
    body.close()
    assert ran == ["work"]


def test_an_answer_never_read_to_its_end_still_runs_its_work() -> None:
    ran: list[str] = []
    body = _app(sized=True, ran=ran)(_environ(), lambda status, headers, *exc: None)

    body.close()  # the browser went away before the body was written

    assert ran == ["work"]
