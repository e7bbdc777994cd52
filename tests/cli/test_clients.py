"""``poort client ...``, ``poort keys ...`` and the demo relying app ``poort demo`` registers,
each against an instance folder of its own (and a throwaway database on PostgreSQL)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy import select

import idp
from idp.cli import main
from idp.extensions import db
from idp.models import AuditEvent, OAuthClient, SigningKey
from tests.database import is_postgres, throwaway_postgres

OUTER_DATABASE_URL = os.environ.get("DATABASE_URL")
ISSUER = "https://login.example.org"


class Poort:
    def __init__(self, instance: Path) -> None:
        self.instance = instance
        self.apps: list[Flask] = []

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(main, list(args), input=input, catch_exceptions=True)

    def ok(self, *args: str, input: str | None = None) -> str:
        result = self(*args, input=input)
        assert result.exit_code == 0, f"poort {' '.join(args)}:\n{result.output}\n{result.exc_info}"
        return result.output

    def fails(self, *args: str, input: str | None = None) -> str:
        result = self(*args, input=input)
        assert result.exit_code != 0, f"poort {' '.join(args)} should fail:\n{result.output}"
        assert result.exception is None or isinstance(result.exception, SystemExit)
        return result.output

    def app(self) -> Flask:
        return idp.create_app()

    def rows(self, statement: Any) -> list[Any]:
        with self.app().app_context():
            rows = list(db.session.scalars(statement))
            for row in rows:
                if hasattr(row, "_sa_instance_state"):
                    db.session.expunge(row)
            return rows

    def clients(self) -> list[OAuthClient]:
        return self.rows(select(OAuthClient).order_by(OAuthClient.id))


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "instance"
    monkeypatch.setenv("IDP_INSTANCE_PATH", str(path))
    monkeypatch.setenv("IDP_PASSWORD_HASH_PROFILE", "cheapest")
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
    runner = Poort(instance)
    real_create_app = idp.create_app

    def recording_create_app(*args: Any, **kwargs: Any) -> Flask:
        app = real_create_app(*args, **kwargs)
        runner.apps.append(app)
        return app

    monkeypatch.setattr(idp, "create_app", recording_create_app)
    yield runner
    for app in runner.apps:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def ready(poort: Poort, monkeypatch: pytest.MonkeyPatch) -> Poort:
    """An initialised production-style instance (https issuer)."""
    monkeypatch.setenv("IDP_ISSUER", ISSUER)
    poort.ok("init", "--no-admin")
    return poort


def _value(output: str, name: str) -> str:
    match = re.search(rf"^{name}:\s+(\S+)$", output, re.MULTILINE)
    assert match, output
    return match.group(1)


# -- poort client ---------------------------------------------------------------------------


def test_client_add_prints_the_id_and_the_secret_once(ready: Poort) -> None:
    out = ready.ok(
        "client",
        "add",
        "Shop",
        "--redirect-uri",
        "https://shop.example/cb",
        "--redirect-uri",
        "https://shop.example/cb2",
        "--post-logout-uri",
        "https://shop.example/",
        "--scopes",
        "openid profile phone offline_access",
        "--first-party",
    )

    client_id, secret = _value(out, "client_id"), _value(out, "client_secret")
    assert "shown only this once" in out
    [row] = ready.clients()
    assert row.client_id == client_id and row.name == "Shop"
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert row.redirect_uris == ["https://shop.example/cb", "https://shop.example/cb2"]
    assert row.post_logout_redirect_uris == ["https://shop.example/"]
    assert row.scopes == "openid profile phone offline_access"
    assert row.first_party and row.require_pkce and not row.public
    listed = ready.ok("client", "list")
    assert client_id in listed and "https://shop.example/cb2" in listed
    assert secret not in listed
    [event] = ready.rows(select(AuditEvent).where(AuditEvent.action == "client.create"))
    assert event.actor == "cli" and secret not in json.dumps(event.after)


def test_client_add_public_and_no_pkce(ready: Poort) -> None:
    out = ready.ok("client", "add", "SPA", "--redirect-uri", "https://spa.example/", "--public")
    assert "client_secret" not in out
    ready.ok("client", "add", "Legacy", "--redirect-uri", "https://old.example/cb", "--no-pkce")

    spa, legacy = ready.clients()
    assert spa.public and spa.secret_hash is None and spa.require_pkce
    assert not legacy.public and not legacy.require_pkce
    listed = ready.ok("client", "list")
    assert "public" in listed and "no-pkce" in listed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--redirect-uri", "https://shop.example/cb#x"], "fragment"),
        (["--redirect-uri", "http://shop.example/cb"], "https"),
        (["--redirect-uri", "https://shop.example/cb", "--scopes", "openid admin"], "Unknown"),
        (["--redirect-uri", "https://shop.example/cb", "--public", "--no-pkce"], "PKCE"),
    ],
)
def test_client_add_refuses_bad_input(ready: Poort, args: list[str], message: str) -> None:
    out = ready.fails("client", "add", "Shop", *args)

    assert message in out
    assert ready.clients() == []


def test_client_add_needs_a_redirect_uri(ready: Poort) -> None:
    assert "--redirect-uri" in ready.fails("client", "add", "Shop")


def test_client_list_says_when_there_are_none(ready: Poort) -> None:
    assert "No applications" in ready.ok("client", "list")


def test_client_reset_secret(ready: Poort) -> None:
    out = ready.ok("client", "add", "Shop", "--redirect-uri", "https://shop.example/cb")
    client_id, old = _value(out, "client_id"), _value(out, "client_secret")

    new = _value(ready.ok("client", "reset-secret", client_id), "client_secret")

    assert new != old
    [row] = ready.clients()
    assert row.secret_hash == hashlib.sha256(new.encode()).hexdigest()
    assert "No application" in ready.fails("client", "reset-secret", "nope")


def test_client_reset_secret_of_a_public_client_fails(ready: Poort) -> None:
    out = ready.ok("client", "add", "SPA", "--redirect-uri", "https://spa.example/", "--public")

    assert "no secret" in ready.fails("client", "reset-secret", _value(out, "client_id"))


def test_client_delete_asks_unless_yes(ready: Poort) -> None:
    client_id = _value(
        ready.ok("client", "add", "Shop", "--redirect-uri", "https://shop.example/cb"),
        "client_id",
    )

    ready.fails("client", "delete", client_id, input="n\n")
    assert len(ready.clients()) == 1
    out = ready.ok("client", "delete", client_id, "--yes")

    assert "Deleted Shop" in out and ready.clients() == []
    assert "No application" in ready.fails("client", "delete", client_id, "--yes")


# -- poort keys -----------------------------------------------------------------------------


def _jwks_kids(poort: Poort) -> list[str]:
    response = poort.app().test_client().get("/oauth/jwks")
    return [key["kid"] for key in response.get_json()["keys"]]


def test_keys_rotate_keeps_the_old_key_published(ready: Poort) -> None:
    assert "No signing keys" in ready.ok("keys", "list")
    first = re.search(r"New signing key (\S+) \(RS256\)", ready.ok("keys", "rotate")).group(1)

    out = ready.ok("keys", "rotate", "--alg", "ES256")

    second = re.search(r"New signing key (\S+) \(ES256\)", out).group(1)
    assert f"Retired {first}" in out and "24 hours" in out
    assert set(_jwks_kids(ready)) == {first, second}
    listed = ready.ok("keys", "list")
    assert re.search(rf"{second}\s+ES256 .*active", listed)
    assert re.search(rf"{first}\s+RS256 .*retired, published until", listed)
    assert len(ready.rows(select(SigningKey))) == 2
    assert ready.rows(select(AuditEvent).where(AuditEvent.action == "keys.rotate"))


def test_keys_rotate_refuses_unknown_algorithms(ready: Poort) -> None:
    assert "HS256" in ready.fails("keys", "rotate", "--alg", "HS256")


# -- poort demo -----------------------------------------------------------------------------


def test_demo_registers_the_demo_app_and_writes_its_credentials(poort: Poort) -> None:
    out = poort.ok("demo")

    assert "http://127.0.0.1:5001/" in out
    path = poort.instance / "demo_app.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    credentials = json.loads(path.read_text())
    assert set(credentials) == {"issuer", "client_id", "client_secret", "redirect_uri"}
    assert credentials["issuer"] == "http://127.0.0.1:5000"
    assert credentials["redirect_uri"] == "http://127.0.0.1:5001/callback"
    [row] = poort.clients()
    assert row.name == "Demo app" and row.client_id == credentials["client_id"]
    assert row.first_party and not row.public and row.enabled
    assert row.redirect_uris == ["http://127.0.0.1:5001/callback"]
    assert row.post_logout_redirect_uris == ["http://127.0.0.1:5001/"]
    assert row.secret_hash == hashlib.sha256(credentials["client_secret"].encode()).hexdigest()
    assert credentials["client_secret"] not in out


def test_demo_twice_keeps_the_client_and_renews_its_secret(poort: Poort) -> None:
    poort.ok("demo")
    first = json.loads((poort.instance / "demo_app.json").read_text())
    (poort.instance / "demo_app.json").chmod(0o644)
    with poort.app().app_context():
        row = db.session.scalar(select(OAuthClient))
        row.enabled = False
        row.redirect_uris = ["http://127.0.0.1:5001/elsewhere"]
        db.session.commit()

    poort.ok("demo")

    second = json.loads((poort.instance / "demo_app.json").read_text())
    assert second["client_id"] == first["client_id"]
    assert second["client_secret"] != first["client_secret"]
    [row] = poort.clients()
    assert row.enabled and row.redirect_uris == ["http://127.0.0.1:5001/callback"]
    assert stat.S_IMODE((poort.instance / "demo_app.json").stat().st_mode) == 0o600
