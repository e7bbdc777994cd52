"""/healthz says the process is up; /readyz says the database (and Redis, when set) answer."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from idp import create_app
from idp.extensions import db
from idp.models import UserSession
from idp.plugins import Registry

REDIS_URL = "redis://127.0.0.1:6379/15"


def _closed_port() -> int:
    """A loopback port nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _redis_is_running() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def make_app(app_config: dict[str, Any], registry: Registry) -> Iterator[Any]:
    """Apps with settings of the test's choosing, on an empty database (no tables needed)."""
    apps: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        made = create_app({**app_config, **overrides}, registry=registry)
        made.config["TESTING"] = True
        apps.append(made)
        return made

    yield make
    for made in apps:
        with made.app_context():
            db.engine.dispose()


def test_healthz_says_ok(client: Any) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_on_a_working_database_without_redis(client: Any) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ready",
        "checks": {"database": "ok", "redis": "not configured"},
    }
    assert "Retry-After" not in response.headers


def test_a_broken_database_makes_readyz_fail_but_not_healthz(make_app: Any, tmp_path: Path) -> None:
    broken = make_app(database_url=f"sqlite:///{tmp_path / 'no-such-folder' / 'poort.sqlite3'}")
    client = broken.test_client()

    ready = client.get("/readyz")
    alive = client.get("/healthz")

    assert ready.status_code == 503
    body = ready.get_json()
    assert body["status"] == "not ready"
    assert body["checks"]["database"] == "error: OperationalError"
    assert body["checks"]["redis"] == "not configured"
    assert int(ready.headers["Retry-After"]) > 0
    assert "no-such-folder" not in ready.get_data(as_text=True)
    assert alive.status_code == 200


@pytest.mark.skipif(not _redis_is_running(), reason="no Redis on 127.0.0.1:6379")
def test_readyz_pings_redis_when_it_is_configured(make_app: Any) -> None:
    response = make_app(redis_url=REDIS_URL).test_client().get("/readyz")

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["checks"] == {"database": "ok", "redis": "ok"}


def test_an_unreachable_redis_makes_readyz_fail_without_showing_the_url(make_app: Any) -> None:
    url = f"redis://:hunter2-secret@127.0.0.1:{_closed_port()}/0"
    response = make_app(redis_url=url).test_client().get("/readyz")

    assert response.status_code == 503
    assert response.headers["Retry-After"]
    body = response.get_json()
    assert body["status"] == "not ready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error: ")
    text = response.get_data(as_text=True)
    assert "hunter2" not in text and "127.0.0.1" not in text


def test_a_redis_that_never_answers_fails_within_the_timeout(make_app: Any) -> None:
    import time

    with socket.socket() as silent:  # accepts connections (the kernel does), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        client = make_app(redis_url=url).test_client()
        started = time.monotonic()
        response = client.get("/readyz")
        took = time.monotonic() - started

    assert response.status_code == 503
    assert response.get_json()["checks"]["redis"] == "error: TimeoutError"
    assert took < 5


def test_probes_neither_create_sessions_nor_set_cookies(app: Flask, client: Any) -> None:
    for path in ("/healthz", "/readyz", "/healthz", "/readyz"):
        response = client.get(path)
        assert response.status_code == 200
        assert "Set-Cookie" not in response.headers, path

    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(UserSession)) == 0


def test_probes_answer_head_and_refuse_post(client: Any) -> None:
    assert client.head("/healthz").status_code == 200
    assert client.head("/readyz").status_code == 200
    assert client.post("/healthz").status_code == 405
