"""The command line as an operator uses it: ``poort init``, ``create-admin``, ``plugins``,
``authenticator add|list|enable|disable`` and ``demo``, each against its own instance folder.

On SQLite the instance holds the database file; when the suite runs on PostgreSQL each test gets
a throwaway database of its own through ``IDP_DATABASE_URL``.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import tomllib
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy import inspect, select

import idp
from idp.cli import main
from idp.extensions import db
from idp.models import AuditEvent, Authenticator, User
from tests.conftest import password_login
from tests.database import is_postgres, throwaway_postgres

# The autouse fixture in conftest.py clears DATABASE_URL before every test; read it now.
OUTER_DATABASE_URL = os.environ.get("DATABASE_URL")
STRONG = "correct horse battery staple"
ISSUER = "https://login.example.org"
POORT = Path(sys.executable).parent / "poort"


class Cli:
    """Runs ``poort`` commands in-process and looks into the instance they changed."""

    def __init__(self, instance: Path) -> None:
        self.instance = instance
        self.apps: list[Flask] = []

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(main, list(args), input=input, catch_exceptions=True)

    def ok(self, *args: str, input: str | None = None) -> str:
        result = self(*args, input=input)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            assert result.exc_info is not None
            trace = "".join(traceback.format_exception(*result.exc_info))
            pytest.fail(f"poort {' '.join(args)} raised:\n{trace}")
        assert result.exit_code == 0, f"poort {' '.join(args)}:\n{result.output}"
        return result.output

    def fails(self, *args: str) -> str:
        result = self(*args)
        assert result.exit_code != 0, f"poort {' '.join(args)} should fail:\n{result.output}"
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
        return result.output

    def app(self) -> Flask:
        """A fresh app on the instance, as `poort run` would build it."""
        return idp.create_app()

    def rows(self, statement: Any) -> list[Any]:
        with self.app().app_context():
            return list(db.session.scalars(statement))

    def audit(self) -> list[AuditEvent]:
        return self.rows(select(AuditEvent).order_by(AuditEvent.id))


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An instance folder that does not exist yet, and a database nobody else uses."""
    path = tmp_path / "instance"
    monkeypatch.setenv("IDP_INSTANCE_PATH", str(path))
    monkeypatch.setenv("IDP_PASSWORD_HASH_PROFILE", "cheapest")
    # Outside dev mode Poort needs to know the URL relying apps know it by.
    monkeypatch.setenv("IDP_ISSUER", ISSUER)
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
def cli(instance: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    runner = Cli(instance)
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


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- init -----------------------------------------------------------------------------------


def test_init_makes_private_keys_migrates_and_creates_the_first_admin(cli: Cli) -> None:
    out = cli.ok(
        "init",
        "--admin-username",
        "Root",
        "--admin-email",
        "Root@Example.org",
        "--admin-password",
        STRONG,
    )

    assert "Created admin root." in out
    for name in ("secret_key", "secret.keys"):
        assert (cli.instance / name).is_file()
        assert _mode(cli.instance / name) == 0o600, name
    with cli.app().app_context():
        tables = set(inspect(db.engine).get_table_names())
    assert {"users", "sessions", "authenticators", "audit_events", "alembic_version"} <= tables
    [admin] = cli.rows(select(User))
    assert (admin.username, admin.email, admin.is_admin) == ("root", "root@example.org", True)
    assert admin.password_hash and STRONG not in admin.password_hash
    [event] = cli.audit()
    assert (event.action, event.actor, event.target) == ("user.create_admin", "cli", "user:1")


def test_init_refuses_a_weak_password(cli: Cli) -> None:
    out = cli.fails("init", "--admin-username", "root", "--admin-password", "short")

    assert "at least 8 characters" in out
    assert cli.rows(select(User)) == []
    assert cli.audit() == []


def test_init_twice_keeps_the_keys_and_makes_no_second_admin(cli: Cli) -> None:
    cli.ok("init", "--admin-username", "root", "--admin-password", STRONG)
    keys = {name: (cli.instance / name).read_text() for name in ("secret_key", "secret.keys")}

    out = cli.ok("init", "--admin-username", "other", "--admin-password", STRONG)

    assert "An admin exists already; not creating another." in out
    assert "Created" not in out
    assert keys == {name: (cli.instance / name).read_text() for name in keys}
    assert [u.username for u in cli.rows(select(User))] == ["root"]


def test_init_without_a_terminal_or_flags_leaves_the_admin_for_later(cli: Cli) -> None:
    out = cli.ok("init")

    assert "run `poort create-admin` later" in out
    assert cli.rows(select(User)) == []


def test_init_no_admin_flag(cli: Cli) -> None:
    out = cli.ok("init", "--no-admin")

    dialect = "postgresql" if is_postgres(OUTER_DATABASE_URL) else "sqlite"
    assert f"Database is up to date ({dialect}" in out
    assert cli.rows(select(User)) == []


def test_commands_before_init_name_the_missing_key(cli: Cli) -> None:
    out = cli.fails("plugins")

    assert "No secret key" in out
    assert "poort init" in out
    assert "Traceback" not in out


# -- create-admin -----------------------------------------------------------------------------


def test_create_admin(cli: Cli) -> None:
    cli.ok("init", "--no-admin")

    out = cli.ok(
        "create-admin", "--username", "Alice", "--email", "a@example.org", "--password", STRONG
    )

    assert "Created admin alice." in out
    [user] = cli.rows(select(User))
    assert (user.username, user.nickname, user.is_admin) == ("alice", "alice", True)
    assert [(e.action, e.actor) for e in cli.audit()] == [("user.create_admin", "cli")]


def test_create_admin_prompts_for_the_password_twice(cli: Cli) -> None:
    cli.ok("init", "--no-admin")

    cli.ok("create-admin", "--username", "alice", input=f"{STRONG}\n{STRONG}\n")

    assert [u.username for u in cli.rows(select(User))] == ["alice"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--username", "bob", "--password", "short"], "at least 8 characters"),
        (["--username", "root", "--password", STRONG], "exists"),
        (["--username", "new", "--email", "root@example.org", "--password", STRONG], "exists"),
        (["--username", "  ", "--password", STRONG], "username is required"),
    ],
)
def test_create_admin_refuses(cli: Cli, args: list[str], message: str) -> None:
    cli.ok("init", "--admin-username", "root", "--admin-email", "root@example.org",
           "--admin-password", STRONG)  # fmt: skip

    out = cli.fails("create-admin", *args)

    assert message in out
    assert [u.username for u in cli.rows(select(User))] == ["root"]


