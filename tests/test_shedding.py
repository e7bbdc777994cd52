"""Load shedding (issue 8): an overloaded worker answers 503 with Retry-After at once, and
never sheds the probes, the token endpoint or a login already under way.

The middleware is tested around a tiny Flask app whose views wait on an event, so the tests
can hold requests "in flight" on threads, exactly as slow SMS providers would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask, Response, stream_with_context
from flask.testing import FlaskClient

from idp import create_app, shedding
from idp.errors import ConfigError
from idp.plugins import Registry
from idp.shedding import LoadShedder


class _BufferedClient(FlaskClient):
    def open(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


WAIT = 10  # seconds any step may take before the test fails instead of hanging
COOKIE = "__Host-poort_session"


def _tiny_app(release: threading.Event) -> Flask:
    app = Flask("tiny")
    # Like a WSGI server, the test client closes every answer it reads (buffered), which
    # is what gives a request's place back.
    app.test_client_class = _BufferedClient

    def held() -> str:
        assert release.wait(WAIT), "the test never released the request"
        return "done"

    app.add_url_rule("/slow", "slow", held)
    app.add_url_rule("/m/sms/sms/login/code", "code", held, methods=["GET", "POST"])
    for path in ("/healthz", "/readyz", "/oauth/token", "/login/second", "/m/sms/sms/login"):
        app.add_url_rule(path, path, lambda: "ok", methods=["GET", "POST"])

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("a bug in a view")

    @app.get("/stream")
    def stream() -> Response:
        def chunks() -> Iterator[str]:
            yield "first "
            assert release.wait(WAIT)
            yield "last"

        return Response(stream_with_context(chunks()))

    return app


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()  # never leave a thread waiting


@pytest.fixture
def shedder(release: threading.Event) -> tuple[Flask, LoadShedder]:
    app = _tiny_app(release)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # a bug is a 500, as in production
    # The SMS plugin's code page, as create_app learns it from the registry.
    exempt = shedding.Exemptions(["/m/sms/<name>/login/code"])
    middleware = LoadShedder(app.wsgi_app, 2, exempt=exempt)
    app.wsgi_app = middleware  # type: ignore[method-assign]
    return app, middleware


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.005)


def _browser(app: Flask, session: bool = False) -> FlaskClient:
    """A client; with *session*, one that holds Poort's session cookie (a started login)."""
    client = app.test_client()
    if session:
        client.set_cookie(COOKIE, "abc")
    return client


def _hold(
    app: Flask, count: int, path: str = "/slow", session: bool = False, **kwargs: Any
) -> list[Any]:
    """Start *count* requests to *path* on threads (they wait in the view)."""
    answers: list[Any] = []
    threads = []
    for _ in range(count):

        def run() -> None:
            answers.append(_browser(app, session).open(path, **kwargs))

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        threads.append(thread)
    app.extensions.setdefault("held", []).extend(threads)
    return answers


def _join(app: Flask) -> None:
    for thread in app.extensions.pop("held", []):
        thread.join(WAIT)
        assert not thread.is_alive(), "a held request never finished"


def test_over_the_limit_a_request_gets_503_with_retry_after_at_once(
    shedder: tuple[Flask, LoadShedder], release: threading.Event
) -> None:
    app, middleware = shedder
    answers = _hold(app, 2)
    _until(lambda: middleware.in_flight == 2, "two requests are in flight")

    started = time.monotonic()
    busy = app.test_client().get("/slow", headers={"Accept": "text/html"})
    took = time.monotonic() - started

    assert busy.status_code == 503
    assert busy.headers["Retry-After"] == "1"
    assert busy.headers["Cache-Control"] == "no-store"
    assert busy.mimetype == "text/html"
    assert "try again in a moment" in busy.get_data(as_text=True)
    assert took < 1, "the shed answer must not wait for a thread"

    api = app.test_client().get("/slow", headers={"Accept": "application/json"})
    assert api.status_code == 503
    assert api.get_json()["error"] == "temporarily_unavailable"

    release.set()
    _join(app)
    assert [a.status_code for a in answers] == [200, 200]  # the held ones were never dropped
    assert middleware.in_flight == 0
    assert app.test_client().get("/slow").status_code == 200  # room again


def test_probes_the_token_endpoint_and_started_logins_are_never_shed(
    shedder: tuple[Flask, LoadShedder], release: threading.Event
) -> None:
    app, middleware = shedder
    _hold(app, 2)
    _until(lambda: middleware.in_flight == 2, "the limit is reached")
    client = app.test_client()

    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.post("/oauth/token").status_code == 200
    # The second factor page of a login whose first factor passed: it has the cookie.
    assert _browser(app, session=True).get("/login/second").status_code == 200
    # Typing the texted code continues a started login, even while it is slow itself.
    continuing = _hold(app, 1, "/m/sms/sms/login/code", session=True, method="POST")
    _until(lambda: middleware.in_flight == 3, "the code request is in flight too")

    # Without the session cookie there is no started login to continue; a phone number
    # would start a new one (and a text): both may be shed.
    assert app.test_client().post("/m/sms/sms/login/code").status_code == 503
    assert _browser(app, session=True).post("/m/sms/sms/login").status_code == 503

    release.set()
    _join(app)
    assert [a.status_code for a in continuing] == [200]
    assert middleware.in_flight == 0


