"""``poort demo``: a dev instance whose admin can sign in with a password, and the demo
relying app registered with its credentials written for ``examples/demo_app``."""

from __future__ import annotations

import hashlib
import json
import re
import stat
import tomllib
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from idp.auth import authenticators
from idp.extensions import db
from idp.models import Authenticator, OAuthClient, User
from idp.plugins import Registry, from_classes
from idp_password import PasswordMethod
from idp_totp import TotpMethod
from tests.cli.support import Poort
from tests.conftest import password_login


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _demo_password(output: str) -> str:
    match = re.search(r"admin password: (\S+)", output)
    assert match, output
    return match.group(1)


def _signs_in(app: Flask, login: str, password: str) -> bool:
    client = app.test_client()
    response = password_login(client, login, password)
    if response.status_code != 303:
        return False
    return client.get("/admin/").status_code == 200


def test_demo_sets_up_a_dev_instance_whose_admin_can_sign_in(cli: Poort) -> None:
    out = cli.ok("demo")

    password = _demo_password(out)
    assert "admin username: admin" in out
    assert "http://127.0.0.1:5000/" in out
    config = tomllib.loads((cli.instance / "poort.toml").read_text())
    assert config == {"dev": True}
    for name in ("secret_key", "secret.keys"):
        assert _mode(cli.instance / name) == 0o600
    [row] = cli.rows(select(Authenticator))
    assert (row.name, row.method, row.enabled) == ("password", "password", True)
    app = cli.app()
    assert app.extensions["idp"].settings.dev
    assert "Sign in" in app.test_client().get("/login").get_data(as_text=True)
    assert _signs_in(app, "admin", password)
    assert {e.actor for e in cli.audit() if e.action != "login.success"} == {"cli"}


def test_demo_twice_resets_the_password(cli: Poort) -> None:
    first = _demo_password(cli.ok("demo"))
    keys = (cli.instance / "secret.keys").read_text()

    second = _demo_password(cli.ok("demo"))

    assert first != second
    app = cli.app()
    assert not _signs_in(app, "admin", first)
    assert _signs_in(app, "admin", second)
    assert len(cli.rows(select(User))) == 1
    assert len(cli.rows(select(Authenticator))) == 1
    assert (cli.instance / "secret.keys").read_text() == keys


def test_demo_refuses_an_instance_that_is_not_in_dev_mode(cli: Poort) -> None:
    cli.instance.mkdir()
    production = 'site_name = "Production"\n# not dev = true, only a comment\n'
    (cli.instance / "poort.toml").write_text(production)

    out = cli.fails("demo")

    assert "will not touch" in out
    assert (cli.instance / "poort.toml").read_text() == production
    assert sorted(p.name for p in cli.instance.iterdir()) == ["poort.toml"]


def test_demo_reports_a_broken_config_file(cli: Poort) -> None:
    cli.instance.mkdir()
    (cli.instance / "poort.toml").write_text("dev = \n")

    out = cli.fails("demo")

    assert "poort.toml" in out
    assert "line 1" in out


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


class SecretWord(PasswordMethod):
    """A password method by another name: the demo must find it by what it does."""

    name = "secret-word"
    title = "Secret word"


@pytest.fixture
def registry() -> Registry:
    return from_classes(TotpMethod, SecretWord)


def test_the_password_method_is_found_by_its_amr_not_its_name(app: Flask) -> None:
    with app.app_context():
        assert authenticators.password_methods() == ["secret-word"]
