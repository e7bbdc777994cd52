"""CLI for authenticators (``poort authenticator ...``) and the demo set-up (``poort demo``)."""

from __future__ import annotations

import json
import secrets
from typing import Any

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from idp.cli_oidc import DEMO_APP_URL, DEMO_CREDENTIALS_FILE, register_demo_client
from idp.config import CONFIG_FILE, instance_path_default, read_config_file
from idp.errors import ConfigError, InvalidInput
from idp.options import OptionsInvalid

DEMO_TOML = """\
# Written by `poort demo`: a development instance. Do not use these settings in production.
dev = true
"""


def _parse_options(pairs: tuple[str, ...]) -> dict[str, Any]:
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


@click.group("authenticator")
def authenticator_group() -> None:
    """Make, list, enable and disable authenticators."""


@authenticator_group.command("add")
@click.argument("name")
@click.option("--method", required=True, help="Plugin id of the auth method, e.g. password.")
@click.option("--title", default="", help="Title on the login page.")
@click.option("--option", "option_pairs", multiple=True, metavar="KEY=VALUE", help="An option.")
@click.option("--enable", is_flag=True, help="Enable it straight away.")
@with_appcontext
def add_command(
    name: str, method: str, title: str, option_pairs: tuple[str, ...], enable: bool
) -> None:
    """Create authenticator NAME using auth method --method."""
    from idp.auth.authenticators import create_authenticator, public_view
    from idp.extensions import db
    from idp.security import audit

    try:
        row = create_authenticator(
            name=name,
            method=method,
            title=title,
            options=_parse_options(option_pairs),
            enabled=enable,
        )
    except InvalidInput as exc:
        raise click.ClickException(f"{exc.field}: {exc.message}") from exc
    except OptionsInvalid as exc:
        raise click.ClickException(f"invalid options: {exc}") from exc
    db.session.flush()
    audit.record("authenticator.create", f"authenticator:{row.name}", after=public_view(row))
    db.session.commit()
    click.echo(
        f"Created authenticator {row.name} ({row.method}), {'enabled' if enable else 'disabled'}."
    )


@authenticator_group.command("list")
@with_appcontext
def list_command() -> None:
    """List authenticators in login-page order."""
    from idp import state
    from idp.auth.authenticators import all_authenticators

    registry = state.current().registry
    rows = all_authenticators()
    if not rows:
        click.echo("No authenticators. Add one with `poort authenticator add NAME --method ID`.")
    for row in rows:
        status = "enabled " if row.enabled else "disabled"
        missing = "" if registry.auth_method(row.method) else "  (plugin not loaded)"
        click.echo(
            f"{row.position:>3}  {status}  {row.name:<20} {row.method:<12} {row.title}{missing}"
        )


def _set_enabled(name: str, enabled: bool) -> None:
    from idp import state
    from idp.auth.authenticators import public_view
    from idp.extensions import db
    from idp.models import Authenticator
    from idp.security import audit

    row = db.session.scalar(select(Authenticator).where(Authenticator.name == name))
    if row is None:
        raise click.ClickException(
            f"No authenticator called {name!r}; see `poort authenticator list`."
        )
    if enabled and state.current().registry.auth_method(row.method) is None:
        raise click.ClickException(f"The plugin {row.method!r} is not loaded; see `poort plugins`.")
    if row.enabled != enabled:
        before = public_view(row)
        row.enabled = enabled
        audit.record(
            "authenticator.enable" if enabled else "authenticator.disable",
            f"authenticator:{row.name}",
            before=before,
            after=public_view(row),
        )
        db.session.commit()
    click.echo(f"{row.name} is {'enabled' if enabled else 'disabled'}.")


@authenticator_group.command("enable")
@click.argument("name")
@with_appcontext
def enable_command(name: str) -> None:
    """Show authenticator NAME on the login page."""
    _set_enabled(name, True)


@authenticator_group.command("disable")
@click.argument("name")
@with_appcontext
def disable_command(name: str) -> None:
    """Hide authenticator NAME from the login page."""
    _set_enabled(name, False)


@click.command("demo")
def demo_command() -> None:
    """Set up a local demo: dev mode, SQLite, an admin and password sign-in; print how to log in."""
    from idp.cli import _app, _migrate, ensure_instance

    instance_path = instance_path_default()
    config_file = instance_path / CONFIG_FILE
    # Decide before writing anything: a real instance keeps its keys, database and admins.
    if config_file.exists():
        try:
            data, _ = read_config_file(config_file)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
        if data.get("dev") is not True:
            raise click.ClickException(
                f"{config_file} exists and does not say dev = true; "
                "`poort demo` will not touch this instance."
            )
    ensure_instance(instance_path)
    if not config_file.exists():
        config_file.write_text(DEMO_TOML, encoding="utf-8")
    app = _app()
    _migrate(app)
    with app.app_context():
        password = _seed_demo()
        demo_client = register_demo_client(instance_path)
    click.echo(
        "\nPoort demo is ready. From the checkout, `python -m examples.demo_app` starts Poort on\n"
        "http://127.0.0.1:5000/ with the demo app beside it (or `poort run` for Poort alone).\n"
        f"  admin username: {DEMO_ADMIN_NAME}\n"
        f"  admin password: {password}\n"
        "(a new password is set every time `poort demo` runs)"
    )
    click.echo(
        f"Demo relying app: {DEMO_APP_URL} (client {demo_client['client_id']}, credentials in "
        f"{instance_path / DEMO_CREDENTIALS_FILE}); start it beside Poort with "
        "`python -m examples.demo_app`."
    )


DEMO_ADMIN_NAME = "admin"


def _seed_demo() -> str:
    from idp import state
    from idp.auth.authenticators import create_authenticator, public_view
    from idp.extensions import db
    from idp.models import Authenticator, User
    from idp.security import audit

    password = secrets.token_urlsafe(12)
    admin = db.session.scalar(select(User).where(User.username == DEMO_ADMIN_NAME))
    if admin is None:
        admin = User(nickname="Demo admin", username=DEMO_ADMIN_NAME, is_admin=True)
        db.session.add(admin)
    admin.password_hash = state.current().passwords.hash(password)
    admin.active = True
    admin.is_admin = True
    db.session.flush()
    audit.record("demo.seed", f"user:{admin.id}", after={"username": DEMO_ADMIN_NAME})
    if db.session.scalar(select(Authenticator).where(Authenticator.method == "password")) is None:
        row = create_authenticator(
            name="password", method="password", title="Password", options={}, enabled=True
        )
        db.session.flush()
        audit.record("authenticator.create", f"authenticator:{row.name}", after=public_view(row))
    db.session.commit()
    return password
