"""``poort demo``: a local development instance with an admin, password sign-in and the demo
relying app registered (:func:`register_demo_client`, also used by the tests)."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import click
from sqlalchemy import select

from idp.cli.common import load_app, migrate
from idp.cli.init import ensure_instance
from idp.config import CONFIG_FILE, instance_path_default, read_config_file
from idp.errors import ConfigError

DEMO_TOML = """\
# Written by `poort demo`: a development instance. Do not use these settings in production.
dev = true
"""
DEMO_ADMIN_NAME = "admin"
DEMO_CLIENT_NAME = "Demo app"
DEMO_APP_URL = "http://127.0.0.1:5001/"
DEMO_CREDENTIALS_FILE = "demo_app.json"


@click.command("demo")
def demo_command() -> None:
    """Set up a local demo: dev mode, SQLite, an admin and password sign-in; print how to log in."""
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
    app = load_app()
    migrate(app)
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


def _seed_demo() -> str:
    """Give the demo admin a new password; add a password authenticator unless one exists."""
    from idp import state
    from idp.auth import authenticators
    from idp.extensions import db
    from idp.models import Authenticator, User
    from idp.security import audit

    # Which plugin checks passwords is the registry's answer (amr "pwd"), not a name here.
    methods = authenticators.password_methods()
    if not methods:
        raise click.ClickException(
            "No installed auth method signs in with a password; see `poort plugins`."
        )
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
    existing = select(Authenticator).where(Authenticator.method.in_(methods))
    if db.session.scalar(existing.limit(1)) is None:
        method = methods[0]
        authenticators.add(name=method, method=method, title="", options={}, enabled=True)
    db.session.commit()
    return password


def _write_private(path: Path, text: str) -> None:
    """Write *path* readable by its owner only (also when it existed with wider rights)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def register_demo_client(instance_path: Path, app_url: str = DEMO_APP_URL) -> dict[str, str]:
    """Create or update the first-party "Demo app" client, give it a new secret, and write
    ``instance/demo_app.json`` (mode 0600) for ``examples/demo_app``. Needs an app context.

    *app_url* is where the demo app runs (``http://127.0.0.1:5001/``; tests use another port):
    its ``callback`` is the redirect URI and the URL itself the post-logout URI.
    """
    redirect_uri = app_url + "callback"
    from idp import state
    from idp.extensions import db
    from idp.models import OAuthClient
    from idp.oidc import clients
    from idp.security import audit

    row = db.session.scalar(
        select(OAuthClient)
        .where(OAuthClient.name == DEMO_CLIENT_NAME, OAuthClient.public.is_(False))
        .order_by(OAuthClient.id)
        .limit(1)
    )
    before = clients.public_view(row) if row is not None else None
    row, secret = clients.save(
        row,
        {
            "name": DEMO_CLIENT_NAME,
            "public": False,
            "redirect_uris": [redirect_uri],
            "post_logout_redirect_uris": [app_url],
            "scopes": "openid profile email phone offline_access",
            "first_party": True,
            "require_pkce": True,
        },
    )
    row.enabled = True
    if secret is None:
        secret = clients.reset_secret(row)
    audit.record(
        "client.create" if before is None else "client.update",
        f"client:{row.client_id}",
        before=before,
        after=clients.public_view(row),
    )
    db.session.commit()
    credentials = {
        "issuer": state.settings().issuer,
        "client_id": row.client_id,
        "client_secret": secret,
        "redirect_uri": redirect_uri,
    }
    instance_path.mkdir(parents=True, exist_ok=True)
    _write_private(instance_path / DEMO_CREDENTIALS_FILE, json.dumps(credentials, indent=2) + "\n")
    return credentials
