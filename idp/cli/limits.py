"""``poort limits ...``: show and set the limits, reset a spent budget, unlock an account,
lift a prefix block.

Values are checked and saved by :func:`idp.abuse.limit_changes.update`, as in the admin panel:
one bad value and nothing is saved. Every change writes an audit event (actor ``cli``) and is
committed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from flask.cli import with_appcontext
from sqlalchemy import or_, select

from idp.errors import NotFound

if TYPE_CHECKING:
    from idp.models import User


@click.group("limits")
def limits_group() -> None:
    """Abuse protection: send limits, budgets, prefix blocks and locked accounts."""


@limits_group.command("show")
@with_appcontext
def limits_show_command() -> None:
    """Every limit with its value and default; changed values are marked with *."""
    from idp.abuse import limits

    values = limits.current()
    width = max(len(name) for name in limits.LIMITS)
    click.echo(f"  {'NAME':<{width}}  {'VALUE':>11}  {'DEFAULT':>9}  MEANING")
    for name, limit in limits.LIMITS.items():
        mark = "*" if values[name] != limit.default else " "
        click.echo(f"{mark} {name:<{width}}  {values[name]:>11}  {limit.default:>9}  {limit.label}")


def _pairs(assignments: tuple[str, ...]) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in assignments:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.ClickException(f"{item!r}: write NAME=VALUE, e.g. number_per_hour=10.")
        pairs[name.strip()] = value
    return pairs


@limits_group.command("set")
@click.argument("assignments", nargs=-1, required=True, metavar="NAME=VALUE...")
@with_appcontext
def limits_set_command(assignments: tuple[str, ...]) -> None:
    """Set one or more limits: `poort limits set number_per_hour=10 global_per_day=500`."""
    from idp.abuse import limit_changes
    from idp.extensions import db

    result = limit_changes.update(_pairs(assignments))
    if result.errors:
        lines = [f"{name}: {message}" for name, message in result.errors.items()]
        raise click.ClickException("nothing saved.\n" + "\n".join(lines))
    if not result.changed:
        click.echo("Nothing changed.")
        return
    db.session.commit()
    for name, (old, new) in result.changed.items():
        click.echo(f"{name}: {old} -> {new}")


@limits_group.command("reset-budget")
@click.option(
    "--verifier",
    metavar="NAME",
    default=None,
    help="Reset this verifier's budget (poort.toml for the [sms] table) instead of the global one.",
)
@with_appcontext
def limits_reset_budget_command(verifier: str | None) -> None:
    """Forget the messages counted against the global budget (or one verifier's)."""
    from idp.abuse import controls
    from idp.extensions import db

    try:
        before = controls.reset_budget(verifier)
    except NotFound as exc:
        raise click.ClickException(f"{exc.message} See `poort verifier list`.") from exc
    db.session.commit()
    whose = "global budget" if verifier is None else f"budget of {verifier}"
    click.echo(
        f"Reset the {whose}: {before['hour']} codes this hour and {before['day']} "
        "in 24 hours forgotten."
    )


def _find_user(identifier: str) -> User:
    from idp.extensions import db
    from idp.models import User
    from idp.sms.phone import InvalidPhoneNumber, normalise

    text = identifier.strip()
    matches = [User.username == text.casefold(), User.email == text.casefold()]
    try:
        matches.append(User.phone == normalise(text))
    except InvalidPhoneNumber:
        pass
    found = list(db.session.scalars(select(User).where(or_(*matches)).limit(2)))
    if not found:
        raise click.ClickException(f"No user with username, e-mail or phone {identifier!r}.")
    if len(found) > 1:
        raise click.ClickException(f"{identifier!r} matches more than one user; be more exact.")
    return found[0]


@limits_group.command("unlock")
@click.argument("user")
@with_appcontext
def limits_unlock_command(user: str) -> None:
    """Clear the failed sign-ins of USER (username, e-mail or phone), lifting any lock."""
    from idp.abuse import controls
    from idp.extensions import db

    row = _find_user(user)
    failures = controls.unlock_user(row)
    db.session.commit()
    click.echo(f"Unlocked {row.username or f'user {row.id}'} ({failures} failed sign-ins cleared).")


@limits_group.command("lift-prefix")
@click.argument("prefix")
@with_appcontext
def limits_lift_prefix_command(prefix: str) -> None:
    """Lift the block on PREFIX (such as +3197010) so its numbers get codes again."""
    from idp.abuse import prefixes
    from idp.extensions import db

    wanted = "+" + "".join(ch for ch in prefix if ch.isdigit())
    blocked = prefixes.blocked_now()
    lifted = [
        block.id
        for block in blocked
        if block.prefix == wanted and prefixes.lift(block.id, actor_id=None) is not None
    ]
    if not lifted:
        listed = ", ".join(sorted({block.prefix for block in blocked})) or "none"
        raise click.ClickException(f"No block on {wanted} now. Blocked now: {listed}.")
    db.session.commit()
    click.echo(f"Lifted the block on {wanted}: its numbers get codes again.")
