"""``poort init``: the instance folder with its keys, the database, and the first admin."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import click
from sqlalchemy import select

from idp.cli.admins import create_admin
from idp.cli.common import load_app, migrate
from idp.config import SECRET_KEY_FILE, instance_path_default
from idp.errors import InvalidInput
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


@click.command("init", context_settings={"ignore_unknown_options": False})
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
    app = load_app()
    migrate(app)
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
            user = create_admin(admin_username, admin_email, admin_password)
        except InvalidInput as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"Created admin {user.username}.")