def test_a_failing_view_and_a_streamed_answer_give_their_place_back(
    shedder: tuple[Flask, LoadShedder], release: threading.Event
) -> None:
    app, middleware = shedder
    client = app.test_client()

    assert client.get("/boom").status_code == 500
    assert middleware.in_flight == 0

    streamed = client.get("/stream", buffered=False)
    assert next(iter(streamed.response)) == b"first "
    assert middleware.in_flight == 1  # until the last byte went out
    release.set()
    assert b"".join(streamed.response) == b"last"
    streamed.close()
    assert middleware.in_flight == 0


def test_many_threads_never_push_past_the_limit(release: threading.Event) -> None:
    app = _tiny_app(release)
    middleware = LoadShedder(app.wsgi_app, 3)
    app.wsgi_app = middleware  # type: ignore[method-assign]
    answers = _hold(app, 12)
    _until(lambda: len(answers) >= 9, "the nine over the limit are shed")

    assert middleware.in_flight == 3
    release.set()
    _join(app)
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * 3 + [503] * 9


# -- the limit: setting, derived default, installation -----------------------------------------


@pytest.mark.parametrize(
    ("threads", "limit"), [(None, None), (1, None), (3, None), (4, 3), (8, 6), (16, 12)]
)
def test_the_derived_limit_leaves_a_quarter_of_the_threads_free(
    threads: int | None, limit: int | None
) -> None:
    assert shedding.derived_limit(threads) == limit


@pytest.fixture
def serving_threads() -> Iterator[Callable[[int | None], None]]:
    yield shedding.set_serving_threads
    shedding.set_serving_threads(None)


def test_create_app_installs_the_shedder_only_where_a_limit_applies(
    app_config: dict[str, Any],
    registry: Registry,
    serving_threads: Callable[[int | None], None],
) -> None:
    def build(**settings: Any) -> Flask:
        return create_app({**app_config, **settings}, registry=registry)

    assert "idp.shedding" not in build().extensions  # tests, flask run, gunicorn by hand

    explicit = build(max_in_flight=5)
    assert explicit.extensions["idp.shedding"].limit == 5
    assert explicit.wsgi_app is explicit.extensions["idp.shedding"]

    serving_threads(8)  # as `poort serve` says before each worker builds its app
    assert build().extensions["idp.shedding"].limit == 6
    assert "idp.shedding" not in build(max_in_flight=-1).extensions


def test_a_shed_request_touches_neither_session_nor_database(
    app_config: dict[str, Any], registry: Registry
) -> None:
    app = create_app({**app_config, "max_in_flight": 1}, registry=registry)
    middleware = app.extensions["idp.shedding"]
    middleware._sheddable = 1  # as if one request were in flight  # noqa: SLF001
    try:
        response = app.test_client().get("/login")
    finally:
        middleware._sheddable = 0  # noqa: SLF001
    assert response.status_code == 503
    assert "Set-Cookie" not in response.headers
    assert app.test_client().get("/healthz").status_code == 200


def test_max_in_flight_below_minus_one_is_refused(
    app_config: dict[str, Any], registry: Registry
) -> None:
    with pytest.raises(ConfigError, match="max_in_flight"):
        create_app({**app_config, "max_in_flight": -2}, registry=registry)


def test_poort_serve_tells_each_worker_its_thread_count(
    monkeypatch: pytest.MonkeyPatch, serving_threads: Callable[[int | None], None]
) -> None:
    import idp.app
    from idp.serving import PoortApplication

    seen: list[int | None] = []
    monkeypatch.setattr(idp.app, "create_app", lambda: seen.append(shedding._serving_threads))  # noqa: SLF001
    PoortApplication({"worker_class": "gthread", "threads": 4}, environ={}).load()
    PoortApplication({"worker_class": "gevent", "threads": 4}, environ={}).load()

    assert seen == [4, None]


def test_the_plugin_routes_never_shed_come_from_the_registry(
    app_config: dict[str, Any], serving_threads: Callable[[int | None], None]
) -> None:
    from idp.plugins import from_classes
    from idp_password import PasswordMethod
    from idp_sms import SmsMethod
    from idp_totp import TotpMethod

    registry = from_classes(PasswordMethod, SmsMethod, TotpMethod)
    app = create_app({**app_config, "max_in_flight": 4}, registry=registry)
    exempt = app.extensions["idp.shedding"].exempt

    assert exempt.plugin_rules == (
        "/m/sms/<name>/login/code",
        "/m/sms/<name>/phone/code",
        "/m/sms/<name>/second/code",
        "/m/totp/<name>/verify",
    )
    cookie = {"HTTP_COOKIE": f"{COOKIE}=abc"}
    assert exempt({"PATH_INFO": "/m/sms/sms/second/code", **cookie})
    assert exempt({"PATH_INFO": "/m/totp/app/verify", **cookie})
    # A method's other routes, and any other path ending in /code, may be shed.
    assert not exempt({"PATH_INFO": "/m/sms/sms/login", **cookie})
    assert not exempt({"PATH_INFO": "/m/other/x/code", **cookie})
    assert not exempt({"PATH_INFO": "/m/totp/app/verify"})  # no session: nothing under way
