"""What the command-line tests share: a ``poort`` runner against an instance folder of its own,
and an ``idp`` runner against the test app (fake providers, movable clock)."""

from __future__ import annotations

import json
import os
import traceback
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy import select

import idp
from idp.cli import main
from idp.extensions import db
from idp.models import AuditEvent, OAuthClient, Verifier

# The autouse fixture in tests/conftest.py clears DATABASE_URL before every test; read it now.
OUTER_DATABASE_URL = os.environ.get("DATABASE_URL")
STRONG = "correct horse battery staple"
ISSUER = "https://login.example.org"
PHONE = "+31612345678"


class Poort:
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

    def fails(self, *args: str, input: str | None = None) -> str:
        result = self(*args, input=input)
        assert result.exit_code != 0, f"poort {' '.join(args)} should fail:\n{result.output}"
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
        return result.output

    def app(self) -> Flask:
        """A fresh app on the instance, as `poort run` would build it."""
        return idp.create_app()

    def rows(self, statement: Any) -> list[Any]:
        with self.app().app_context():
            rows = list(db.session.scalars(statement))
            for row in rows:
                if hasattr(row, "_sa_instance_state"):
                    db.session.expunge(row)
            return rows

    def audit(self) -> list[AuditEvent]:
        return self.rows(select(AuditEvent).order_by(AuditEvent.id))

    def clients(self) -> list[OAuthClient]:
        return self.rows(select(OAuthClient).order_by(OAuthClient.id))


class Idp:
    """``flask idp ...`` against the test app."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return self.app.test_cli_runner().invoke(args=["idp", *args], input=input)

    def ok(self, *args: str, input: str | None = None) -> str:
        result = self(*args, input=input)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
        assert result.exit_code == 0, result.output
        return result.output

    def fails(self, *args: str, input: str | None = None) -> str:
        result = self(*args, input=input)
        assert result.exit_code != 0, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
        assert "Traceback" not in result.output
        return result.output

    def verifier(self, name: str) -> Verifier | None:
        with self.app.app_context():
            row = db.session.scalar(select(Verifier).where(Verifier.name == name))
            if row is not None:
                db.session.expunge(row)
            return row

    def audit(self) -> list[tuple[str, str | None, str | None]]:
        with self.app.app_context():
            events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
            return [(e.action, e.target, e.actor) for e in events]

    def audit_json(self) -> str:
        with self.app.app_context():
            events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
            return json.dumps([[e.before, e.after] for e in events])


def add(idp_cli: Idp, name: str, *extra: str) -> str:
    """Add a verifier on the fake provider."""
    return idp_cli.ok("verifier", "add", name, "--provider", "fake", "--sender", "Poort", *extra)


def confirmed(idp_cli: Idp, name: str, *extra: str, enable: bool = True) -> None:
    """Add a verifier, confirm it with a test code, and enable it."""
    add(idp_cli, name, *extra)
    with idp_cli.app.app_context():
        row = db.session.scalar(select(Verifier).where(Verifier.name == name))
        row.confirmed_at = idp_cli.app.extensions["idp"].clock()
        row.enabled = enable
        db.session.commit()
