"""Fixtures: an app per test with a fresh database, a movable clock, users and logins."""

from __future__ import annotations

import os
import re
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from idp import create_app
from idp.extensions import db
from idp.models import Authenticator, User
from idp.plugins import Registry, from_classes
from idp_password import PasswordMethod
from tests.database import is_postgres, throwaway_postgres
from tests.fakes.clock import FakeClock

SECRET_KEY = "test-secret-key-that-is-long-enough-for-poort-0123456789"
PASSWORD = "correct horse battery staple"
_DATABASE_URL = os.environ.get("DATABASE_URL")
_schema_ready: set[str] = set()


# -- parallel runs (pytest-xdist) ---------------------------------------------------------

#: Tests that must stay on one xdist worker: they share one cluster and run in file order, or
#: install into one folder (npm, pip), or start one browser for many tests.
_TOGETHER = {
    "tests/e2e/test_two_nodes.py": "two-nodes",
    "tests/browser/": "browser",
    "tests/oidc/test_openid_client.py": "openid-client",
    "tests/test_packaging.py": "packaging",
    "tests/test_plugin_example.py": "plugin-example",
    "tests/security/test_fuzzing.py": "fuzzing",
}


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Run in parallel by default: ``-n auto --dist loadgroup`` unless -n was given.

    Set here rather than in addopts so ``-p no:xdist`` still runs the suite serially.
    """
    if not config.pluginmanager.hasplugin("xdist") or hasattr(config, "workerinput"):
        return
    if config.option.numprocesses is None and not config.option.collectonly:
        config.option.numprocesses = "auto"
        if config.option.dist == "no":
            config.option.dist = "loadgroup"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests of :data:`_TOGETHER` with their xdist_group (``--dist loadgroup``)."""
    for item in items:
        for prefix, group in _TOGETHER.items():
            if item.nodeid.startswith(prefix):
                item.add_marker(pytest.mark.xdist_group(group))
                break


# -- the machine: no real network, no leaking environment ---------------------------------


@pytest.fixture(autouse=True)
def _only_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse any connection that would leave this machine."""
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            if not (host.startswith("127.") or host in ("::1", "localhost")):
                raise OSError(f"tests may not connect to {host!r}: only loopback is allowed")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from each test's own config, never from the shell that runs pytest."""
    for name in list(os.environ):
        if name.startswith("IDP_") or name in ("DATABASE_URL", "REDIS_URL", "SMS_QUEUE"):
            monkeypatch.delenv(name)


_KEY_POOL: dict[str, list[bytes]] = {}
_KEY_TURN: dict[str, int] = {}


@pytest.fixture(autouse=True)
def _pooled_signing_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reuse a few generated signing keys across tests: RSA-3072 takes seconds to make.

    The pool holds four keys per algorithm and hands them out in turn, so a rotation inside
    one test still gets a key different from the one before.
    """
    from idp.oidc import keys

    real = keys._private_pem

    def pooled(alg: str) -> bytes:
        pool = _KEY_POOL.setdefault(alg, [])
        turn = _KEY_TURN.get(alg, 0)
        _KEY_TURN[alg] = turn + 1
        if len(pool) < 4:
            pool.append(real(alg))
            return pool[-1]
        return pool[turn % 4]

    monkeypatch.setattr(keys, "_private_pem", pooled)


# -- databases ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    """This run's own PostgreSQL database, or None when the suite runs on SQLite."""
    if not is_postgres(_DATABASE_URL):
        yield None
        return
    assert _DATABASE_URL is not None
    with throwaway_postgres(_DATABASE_URL) as url:
        yield url


@pytest.fixture
def database_url(postgres_url: str | None, tmp_path: Path) -> str:
    return postgres_url or f"sqlite:///{tmp_path / 'poort.sqlite3'}"


def _empty_tables() -> None:
    """Empty every table and restart the id sequences, in one round trip, after each test.

    DELETE on these small tables (about 1 ms) is several times cheaper than TRUNCATE, which
    swaps files, and than a fresh copy of a template database (CREATE DATABASE ... TEMPLATE
    and DROP DATABASE take about 40 + 50 ms).
    """
    tables = list(reversed(db.metadata.sorted_tables))
    # Table names come from our own metadata, never from input.
    deletes = "; ".join(f'DELETE FROM "{t.name}"' for t in tables)  # noqa: S608
    restarts = ", ".join(
        f"setval(pg_get_serial_sequence('\"{t.name}\"', 'id'), 1, false)"
        for t in tables
        if "id" in t.c and t.c["id"].primary_key and t.c["id"].autoincrement
    )
    db.session.execute(text(f"{deletes}; SELECT {restarts}"))
    db.session.commit()


# -- Redis ----------------------------------------------------------------------------------

#: The shared test Redis; each test keeps to keys of its own (see ``redis_token``).
REDIS_URL = "redis://127.0.0.1:6379/13"


def _no_redis(why: str) -> None:
    if os.environ.get("POORT_REQUIRE_REDIS") == "1":
        pytest.fail(f"POORT_REQUIRE_REDIS=1, but {why}")
    pytest.skip(why)


@pytest.fixture
def redis_token() -> str:
    """This test's mark in Redis: in its key prefix and worker names, deleted after it."""
    return uuid.uuid4().hex


@pytest.fixture
def redis_client(redis_token: str) -> Iterator[Any]:
    """A client of the test Redis, or skip (fail when POORT_REQUIRE_REDIS=1) without one.

    Afterwards every key naming this test's token is deleted, and so are RQ's set members
    (workers, queues) naming it: parallel tests share the database but never a key.
    """
    try:
        import redis
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        _no_redis(f"the redis package is missing ({exc})")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        client.close()
        _no_redis(f"no Redis at {REDIS_URL}: {exc}")
    try:
        yield client
    finally:
        keys = list(client.scan_iter(match=f"*{redis_token}*", count=500))
        if keys:
            client.delete(*keys)
        for key in client.scan_iter(match="rq:*", count=500, _type="set"):
            members = [m for m in client.smembers(key) if redis_token.encode() in m]
            if members:
                client.srem(key, *members)
        client.close()


