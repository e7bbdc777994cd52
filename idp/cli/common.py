"""Helpers shared by several ``poort`` command modules: loading the app, reading KEY=VALUE
options, turning Poort's errors into command-line errors, and reading the message log."""

from __future__ import annotations

import json
from typing import Any

import click
from flask import Flask
from sqlalchemy import func, select

from idp.errors import ConfigError, IdpError, PluginError


def load_app() -> Flask:
    """The app for commands that run before Flask's own app loading (``init``, ``demo``)."""
    from idp import create_app

    try:
        return create_app()
    except (ConfigError, PluginError) as exc:
        raise click.ClickException(str(exc)) from exc


def migrate(app: Flask) -> None:
    """Bring the database up to the newest migration."""
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()


def parse_options(pairs: tuple[str, ...]) -> dict[str, Any]:
    """KEY=VALUE pairs; VALUE is read as JSON when it parses (true, 3, ["a"]), else as text."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--option")
        try:
            options[key] = json.loads(value)
        except ValueError:
            options[key] = value
    return options


def fail(exc: IdpError) -> click.ClickException:
    """The error as one line, naming the field when the error has one."""
    field = getattr(exc, "field", None)
    return click.ClickException(f"{field}: {exc.message}" if field else exc.message)


def last_log_id() -> int:
    """The newest message-log row now, so a command can show the attempts it causes."""
    from idp.extensions import db
    from idp.models import SmsLogEntry

    return db.session.scalar(select(func.max(SmsLogEntry.id))) or 0


def attempts_since(last_id: int) -> list[str]:
    """The message-log rows written after *last_id*, one line each."""
    from idp.extensions import db
    from idp.models import SmsLogEntry

    lines = []
    rows = db.session.scalars(
        select(SmsLogEntry).where(SmsLogEntry.id > last_id).order_by(SmsLogEntry.id)
    )
    for number, row in enumerate(rows, start=1):
        if row.status == "failed":
            raw = f" {row.raw_code}" if row.raw_code else ""
            detail = f"{row.error_class}{raw}: {row.error_message or row.raw_meaning or ''}"
        else:
            detail = f"message id {row.provider_message_id or '-'}"
        lines.append(f"  {number}. {row.verifier_name} ({row.provider}): {row.status}, {detail}")
    return lines
