"""``poort client ...``: register, list and remove relying applications (OIDC clients)."""

from __future__ import annotations

from typing import Any

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from idp.cli.common import fail
from idp.errors import InvalidInput, NotFound


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
        raise fail(exc) from exc
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