# -- plugins ----------------------------------------------------------------------------------


def test_plugins_lists_the_password_method(cli: Cli) -> None:
    cli.ok("init", "--no-admin")

    out = cli.ok("plugins")

    assert "Auth methods:" in out
    assert re.search(r"^\s+password\s+Password\s+\[poort ", out, re.MULTILINE), out
    assert "SMS providers:" in out


def test_plugins_through_flask_idp_group(runner: Any) -> None:
    """`flask --app wsgi idp plugins` is the same command, under Flask's own CLI."""
    result = runner.invoke(args=["idp", "plugins"])

    assert result.exit_code == 0, result.output
    assert "password" in result.output


# -- authenticators ---------------------------------------------------------------------------


def test_authenticator_add_list_enable_disable(cli: Cli) -> None:
    cli.ok("init", "--no-admin")
    assert "No authenticators." in cli.ok("authenticator", "list")

    out = cli.ok(
        "authenticator", "add", "pw", "--method", "password", "--option", "allow_email=false",
        "--enable", "--title", "Staff password",
    )  # fmt: skip
    assert "Created authenticator pw (password), enabled." in out
    assert re.search(
        r"1\s+enabled\s+pw\s+password\s+Staff password", cli.ok("authenticator", "list")
    )

    assert "pw is disabled." in cli.ok("authenticator", "disable", "pw")
    assert re.search(r"1\s+disabled\s+pw\s+password", cli.ok("authenticator", "list"))
    assert "pw is disabled." in cli.ok("authenticator", "disable", "pw")  # no change, no entry

    assert "pw is enabled." in cli.ok("authenticator", "enable", "pw")

    [row] = cli.rows(select(Authenticator))
    assert (row.name, row.method, row.enabled, row.options) == (
        "pw",
        "password",
        True,
        {"allow_email": False},
    )
    events = [(e.action, e.actor, e.target) for e in cli.audit()]
    assert events == [
        ("authenticator.create", "cli", "authenticator:pw"),
        ("authenticator.disable", "cli", "authenticator:pw"),
        ("authenticator.enable", "cli", "authenticator:pw"),
    ]
    disable = cli.audit()[1]
    assert (disable.before["enabled"], disable.after["enabled"]) == (True, False)


