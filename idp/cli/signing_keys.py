"""``poort keys ...``: rotate and list the keys that sign tokens."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select


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
