"""``poort plugins``: the installed plugins and the ones that failed to load."""

from __future__ import annotations

import click
from flask.cli import with_appcontext


@click.command("plugins")
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
