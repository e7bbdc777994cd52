"""``poort init`` as an operator runs it, against an instance folder of its own (on PostgreSQL
a throwaway database of its own through ``IDP_DATABASE_URL``), and the installed ``poort``
console script."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from idp.extensions import db
from idp.models import User
from tests.cli.support import OUTER_DATABASE_URL, STRONG, Poort
from tests.database import is_postgres

POORT = Path(sys.executable).parent / "poort"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_makes_private_keys_migrates_and_creates_the_first_admin(cli: Poort) -> None:
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


def test_init_refuses_a_weak_password(cli: Poort) -> None:
    out = cli.fails("init", "--admin-username", "root", "--admin-password", "short")

    assert "at least 8 characters" in out
    assert cli.rows(select(User)) == []
    assert cli.audit() == []


def test_init_twice_keeps_the_keys_and_makes_no_second_admin(cli: Poort) -> None:
    cli.ok("init", "--admin-username", "root", "--admin-password", STRONG)
    keys = {name: (cli.instance / name).read_text() for name in ("secret_key", "secret.keys")}

    out = cli.ok("init", "--admin-username", "other", "--admin-password", STRONG)

    assert "An admin exists already; not creating another." in out
    assert "Created" not in out
    assert keys == {name: (cli.instance / name).read_text() for name in keys}
    assert [u.username for u in cli.rows(select(User))] == ["root"]


def test_init_without_a_terminal_or_flags_leaves_the_admin_for_later(cli: Poort) -> None:
    out = cli.ok("init")

    assert "run `poort create-admin` later" in out
    assert cli.rows(select(User)) == []


def test_init_no_admin_flag(cli: Poort) -> None:
    out = cli.ok("init", "--no-admin")

    dialect = "postgresql" if is_postgres(OUTER_DATABASE_URL) else "sqlite"
    assert f"Database is up to date ({dialect}" in out
    assert cli.rows(select(User)) == []


def test_commands_before_init_name_the_missing_key(cli: Poort) -> None:
    out = cli.fails("plugins")

    assert "No secret key" in out
    assert "poort init" in out
    assert "Traceback" not in out


# -- the installed console script ---------------------------------------------------------------


@pytest.mark.slow
def test_the_poort_console_script_works_outside_python(cli: Poort) -> None:
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
