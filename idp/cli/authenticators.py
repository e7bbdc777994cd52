"""``poort authenticator ...``: make, list, enable and disable authenticators.

Every change goes through :mod:`idp.auth.authenticators`, as in the admin panel, so both
refuse the same input and write the same audit events.
"""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from idp.cli.common import fail, parse_options
from idp.errors import InvalidInput, NotFound
from idp.options import OptionsInvalid


@click.group("authenticator")
def authenticator_group() -> None:
    """Make, list, enable and disable authenticators."""


@authenticator_group.command("add")
@click.argument("name")
@click.option("--method", required=True, help="Plugin id of the auth method (see `poort plugins`).")
@click.option("--title", default="", help="Title on the login page.")
@click.option("--option", "option_pairs", multiple=True, metavar="KEY=VALUE", help="An option.")
@click.option("--enable", is_flag=True, help="Enable it straight away.")
@with_appcontext
def add_command(
    name: str, method: str, title: str, option_pairs: tuple[str, ...], enable: bool
) -> None:
    """Create authenticator NAME using auth method --method."""
    from idp.auth import authenticators
    from idp.extensions import db

    try:
        row = authenticators.add(
            name=name,
            method=method,
            title=title,
            options=parse_options(option_pairs),
            enabled=enable,
        )
    except InvalidInput as exc:
        raise fail(exc) from exc
    except OptionsInvalid as exc:
        raise click.ClickException(f"invalid options: {exc}") from exc
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
    from idp.auth import authenticators
    from idp.extensions import db

    try:
        row = authenticators.get(name)
    except NotFound as exc:
        raise click.ClickException(
            f"No authenticator called {name!r}; see `poort authenticator list`."
        ) from exc
    try:
        changed = authenticators.set_enabled(row, enabled)
    except InvalidInput as exc:
        raise click.ClickException(f"{exc.message} See `poort plugins`.") from exc
    if changed:
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
