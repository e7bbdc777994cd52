"""Command line: ``flask --app wsgi idp ...``, or the same commands as ``poort ...``.

``poort`` is Flask's own command group (``run``, ``shell``, ``db``, ``routes``) with Poort's
commands added at the top level, so ``poort init`` can run before any key exists.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Any

import click
from flask import Flask
from flask.cli import FlaskGroup, NoAppException, with_appcontext
from sqlalchemy import or_, select

from idp.config import SECRET_KEY_FILE, instance_path_default
from idp.errors import ConfigError, InvalidInput, PluginError
from idp.security.secret_box import KEYS_FILE, new_key


def _write_private(path: Path, text: str) -> None:
    """Create *path* readable by its owner only; never overwrite an existing key."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def ensure_instance(instance_path: Path) -> list[str]:
    """Create the instance folder and its keys where missing; return what was created."""
    created = []
    instance_path.mkdir(parents=True, exist_ok=True)
    if not (instance_path / SECRET_KEY_FILE).exists():
        _write_private(instance_path / SECRET_KEY_FILE, secrets.token_urlsafe(48) + "\n")
        created.append(SECRET_KEY_FILE)
    if not (instance_path / KEYS_FILE).exists():
        _write_private(instance_path / KEYS_FILE, new_key() + "\n")
        created.append(KEYS_FILE)
    return created


def _migrate(app: Flask) -> None:
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()


def _create_admin(
    username: str, email: str | None, password: str, nickname: str | None = None
) -> Any:
    from idp import state
    from idp.extensions import db
    from idp.models import User
    from idp.security import audit
    from idp.security.passwords import password_problem

    username = username.strip().casefold()
    email = email.strip().casefold() if email else None
    if not username:
        raise InvalidInput("A username is required.", field="username")
    problem = password_problem(password)
    if problem:
        raise InvalidInput(problem, field="password")
    same = [User.username == username] + ([User.email == email] if email else [])
    clash = db.session.scalar(select(User).where(or_(*same)))
    if clash is not None:
        raise InvalidInput(
            f"A user called {username!r} or with that e-mail exists.", field="username"
        )
    user = User(
        nickname=nickname or username,
        username=username,
        email=email,
        password_hash=state.current().passwords.hash(password),
        is_admin=True,
    )
    db.session.add(user)
    db.session.flush()
    audit.record("user.create_admin", f"user:{user.id}", after={"username": username})
    db.session.commit()
    return user


def _fail(exc: Exception) -> None:
    raise click.ClickException(str(exc)) from exc


@click.group("idp")
def idp_group() -> None:
    """Poort administration commands."""


@idp_group.command("init", context_settings={"ignore_unknown_options": False})
@click.option("--admin-username", help="Create the first admin with this username.")
@click.option("--admin-email", help="E-mail address of the first admin.")
@click.option("--admin-password", help="Password of the first admin (prompted when omitted).")
@click.option("--no-admin", is_flag=True, help="Do not create an admin now.")
def init_command(
    admin_username: str | None, admin_email: str | None, admin_password: str | None, no_admin: bool
) -> None:
    """Create instance/ with its keys, migrate the database, and create the first admin."""
    instance_path = instance_path_default()
    for name in ensure_instance(instance_path):
        click.echo(f"Created {instance_path / name}")
    app = _app()
    _migrate(app)
    click.echo(f"Database is up to date ({app.config['SQLALCHEMY_DATABASE_URI'].split('://')[0]}).")
    if no_admin:
        return
    with app.app_context():
        from idp.extensions import db
        from idp.models import User

        if db.session.scalar(select(User.id).where(User.is_admin.is_(True)).limit(1)):
            click.echo("An admin exists already; not creating another.")
            return
        if admin_username is None:
            if not sys.stdin.isatty():
                click.echo(
                    "No admin created (no --admin-username); run `poort create-admin` later."
                )
                return
            admin_username = click.prompt("Admin username")
        if admin_password is None:
            admin_password = click.prompt(
                "Admin password", hide_input=True, confirmation_prompt=True
            )
        try:
            user = _create_admin(admin_username, admin_email, admin_password)
        except InvalidInput as exc:
            _fail(exc)
        click.echo(f"Created admin {user.username}.")