def test_authenticator_add_takes_option_defaults_and_is_disabled_by_default(cli: Cli) -> None:
    cli.ok("init", "--no-admin")

    out = cli.ok("authenticator", "add", "staff", "--method", "password")

    assert "disabled" in out
    [row] = cli.rows(select(Authenticator))
    assert (row.enabled, row.title, row.options) == (False, "Password", {"allow_email": True})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["enable", "nope"], "No authenticator called 'nope'"),
        (["disable", "nope"], "No authenticator called 'nope'"),
        (["add", "x", "--method", "nope"], "No auth method called 'nope' is installed"),
        (["add", "x", "--method", "password", "--option", "colour=blue"], "colour: Unknown option"),
        (["add", "x", "--method", "password", "--option", "allow_email"], "is not KEY=VALUE"),
        (["add", "Bad Slug!", "--method", "password"], "lower-case letters, digits and hyphens"),
        (["add", "-x", "--method", "password"], "No such option"),
        (["add", "x"], "Missing option '--method'"),
    ],
)
def test_authenticator_errors_are_clear_and_change_nothing(
    cli: Cli, args: list[str], message: str
) -> None:
    cli.ok("init", "--no-admin")

    out = cli.fails("authenticator", *args)

    assert message in out
    assert "Traceback" not in out
    assert cli.rows(select(Authenticator)) == []
    assert cli.audit() == []


def test_authenticator_names_are_unique(cli: Cli) -> None:
    cli.ok("init", "--no-admin")
    cli.ok("authenticator", "add", "pw", "--method", "password")

    out = cli.fails("authenticator", "add", "pw", "--method", "password")

    assert "exists already" in out
    assert len(cli.rows(select(Authenticator))) == 1


# -- demo -------------------------------------------------------------------------------------


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


def test_demo_sets_up_a_dev_instance_whose_admin_can_sign_in(cli: Cli) -> None:
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


def test_demo_twice_resets_the_password(cli: Cli) -> None:
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


def test_demo_refuses_an_instance_that_is_not_in_dev_mode(cli: Cli) -> None:
    cli.instance.mkdir()
    production = 'site_name = "Production"\n# not dev = true, only a comment\n'
    (cli.instance / "poort.toml").write_text(production)

    out = cli.fails("demo")

    assert "will not touch" in out
    assert (cli.instance / "poort.toml").read_text() == production
    assert sorted(p.name for p in cli.instance.iterdir()) == ["poort.toml"]


def test_demo_reports_a_broken_config_file(cli: Cli) -> None:
    cli.instance.mkdir()
    (cli.instance / "poort.toml").write_text("dev = \n")

    out = cli.fails("demo")

    assert "poort.toml" in out
    assert "line 1" in out


# -- the installed console script ---------------------------------------------------------------


@pytest.mark.slow
def test_the_poort_console_script_works_outside_python(cli: Cli) -> None:
    env = {**os.environ, "CI": "true"}

    def poort(*args: str) -> str:
        done = subprocess.run(
            [str(POORT), *args],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"poort {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    assert POORT.is_file(), f"{POORT} is not installed; run pip install -e ."
    assert "authenticator" in poort("--help")
    assert "Created admin root." in poort(
        "init", "--admin-username", "root", "--admin-password", STRONG
    )
    poort("authenticator", "add", "pw", "--method", "password", "--enable")
    assert re.search(r"enabled\s+pw\s+password", poort("authenticator", "list"))
    assert [(e.action, e.actor) for e in cli.audit()] == [
        ("user.create_admin", "cli"),
        ("authenticator.create", "cli"),
    ]