@pytest.fixture
def redis_settings(redis_client: Any, redis_token: str) -> dict[str, str]:
    """Settings that put an app's Redis data under this test's own prefix."""
    return {"redis_url": REDIS_URL, "redis_prefix": f"test-{redis_token}:"}


# -- the app --------------------------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry() -> Registry:
    """The plugins a test app uses: explicit classes, never whatever happens to be installed."""
    return from_classes(PasswordMethod)


@pytest.fixture(scope="session")
def fernet_key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def app_config(tmp_path: Path, database_url: str, fernet_key: str) -> dict[str, Any]:
    """Settings of the test app; override this fixture (or mutate it) to change them."""
    return {
        "instance_path": str(tmp_path / "instance"),
        "secret_key": SECRET_KEY,
        "secret_keys": [fernet_key],
        "database_url": database_url,
        "password_hash_profile": "cheapest",
        "issuer": "https://localhost",
    }


@pytest.fixture(scope="session")
def sqlite_schema(tmp_path_factory: pytest.TempPathFactory) -> Callable[[], Path]:
    """The schema in an SQLite file, built once per run (per xdist worker) on first use.

    Each test's app starts from a copy of it: copying a file is far cheaper than running
    CREATE TABLE for every table again.
    """
    built: list[Path] = []

    def template() -> Path:
        if not built:
            path = tmp_path_factory.mktemp("schema") / "poort.sqlite3"
            engine = create_engine(f"sqlite:///{path}")
            db.metadata.create_all(engine)
            engine.dispose()
            built.append(path)
        return built[0]

    return template


def _from_template(url: str, template: Callable[[], Path]) -> bool:
    """Start the SQLite database of *url* as a copy of the schema; False if it already exists."""
    name = make_url(url).database
    if not name or name == ":memory:" or Path(name).exists():
        return False
    shutil.copyfile(template(), name)
    return True


@pytest.fixture
def app(
    app_config: dict[str, Any],
    registry: Registry,
    clock: FakeClock,
    sqlite_schema: Callable[[], Path],
) -> Iterator[Flask]:
    url = app_config["database_url"]
    postgres = is_postgres(url)
    copied = not postgres and _from_template(url, sqlite_schema)
    app = create_app(app_config, registry=registry, clock=clock)
    app.config["TESTING"] = True
    with app.app_context():
        if postgres and url not in _schema_ready:
            db.create_all()
            _schema_ready.add(url)
        elif postgres:
            _empty_tables()  # as a test before may have left it without this fixture
        elif not copied:
            db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        if postgres:
            _empty_tables()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()


# -- data -----------------------------------------------------------------------------------


@pytest.fixture
def make_user(app: Flask) -> Callable[..., User]:
    """Create a user; keyword arguments override the defaults. Password: PASSWORD."""
    counter = iter(range(1, 10_000))

    def make(password: str | None = PASSWORD, **overrides: Any) -> User:
        n = next(counter)
        values: dict[str, Any] = {
            "nickname": f"User {n}",
            "username": f"user{n}",
            "email": f"user{n}@example.org",
        }
        values.update(overrides)
        with app.app_context():
            from idp import state

            user = User(**values)
            if password is not None:
                user.password_hash = state.current().passwords.hash(password)
            db.session.add(user)
            db.session.commit()
            db.session.refresh(user)
            db.session.expunge(user)
            return user

    return make


@pytest.fixture
def make_authenticator(app: Flask) -> Callable[..., Authenticator]:
    """Create an authenticator row directly (enabled by default)."""

    def make(name: str = "password", method: str = "password", **overrides: Any) -> Authenticator:
        from sqlalchemy import func, select

        with app.app_context():
            position = (db.session.scalar(select(func.max(Authenticator.position))) or 0) + 1
            values: dict[str, Any] = {
                "name": name,
                "method": method,
                "title": name.title(),
                "enabled": True,
                "position": position,
                "options": {},
            }
            values.update(overrides)
            row = Authenticator(**values)
            db.session.add(row)
            db.session.commit()
            db.session.refresh(row)
            db.session.expunge(row)
            return row

    return make


# -- browsing -------------------------------------------------------------------------------

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    """The CSRF token a real browser would find on *path*."""
    page = client.get(path)
    match = _CSRF.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path} (status {page.status_code})"
    return match.group(1)


def post_form(
    client: FlaskClient,
    path: str,
    data: dict[str, Any] | None = None,
    *,
    page: str = "/login",
    **kwargs: Any,
) -> Any:
    """POST *data* to *path* with the CSRF token taken from *page*, as a browser would."""
    return client.post(
        path, data={"csrf_token": csrf_token(client, page), **(data or {})}, **kwargs
    )


def password_login(
    client: FlaskClient, login: str, password: str = PASSWORD, authenticator: str = "password"
) -> Any:
    return post_form(client, f"/login/{authenticator}", {"login": login, "password": password})


@pytest.fixture
def admin(make_user: Callable[..., User], make_authenticator: Callable[..., Authenticator]) -> User:
    make_authenticator()
    return make_user(username="root", email="root@example.org", nickname="Root", is_admin=True)


@pytest.fixture
def admin_client(client: FlaskClient, admin: User) -> FlaskClient:
    response = password_login(client, "root")
    assert response.status_code == 303, response.get_data(as_text=True)
    return client
