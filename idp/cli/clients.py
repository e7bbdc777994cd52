"""CLI for relying applications (``poort client ...``) and signing keys (``poort keys ...``),
and the demo relying app's registration used by ``poort demo``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from idp.errors import InvalidInput, NotFound

DEMO_CLIENT_NAME = "Demo app"
DEMO_APP_URL = "http://127.0.0.1:5001/"
DEMO_CREDENTIALS_FILE = "demo_app.json"


def _client(client_id: str) -> Any:
    from idp.oidc import clients

    try:
        return clients.get(client_id)
    except NotFound as exc:
        raise click.ClickException(
            f"No application with client id {client_id!r}; see `poort client list`."
        ) from exc


@click.group("client")
def client_group() -> None:
    """Register, list and remove relying applications (OpenID Connect clients)."""


@client_group.command("add")
@click.argument("name")
@click.option(
    "--redirect-uri",
    "redirect_uris",
    multiple=True,
    required=True,
    help="A redirect URI, matched exactly; repeat for more.",
)
@click.option(
    "--post-logout-uri",
    "logout_uris",
    multiple=True,
    help="Where the app may send users after logout; repeat for more.",
)
@click.option(
    "--scopes",
    default="openid profile phone",
    show_default=True,
    help="Scopes the app may ask for (openid, profile, email, phone, offline_access).",
)
@click.option("--public", is_flag=True, help="A public app (no secret; PKCE always required).")
@click.option("--first-party", is_flag=True, help="Users are not asked for consent.")
@click.option("--no-pkce", is_flag=True, help="Do not require PKCE (confidential apps only).")
@with_appcontext
def client_add_command(
    name: str,
    redirect_uris: tuple[str, ...],
    logout_uris: tuple[str, ...],
    scopes: str,
    public: bool,
    first_party: bool,
    no_pkce: bool,
) -> None:
    """Register application NAME; prints its client id and, this once, its secret."""
    from idp.extensions import db
    from idp.oidc import clients
    from idp.security import audit

    if public and no_pkce:
        raise click.ClickException("Public applications always use PKCE; drop --no-pkce.")
    try:
        row, secret = clients.save(
            None,
            {
                "name": name,
                "public": public,
                "redirect_uris": list(redirect_uris),
                "post_logout_redirect_uris": list(logout_uris),
                "scopes": scopes,
                "first_party": first_party,
                "require_pkce": not no_pkce,
            },
        )
    except InvalidInput as exc:
        raise click.ClickException(f"{exc.field}: {exc.message}") from exc
    audit.record("client.create", f"client:{row.client_id}", after=clients.public_view(row))
    db.session.commit()
    click.echo(f"Registered {row.name}.")
    click.echo(f"client_id:     {row.client_id}")
    if secret:
        click.echo(f"client_secret: {secret}")
        click.echo("The secret is shown only this once; Poort keeps a hash of it.")


@client_group.command("list")
@with_appcontext
def client_list_command() -> None:
    """List registered applications."""
    from idp.extensions import db
    from idp.models import OAuthClient

    rows = db.session.scalars(select(OAuthClient).order_by(OAuthClient.name, OAuthClient.id)).all()
    if not rows:
        click.echo("No applications. Register one with `poort client add NAME --redirect-uri URI`.")
    for row in rows:
        flags = [
            "enabled" if row.enabled else "disabled",
            "public" if row.public else "confidential",
        ]
        if row.first_party:
            flags.append("first-party")
        if not row.public and not row.require_pkce:
            flags.append("no-pkce")
        click.echo(f"{row.client_id}  {row.name}  [{', '.join(flags)}]  scopes: {row.scopes}")
        for uri in row.redirect_uris or []:
            click.echo(f"    redirect: {uri}")
        for uri in row.post_logout_redirect_uris or []:
            click.echo(f"    logout:   {uri}")


@client_group.command("reset-secret")
@click.argument("client_id")
@with_appcontext
def client_reset_secret_command(client_id: str) -> None:
    """Make a new secret for CLIENT_ID; the old one stops working at once."""
    from idp.extensions import db
    from idp.oidc import clients
    from idp.security import audit

    row = _client(client_id)
    try:
        secret = clients.reset_secret(row)
    except InvalidInput as exc:
        raise click.ClickException(exc.message) from exc
    audit.record("client.reset_secret", f"client:{row.client_id}", after=clients.public_view(row))
    db.session.commit()
    click.echo(f"client_secret: {secret}")
    click.echo("The secret is shown only this once; Poort keeps a hash of it.")


@client_group.command("delete")
@click.argument("client_id")
@click.confirmation_option(prompt="Delete this application with its tokens and consents?")
@with_appcontext
def client_delete_command(client_id: str) -> None:
    """Delete CLIENT_ID with its codes, tokens and consents."""
    from idp.extensions import db
    from idp.oidc import clients
    from idp.security import audit

    row = _client(client_id)
    name = row.name
    audit.record("client.delete", f"client:{row.client_id}", before=clients.public_view(row))
    clients.delete_client(row)
    db.session.commit()
    click.echo(f"Deleted {name} ({client_id}).")


# -- signing keys ---------------------------------------------------------------------------


@click.group("keys")
def keys_group() -> None:
    """Token signing keys: rotate and list."""


@keys_group.command("rotate")
@click.option(
    "--alg",
    type=click.Choice(["RS256", "ES256"]),
    default=None,
    help="Algorithm of the new key (default: the signing_alg setting).",
)
@with_appcontext
def keys_rotate_command(alg: str | None) -> None:
    """Make a new signing key; the old one stays published until its tokens expired."""
    from idp.extensions import db
    from idp.oidc import keys
    from idp.security import audit

    old = [row.kid for row in keys.published_keys() if row.retired_at is None]
    row = keys.create_key(alg)
    audit.record("keys.rotate", f"key:{row.kid}", before={"active": old}, after={"kid": row.kid})
    db.session.commit()
    click.echo(f"New signing key {row.kid} ({row.alg}) signs from now on.")
    hours = int(keys.KEEP_RETIRED.total_seconds() // 3600)
    for kid in old:
        click.echo(f"Retired {kid}: it stays in the JWKS for {hours} hours.")


@keys_group.command("list")
@with_appcontext
def keys_list_command() -> None:
    """List signing keys: the active one and the retired ones still published."""
    from idp import state
    from idp.extensions import db
    from idp.models import SigningKey
    from idp.oidc import keys

    published = {row.kid for row in keys.published_keys()}
    rows = db.session.scalars(select(SigningKey).order_by(SigningKey.created_at.desc())).all()
    if not rows:
        click.echo("No signing keys yet; one is made on first use, or run `poort keys rotate`.")
    now = state.current().clock()
    for row in rows:
        if row.retired_at is None:
            status = "active (signs)"
        elif row.kid in published:
            until = row.retired_at + keys.KEEP_RETIRED
            status = f"retired, published until {until:%Y-%m-%d %H:%M} UTC"
        else:
            status = "retired, no longer published"
        age = now - row.created_at
        click.echo(
            f"{row.kid}  {row.alg}  created {row.created_at:%Y-%m-%d %H:%M} UTC "
            f"({age.days} d ago)  {status}"
        )


# -- the demo relying app ------------------------------------------------------------------


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
