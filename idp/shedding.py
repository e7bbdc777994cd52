"""Load shedding: an overloaded worker answers 503 at once instead of letting requests queue.

A gunicorn ``gthread`` worker runs at most ``threads`` requests at a time; the rest wait in
its queue for a free thread. When every thread waits on a slow SMS provider or database,
everything behind them waits too, probes included, and people see a page that hangs.

:class:`LoadShedder` wraps the WSGI app and counts the requests in flight in this worker
process. When ``limit`` of them are already running, a new one is answered at once with
``503 Service Unavailable``, ``Retry-After: 1`` and a short message, without touching the
database, the session or a template. So at most ``limit`` threads are busy with ordinary
work, and the threads above the limit stay free to turn the queue over in microseconds.

Never shed, whatever the load (each test is a string comparison on the request line and the
``Cookie`` header, nothing more):

- the probes and the scrape: ``/healthz``, ``/readyz``, ``/metrics``;
- ``/oauth/token``: the application exchanging the code of a login that has just finished;
- a request that continues a login already started, which is one that carries Poort's
  session cookie and goes to a step only a started login reaches: the second-factor,
  enrolment and recovery-code steps of ``/login/...``, consent, the return to the waiting
  authorization (``/oauth/authorize/resume``), and the routes each auth method declares in
  ``AuthMethod.sign_in_endpoints`` (the SMS plugin's code pages, the authenticator app's
  code form), learnt from the plugin registry when the app is built.

Everything else may be shed: a new login page, a phone number that would start a send,
discovery, userinfo, the admin panel. A person who was shed sees "try again in a moment";
a person halfway through a login is never stopped by the shedder.

The limit comes from the ``max_in_flight`` setting. ``0`` (the default) derives it under
``poort serve`` from the worker's thread count: ``threads - threads // 4`` (six of eight
threads; nothing is shed below four threads), leaving the rest for the requests above.
Outside ``poort serve`` (the Flask development server, tests, gunicorn started by hand) the
thread count is unknown and nothing is shed unless ``max_in_flight`` is set. ``-1``
switches shedding off.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule

log = logging.getLogger(__name__)

#: Below this many threads per worker the derived limit is off.
MIN_THREADS = 4
#: Seconds a shed client is asked to wait.
RETRY_AFTER = 1

#: Paths that are never shed.
ALWAYS = frozenset({"/healthz", "/readyz", "/metrics", "/oauth/token"})
#: Paths of the steps after a first factor, never shed when the session cookie comes along.
CONTINUING = frozenset(
    {
        "/login/second",
        "/login/enrol",
        "/login/recovery",
        "/oauth/authorize/consent",
        "/oauth/authorize/resume",
    }
)
#: Session cookie names (``__Host-`` outside dev mode), as they appear in a Cookie header.
SESSION_COOKIES = ("__Host-poort_session=", "poort_session=")

#: The thread count of this worker under ``poort serve`` (set before the app is built).
_serving_threads: int | None = None

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def set_serving_threads(threads: int | None) -> None:
    """Tell the app factory how many threads this worker has (``poort serve`` does)."""
    global _serving_threads
    _serving_threads = threads


def derived_limit(threads: int | None) -> int | None:
    """The limit for a worker of *threads* threads, or None (shed nothing)."""
    if not threads or threads < MIN_THREADS:
        return None  # too few threads to keep any aside: shedding would cost more than it saves
    return threads - threads // 4


def configured_limit(max_in_flight: int) -> int | None:
    """The limit the ``max_in_flight`` setting asks for in this process, or None."""
    if max_in_flight < 0:
        return None
    if max_in_flight > 0:
        return max_in_flight
    return derived_limit(_serving_threads)


class Exemptions:
    """Which requests are never shed: the core's paths above, and the plugin routes (URL
    rules such as ``/m/sms/<name>/login/code``) that continue a sign-in."""

    def __init__(self, plugin_rules: Iterable[str] = ()) -> None:
        self.plugin_rules = tuple(plugin_rules)
        self._adapter = Map([Rule(rule, endpoint=rule) for rule in self.plugin_rules]).bind("")

    def __call__(self, environ: dict[str, Any]) -> bool:
        path = environ.get("PATH_INFO") or "/"
        if path in ALWAYS:
            return True
        cookies = environ.get("HTTP_COOKIE") or ""
        if not any(name in cookies for name in SESSION_COOKIES):
            return False
        return path in CONTINUING or self._in_plugin(path)

    def _in_plugin(self, path: str) -> bool:
        if not self.plugin_rules:
            return False
        try:
            self._adapter.match(path)
        except HTTPException:  # no such rule (or a redirect to one): an ordinary request
            return False
        return True


#: The core's exemptions alone (no plugin routes).
continues_a_login = Exemptions()


def plugin_rules(app: Any) -> list[str]:
    """The URL rules of every auth method's ``sign_in_endpoints``, from the app's registry."""
    registry = app.extensions["idp"].registry
    endpoints = set()
    for plugin in registry.auth_methods.values():
        blueprint = getattr(plugin.cls, "blueprint", None)
        if blueprint is not None:
            for name in getattr(plugin.cls, "sign_in_endpoints", ()):
                endpoints.add(f"{blueprint.name}.{name}")
    return sorted({rule.rule for rule in app.url_map.iter_rules() if rule.endpoint in endpoints})


_shed_counter: Any = None


def _count_shed() -> None:
    """``poort_requests_shed_total``, made on first use (see idp.metrics on why)."""
    global _shed_counter
    try:
        if _shed_counter is None:
            from prometheus_client import Counter

            _shed_counter = Counter(
                "poort_requests_shed",
                "Requests answered 503 at once because the worker had too many in flight.",
            )
        _shed_counter.inc()
    except Exception:  # metrics must never turn a 503 into a 500
        log.debug("could not count a shed request", exc_info=True)


class LoadShedder:
    """WSGI middleware: at most *limit* sheddable requests in flight in this process."""

    def __init__(
        self,
        app: WSGIApp,
        limit: int,
        *,
        exempt: Callable[[dict[str, Any]], bool] = continues_a_login,
    ) -> None:
        if limit < 1:
            raise ValueError("the limit must be 1 or more")
        self.app = app
        self.limit = limit
        self.exempt = exempt
        self._lock = threading.Lock()
        self._in_flight = 0  # every request being served, exempt ones included
        self._sheddable = 0  # those that count against the limit

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        counted = not self.exempt(environ)
        with self._lock:
            if counted and self._sheddable >= self.limit:
                shed = True
            else:
                shed = False
                self._in_flight += 1
                if counted:
                    self._sheddable += 1
        if shed:
            _count_shed()
            return self._unavailable(environ, start_response)
        try:
            result = self.app(environ, start_response)
        except BaseException:
            self._release(counted)
            raise
        return _Released(result, lambda: self._release(counted))

    def _release(self, counted: bool) -> None:
        with self._lock:
            self._in_flight -= 1
            if counted:
                self._sheddable -= 1

    @staticmethod
    def _unavailable(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        path = environ.get("PATH_INFO") or "/"
        accept = environ.get("HTTP_ACCEPT") or ""
        message = "Poort is very busy right now. Please try again in a moment."
        if path.startswith("/oauth/") or ("json" in accept and "html" not in accept):
            body = json.dumps(
                {"error": "temporarily_unavailable", "error_description": message}
            ).encode()
            kind = "application/json"
        else:
            body = (
                '<!doctype html><html lang="en"><meta charset="utf-8">'
                "<title>Busy</title><h1>Busy</h1><p>" + message + "</p></html>"
            ).encode()
            kind = "text/html; charset=utf-8"
        start_response(
            "503 Service Unavailable",
            [
                ("Content-Type", kind),
                ("Content-Length", str(len(body))),
                ("Retry-After", str(RETRY_AFTER)),
                ("Cache-Control", "no-store"),
            ],
        )
        return [body]


class _Released:
    """The app's response, releasing its place when the server closes it (WSGI ``close``),
    so a streamed response counts until its last byte is sent."""

    def __init__(self, result: Iterable[bytes], release: Callable[[], None]) -> None:
        self._result = result
        self._release = release
        self._done = False

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._result)

    def close(self) -> None:
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                close()
        finally:
            if not self._done:
                self._done = True
                self._release()


def install(app: Any, max_in_flight: int) -> LoadShedder | None:
    """Wrap *app*'s WSGI app when a limit applies; return the shedder (None: not installed)."""
    limit = configured_limit(max_in_flight)
    if limit is None:
        return None
    shedder = LoadShedder(app.wsgi_app, limit, exempt=Exemptions(plugin_rules(app)))
    app.wsgi_app = shedder  # outermost: a shed request costs no proxy fix, session or query
    app.extensions["idp.shedding"] = shedder
    log.info("load shedding: at most %d requests in flight per worker", limit)
    return shedder