@idp_group.command("create-admin")
@click.option("--username", prompt=True)
@click.option("--email", default=None)
@click.option("--nickname", default=None)
@click.password_option("--password")
@with_appcontext
def create_admin_command(
    username: str, email: str | None, nickname: str | None, password: str
) -> None:
    """Create an administrator account."""
    try:
        user = _create_admin(username, email, password, nickname)
    except InvalidInput as exc:
        _fail(exc)
    click.echo(f"Created admin {user.username}.")


@idp_group.command("plugins")
@with_appcontext
def plugins_command() -> None:
    """List installed plugins and the ones that failed to load."""
    from idp import state

    registry = state.current().registry
    for heading, plugins in (
        ("Auth methods", registry.auth_methods),
        ("SMS providers", registry.sms_providers),
    ):
        click.echo(f"{heading}:")
        for plugin in sorted(plugins.values(), key=lambda p: p.id):
            origin = f"{plugin.distribution} {plugin.version or ''}".strip()
            click.echo(f"  {plugin.id:<14} {plugin.title}  [{origin}]")
        if not plugins:
            click.echo("  (none)")
    if registry.failures:
        click.echo("Not loaded:")
        for failure in registry.failures:
            click.echo(f"  {failure.id:<14} {failure.reason}")


from idp.cli_authenticators import authenticator_group, demo_command  # noqa: E402

idp_group.add_command(authenticator_group)
idp_group.add_command(demo_command)

from idp.cli_sms import rotate_secret_key_command, sms_group, verifier_group  # noqa: E402

idp_group.add_command(verifier_group)
idp_group.add_command(sms_group)
idp_group.add_command(rotate_secret_key_command)

from idp.cli_oidc import client_group, keys_group  # noqa: E402

idp_group.add_command(client_group)
idp_group.add_command(keys_group)

from idp.cli_limits import limits_group  # noqa: E402

idp_group.add_command(limits_group)

from idp.cli_worker import worker_command  # noqa: E402

idp_group.add_command(worker_command)


@idp_group.command("prune")
@with_appcontext
def prune_command() -> None:
    """Delete dead sessions, old codes, expired tokens and old audit events (run it daily)."""
    from idp.maintenance import prune

    for name, count in prune().items():
        click.echo(f"{name}: {count} deleted")


@idp_group.group("audit")
def audit_group() -> None:
    """The audit log."""


@audit_group.command("prune")
@click.option(
    "--older-than",
    "older_than",
    type=click.IntRange(min=1),
    default=None,
    metavar="DAYS",
    help="Delete events older than this many days (default: the audit_retention_days setting).",
)
@with_appcontext
def audit_prune_command(older_than: int | None) -> None:
    """Delete audit events older than the retention period; the deletion itself is audited."""
    from idp import state
    from idp.maintenance import prune_audit

    days = older_than or state.current().settings.audit_retention_days
    count = prune_audit(days)
    click.echo(f"audit_events: {count} deleted (older than {days} days)")


@idp_group.command("serve")
@click.option(
    "--bind",
    "-b",
    multiple=True,
    metavar="ADDRESS",
    help="HOST:PORT or unix:PATH to listen on; repeat for more (default 127.0.0.1:8000).",
)
@click.option("--workers", "-w", type=click.IntRange(min=1), help="Worker processes (default 2).")
@click.option(
    "--threads", type=click.IntRange(min=1), help="Threads per worker process (default 8)."
)
def serve_command(bind: tuple[str, ...], workers: int | None, threads: int | None) -> None:
    """Serve Poort in production with gunicorn (threaded workers, graceful SIGTERM)."""
    from idp.serving import serve

    try:
        serve(bind, workers, threads)
    except ConfigError as exc:  # PluginError included
        raise click.ClickException(str(exc)) from exc


def _app() -> Flask:
    from idp import create_app

    try:
        return create_app()
    except (ConfigError, PluginError) as exc:
        raise click.ClickException(str(exc)) from exc


def register_cli(app: Flask) -> None:
    app.cli.add_command(idp_group)


def _poort_app() -> Flask:
    # NoAppException makes Flask print the reason in one line (not a traceback), even in --help.
    from idp import create_app

    try:
        return create_app()
    except (ConfigError, PluginError) as exc:
        raise NoAppException(str(exc)) from exc


class PoortGroup(FlaskGroup):
    """Flask's commands plus Poort's, without needing --app."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(create_app=_poort_app, add_version_option=True, **kwargs)
        for name, command in idp_group.commands.items():
            self.add_command(command, name)


main = PoortGroup(help="Poort identity provider.")
