"""``poort verifier ...``: configure, test, enable and delete the verifiers that send codes.

Every change goes through :mod:`idp.verification.verifiers`, so the command line refuses what
the admin panel refuses, with the same messages; every change writes an audit event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from idp.cli.common import attempts_since, fail, last_log_id, parse_options
from idp.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from idp.models import User, Verifier
    from idp.verification.resolution import Resolution


def _verifier(name: str) -> Verifier:
    from idp.verification import verifiers

    try:
        return verifiers.get(name)
    except NotFound as exc:
        raise click.ClickException(f"{exc.message} See `poort verifier list`.") from exc


def _route(resolution: Resolution) -> str:
    return " -> ".join(channel.name for channel in resolution.channels)


def _explain_default() -> str:
    """What resolve(None) picks, and why: what an SMS authenticator naming no verifier uses."""
    from idp.extensions import db
    from idp.models import Verifier
    from idp.verification.resolution import FILE_STYLE, OLD_STYLE, resolve

    resolution = resolve(None)
    marked = db.session.scalar(select(Verifier).where(Verifier.is_default.is_(True)))
    if resolution.source == OLD_STYLE:
        return (
            f"Authenticators that name no verifier send through {_route(resolution)} "
            f"({resolution.channels[0].name} is marked default)."
        )
    why = "no verifier is marked default"
    if marked is not None:
        why = f"the default {marked.name} is {'not usable' if marked.enabled else 'disabled'}"
    if resolution.source == FILE_STYLE:
        provider = resolution.channels[0].provider
        return (
            "Authenticators that name no verifier send through the [sms] table of poort.toml "
            f"(provider {provider}), because {why}."
        )
    if marked is not None:
        return (
            f"Authenticators that name no verifier cannot send SMS: {why}, "
            "and poort.toml has no [sms] table."
        )
    return f"Authenticators that name no verifier cannot send SMS: {resolution.reason}"


def _record(action: str, row: Verifier, before: dict[str, Any] | None) -> None:
    from idp.security import audit
    from idp.verification.verifiers import public_view

    audit.record(action, f"verifier:{row.name}", before=before, after=public_view(row))


@click.group("verifier")
def verifier_group() -> None:
    """Configure the verifiers that deliver codes by SMS."""


@verifier_group.command("add")
@click.argument("name")
@click.option(
    "--provider", required=True, help="Plugin id of the SMS provider (see `poort plugins`)."
)
@click.option("--sender", required=True, help="Sender: at most 11 letters/digits, or a number.")
@click.option("--title", default="", help="Shown to admins; default: the provider's name.")
@click.option("--price", default="0", show_default=True, help="Price per SMS segment.")
@click.option("--currency", default="EUR", show_default=True, help="Three-letter currency code.")
@click.option("--fallback", default=None, help="Verifier to try when this one fails.")
@click.option("--option", "option_pairs", multiple=True, metavar="KEY=VALUE", help="An option.")
@click.option(
    "--secret",
    "secret_names",
    multiple=True,
    metavar="KEY",
    help="Prompt for this option without echo (keeps secrets out of shell history).",
)
@with_appcontext
def add_command(
    name: str,
    provider: str,
    sender: str,
    title: str,
    price: str,
    currency: str,
    fallback: str | None,
    option_pairs: tuple[str, ...],
    secret_names: tuple[str, ...],
) -> None:
    """Create verifier NAME (disabled until a test code came back)."""
    from idp.extensions import db
    from idp.options import OptionsInvalid
    from idp.verification import verifiers

    options = parse_options(option_pairs)
    for key in secret_names:
        options[key] = click.prompt(key, hide_input=True)
    fields = {
        "name": name,
        "provider": provider,
        "sender": sender,
        "title": title,
        "price_per_segment": price,
        "currency": currency,
        "fallback": fallback,
    }
    try:
        row, _ = verifiers.save(None, fields, options)
    except InvalidInput as exc:
        db.session.rollback()
        raise fail(exc) from exc
    except OptionsInvalid as exc:
        db.session.rollback()
        raise click.ClickException(f"invalid options: {exc}") from exc
    _record("verifier.create", row, None)
    db.session.commit()
    click.echo(
        f"Created verifier {row.name} ({row.provider}), disabled. Prove it works with "
        f"`poort verifier test {row.name} NUMBER`, then `poort verifier enable {row.name}`."
    )


@verifier_group.command("list")
@with_appcontext
def list_command() -> None:
    """List verifiers, and say which one serves authenticators that name none."""
    from idp import state
    from idp.verification import verifiers

    registry = state.current().registry
    rows = verifiers.all_verifiers()
    if not rows:
        click.echo("No verifiers. Add one with `poort verifier add NAME --provider ID --sender S`.")
    for row in rows:
        flags = [
            "enabled" if row.enabled else "disabled",
            "confirmed" if row.confirmed_at is not None else "not confirmed",
        ]
        if row.is_default:
            flags.append("default")
        if registry.sms_provider(row.provider) is None:
            flags.append("provider not loaded")
        fallback = f"  fallback {row.fallback.name}" if row.fallback else ""
        click.echo(
            f"{row.name:<20} {row.provider:<12} sender {row.sender:<16} "
            f"{row.price_per_segment} {row.currency}/segment  {', '.join(flags)}{fallback}"
        )
    click.echo(_explain_default())


def _admin(username: str | None) -> User:
    from idp.extensions import db
    from idp.models import User

    query = select(User).where(User.is_admin.is_(True), User.active.is_(True))
    if username:
        query = query.where(User.username == username.strip().casefold())
    admin = db.session.scalar(query.order_by(User.id).limit(1))
    if admin is None:
        if username:
            raise click.ClickException(f"No active admin called {username!r}.")
        raise click.ClickException("No admin exists yet; create one with `poort create-admin`.")
    return admin


@verifier_group.command("test")
@click.argument("name")
@click.argument("number")
@click.option("--admin", "username", default=None, help="Admin who receives the code.")
@with_appcontext
def test_command(name: str, number: str, username: str | None) -> None:
    """Send a test code through verifier NAME alone to NUMBER; type it back to confirm NAME."""
    from idp.errors import RateLimited
    from idp.extensions import db
    from idp.sms.errors import SmsError
    from idp.sms.phone import mask
    from idp.verification import challenges, confirmation
    from idp.verification.challenges import Outcome

    row = _verifier(name)
    admin = _admin(username)
    since = last_log_id()
    try:
        challenge = confirmation.send_test_code(row, number, admin)
    except (InvalidInput, RateLimited) as exc:
        raise fail(exc) from exc
    except SmsError as exc:
        for line in attempts_since(since):
            click.echo(line)
        raise click.ClickException(f"The test code was not sent: {exc.message}") from exc
    phone = challenge.context.get("phone")
    click.echo(f"Sent a test code to {mask(phone)} through {row.name}, for {admin.username}.")
    while True:
        typed = click.prompt("Code from the text message")
        try:
            challenges.normalise_code(typed)
            result = confirmation.confirm(row, challenge.public_id, typed, admin)
        except InvalidInput as exc:
            if exc.field == "code" and "digits" in exc.message:
                click.echo(exc.message)
                continue
            raise fail(exc) from exc
        if result.ok:
            break
        if result.outcome is Outcome.WRONG:
            click.echo(result.message)
            continue
        raise click.ClickException(result.message)
    _record("verifier.confirm", row, None)
    db.session.commit()
    state = "it is enabled" if row.enabled else f"enable it with `poort verifier enable {row.name}`"
    click.echo(f"{row.name} is confirmed; {state}.")


def _set_enabled(name: str, enabled: bool) -> None:
    from idp.extensions import db
    from idp.verification import verifiers

    row = _verifier(name)
    if row.enabled != enabled:
        before = verifiers.public_view(row)
        try:
            verifiers.set_enabled(row, enabled)
        except InvalidInput as exc:
            hint = ""
            if row.confirmed_at is None:
                hint = f" Use `poort verifier test {row.name} NUMBER`."
            raise click.ClickException(f"{row.name} stays disabled: {exc.message}{hint}") from exc
        _record("verifier.enable" if enabled else "verifier.disable", row, before)
        db.session.commit()
    click.echo(f"{row.name} is {'enabled' if enabled else 'disabled'}.")
    click.echo(_explain_default())


@verifier_group.command("enable")
@click.argument("name")
@with_appcontext
def enable_command(name: str) -> None:
    """Let verifier NAME deliver codes (only once a test code came back)."""
    _set_enabled(name, True)


@verifier_group.command("disable")
@click.argument("name")
@with_appcontext
def disable_command(name: str) -> None:
    """Stop verifier NAME from delivering codes."""
    _set_enabled(name, False)


@verifier_group.command("default")
@click.argument("name", required=False)
@click.option("--clear", is_flag=True, help="Mark no verifier as default.")
@with_appcontext
def default_command(name: str | None, clear: bool) -> None:
    """Mark verifier NAME as the default (used by authenticators that name none)."""
    from idp.extensions import db
    from idp.models import Verifier
    from idp.security import audit
    from idp.verification import verifiers

    if bool(name) == clear:
        raise click.UsageError("Give either a verifier NAME or --clear.")
    row = _verifier(name) if name else None
    old = db.session.scalar(select(Verifier.name).where(Verifier.is_default.is_(True)))
    new = row.name if row is not None else None
    if old != new:
        verifiers.set_default(row)
        audit.record(
            "verifier.default",
            f"verifier:{new or old}",
            before={"default": old},
            after={"default": new},
        )
        db.session.commit()
    click.echo(f"{new} is the default verifier." if new else "No verifier is marked default.")
    if row is not None and not row.enabled:
        click.echo(f"Note: {row.name} is disabled, so it serves no codes until it is enabled.")
    click.echo(_explain_default())


@verifier_group.command("delete")
@click.argument("name")
@click.confirmation_option(prompt="Delete this verifier and its credentials?")
@with_appcontext
def delete_command(name: str) -> None:
    """Delete verifier NAME; verifiers that fell back to it no longer fall back."""
    from idp.extensions import db
    from idp.models import Authenticator, Verifier
    from idp.security import audit
    from idp.verification import verifiers

    row = _verifier(name)
    before = verifiers.public_view(row)
    dependants = db.session.scalars(
        select(Verifier.name).where(Verifier.fallback_id == row.id).order_by(Verifier.name)
    ).all()
    users = [
        a.name
        for a in db.session.scalars(select(Authenticator).order_by(Authenticator.name))
        if (a.options or {}).get("verifier") == row.name
    ]
    verifiers.delete(row)
    audit.record("verifier.delete", f"verifier:{name}", before=before)
    db.session.commit()
    click.echo(f"Deleted verifier {name}.")
    for dependant in dependants:
        click.echo(f"{dependant} no longer falls back to {name}.")
    for authenticator in users:
        click.echo(f"Warning: authenticator {authenticator} names {name} and cannot send SMS now.")
    click.echo(_explain_default())
