"""Health endpoints for load balancers and orchestrators.

- ``GET /healthz``: the process is up and answers requests. It touches nothing else, so a
  database outage does not make an orchestrator restart every Poort process (liveness).
- ``GET /readyz``: Poort can do its work: the database answers ``SELECT 1`` and, when
  ``redis_url`` is set, Redis answers PING (readiness). A failed check gives 503 with a
  ``Retry-After`` header, the names of the failing dependencies (``failing``) and, per check, a
  short reason that names no host, user or password. A Redis outage or recovery it sees is
  logged once (:mod:`idp.abuse.redis_outage`), not once per probe.

Neither reads or writes the session, so a probe never creates a server-side session row, and
both are exempt from CSRF (they only answer GET and HEAD anyway).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from idp import state
from idp.abuse import redis_outage
from idp.extensions import csrf, db

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)

#: Seconds a Redis check may take to connect, and then to get its answer.
REDIS_TIMEOUT = 1.0
#: What a 503 asks the caller to wait before asking again.
RETRY_AFTER_SECONDS = 5

OK = "ok"
NOT_CONFIGURED = "not configured"


def _answer(body: dict[str, Any], status: int) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _reason(exc: BaseException) -> str:
    """The kind of failure, never its text: driver messages may name hosts and users."""
    orig = getattr(exc, "orig", None)  # SQLAlchemy wraps the driver's exception
    kind = type(orig if isinstance(orig, BaseException) else exc).__name__
    return f"error: {kind}"


def check_database() -> str:
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        log.warning("readiness: the database check failed: %s", type(exc).__name__)
        return _reason(exc)
    return OK


def check_redis(url: str) -> str:
    try:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
    except ImportError:
        return "error: the redis package is not installed (pip install 'poort[redis]')"
    outage = redis_outage.current()
    client = None
    try:
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=REDIS_TIMEOUT,
            socket_timeout=REDIS_TIMEOUT,
            retry=Retry(NoBackoff(), 0),  # one try: a probe has a deadline of its own
        )
        client.ping()
    except Exception as exc:
        if outage is not None:
            outage.failed(exc)  # one log line per outage, not one per probe
        else:
            log.warning("readiness: the Redis check failed: %s", type(exc).__name__)
        return _reason(exc)
    finally:
        if client is not None:
            client.close()
    if outage is not None:
        outage.answered()  # requests use Redis again at once, without waiting for a probe
    return OK


@bp.get("/healthz")
@csrf.exempt
def healthz() -> Response:
    return _answer({"status": "ok"}, 200)


@bp.get("/readyz")
@csrf.exempt
def readyz() -> Response:
    redis_url = state.settings().redis_url
    checks = {
        "database": check_database(),
        "redis": check_redis(redis_url) if redis_url else NOT_CONFIGURED,
    }
    if all(result in (OK, NOT_CONFIGURED) for result in checks.values()):
        return _answer({"status": "ready", "checks": checks}, 200)
    failing = sorted(name for name, result in checks.items() if result not in (OK, NOT_CONFIGURED))
    response = _answer({"status": "not ready", "failing": failing, "checks": checks}, 503)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
