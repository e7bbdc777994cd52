"""Fixtures of the command-line tests; the helpers they use are in tests/cli/support.py."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

import idp
from idp.extensions import db
from idp.models import User
from tests.cli.support import ISSUER, OUTER_DATABASE_URL, Idp, Poort
from tests.database import is_postgres, throwaway_postgres
from tests.verification.providers import SENT


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An instance folder that does not exist yet, and a database nobody else uses."""
    path = tmp_path / "instance"
    monkeypatch.setenv("IDP_INSTANCE_PATH", str(path))
    monkeypatch.setenv("IDP_PASSWORD_HASH_PROFILE", "cheapest")
    # Flask's CLI sets this; keep it from leaking into the rest of the session.
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "")
    if is_postgres(OUTER_DATABASE_URL):
        assert OUTER_DATABASE_URL is not None
        with throwaway_postgres(OUTER_DATABASE_URL) as url:
            monkeypatch.setenv("IDP_DATABASE_URL", url)
            yield path
    else:
        yield path


@pytest.fixture
def poort(instance: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Poort]:
    """``poort ...`` on a fresh instance in dev mode's defaults (no issuer set)."""
    runner = Poort(instance)
    real_create_app = idp.create_app

    def recording_create_app(*args: Any, **kwargs: Any) -> Flask:
        app = real_create_app(*args, **kwargs)
        runner.apps.append(app)
        return app

    # The CLI builds its apps through idp.create_app; remember them to close their pools.
    monkeypatch.setattr(idp, "create_app", recording_create_app)
    yield runner
    for app in runner.apps:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def cli(poort: Poort, monkeypatch: pytest.MonkeyPatch) -> Poort:
    """``poort ...`` on a fresh production-style instance (not initialised yet)."""
    # Outside dev mode Poort needs to know the URL relying apps know it by.
    monkeypatch.setenv("IDP_ISSUER", ISSUER)
    return poort


@pytest.fixture
def ready(cli: Poort) -> Poort:
    """An initialised production-style instance (https issuer)."""
    cli.ok("init", "--no-admin")
    return cli


@pytest.fixture(autouse=True)
def _clear_sent() -> Iterator[None]:
    SENT.clear()
    yield
    SENT.clear()


@pytest.fixture
def idp_cli(app: Flask) -> Idp:
    return Idp(app)


@pytest.fixture
def admin_user(make_user: Callable[..., User]) -> User:
    return make_user(username="root", is_admin=True)


@pytest.fixture
def fixed_code(monkeypatch: pytest.MonkeyPatch) -> str:
    """Every code is 123456 (codes come from secrets.randbelow)."""
    monkeypatch.setattr(secrets, "randbelow", lambda n: 123456)
    return "123456"
