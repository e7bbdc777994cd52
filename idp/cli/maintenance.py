"""``poort prune`` and ``poort audit prune``: deleting what Poort no longer needs."""

from __future__ import annotations

import click
from flask.cli import with_appcontext


@click.command("prune")
@with_appcontext
def prune_command() -> None:
    """Delete dead sessions, old codes, expired tokens and old audit events (run it daily)."""
    from idp.maintenance import prune

    for name, count in prune().items():
        click.echo(f"{name}: {count} deleted")


@click.group("audit")
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
