"""CLI for verifiers (``poort verifier ...``), test messages (``poort sms test``) and the
rotation of the key that seals their credentials (``poort rotate-secret-key``).

Every change goes through :mod:`idp.verification.verifiers`, so the command line refuses what
the admin panel refuses, with the same messages; every change writes an audit event.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from flask.cli import with_appcontext
from sqlalchemy import func, select

from idp.cli_authenticators import _parse_options
from idp.errors import ConfigError, IdpError, InvalidInput, NotFound

if TYPE_CHECKING:
    from idp.models import User, Verifier
    from idp.verification.resolution import Resolution


def _fail(exc: IdpError) -> click.ClickException:
    field = getattr(exc, "field", None)
    return click.ClickException(f"{field}: {exc.message}" if field else exc.message)


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


# -- poort verifier ---------------------------------------------------------------------------


@click.group("verifier")
def verifier_group() -> None:
    """Configure the verifiers that deliver codes by SMS."""


@verifier_group.command("add")
@click.argument("name")
@click.option("--provider", required=True, help="Plugin id of the SMS provider, e.g. spryng.")
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

    options = _parse_options(option_pairs)
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
        raise _fail(exc) from exc
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


def _attempts_since(last_id: int) -> list[str]:
    """The message-log rows written after *last_id*, one line each."""
    from idp.extensions import db
    from idp.models import SmsLogEntry

    lines = []
    rows = db.session.scalars(
        select(SmsLogEntry).where(SmsLogEntry.id > last_id).order_by(SmsLogEntry.id)
    )
    for number, row in enumerate(rows, start=1):
        if row.status == "failed":
            raw = f" {row.raw_code}" if row.raw_code else ""
            detail = f"{row.error_class}{raw}: {row.error_message or row.raw_meaning or ''}"
        else:
            detail = f"message id {row.provider_message_id or '-'}"
        lines.append(f"  {number}. {row.verifier_name} ({row.provider}): {row.status}, {detail}")
    return lines


def _last_log_id() -> int:
    from idp.extensions import db
    from idp.models import SmsLogEntry

    return db.session.scalar(select(func.max(SmsLogEntry.id))) or 0


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
    since = _last_log_id()
    try:
        challenge = confirmation.send_test_code(row, number, admin)
    except (InvalidInput, RateLimited) as exc:
        raise _fail(exc) from exc
    except SmsError as exc:
        for line in _attempts_since(since):
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
            raise _fail(exc) from exc
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


# -- poort sms test --------------------------------------------------------------------------


@click.group("sms")
def sms_group() -> None:
    """Send SMS from the command line."""


@sms_group.command("test")
@click.argument("verifier")
@click.argument("number")
@click.option("--text", default=None, help="The message; default: a short test text.")
@with_appcontext
def sms_test_command(verifier: str, number: str, text: str | None) -> None:
    """Send a test message through VERIFIER (and its fallbacks) to NUMBER."""
    from idp import state
    from idp.sms.encoding import segments
    from idp.sms.errors import SmsError
    from idp.sms.phone import mask, normalise
    from idp.verification import dispatch
    from idp.verification.challenges import Purpose
    from idp.verification.resolution import resolve

    settings = state.current().settings
    try:
        phone = normalise(number, settings.default_region)
    except InvalidInput as exc:
        raise _fail(exc) from exc
    resolution = resolve(verifier)
    if not resolution.available:
        raise click.ClickException(f"Not sent: {resolution.reason}")
    text = text or f"Test message from {settings.site_name}: SMS delivery works."
    since = _last_log_id()
    try:
        delivered = dispatch.send(
            resolution, recipient=phone, text=text, purpose=Purpose.ADMIN_TEST
        )
    except SmsError as exc:
        for line in _attempts_since(since):
            click.echo(line)
        raise click.ClickException(f"Not sent to {mask(phone)}: {exc.message}") from exc
    for line in _attempts_since(since):
        click.echo(line)
    entry = delivered.entry
    info = segments(text)
    click.echo(
        f"Sent to {entry.recipient_masked} through {entry.verifier_name} ({entry.provider}) "
        f"after {delivered.attempts} attempt(s): message id {entry.provider_message_id or '-'}, "
        f"{entry.segments} segment(s) {info.encoding}, cost {entry.cost} {entry.currency}."
    )


# -- poort rotate-secret-key -----------------------------------------------------------------


def _write_keys(path: Path, keys: list[str]) -> None:
    """Replace the key file in one step (readable by its owner only): never half-written."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret.keys.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("".join(f"{key}\n" for key in keys))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _key_list(keys: list[str]) -> str:
    if "IDP_SECRET_KEYS" in os.environ:
        return f"IDP_SECRET_KEYS={','.join(keys)}"
    quoted = ", ".join(f'"{key}"' for key in keys)
    return f"secret_keys = [{quoted}]   # in poort.toml"


@click.command("rotate-secret-key")
@click.option(
    "--drop-old",
    is_flag=True,
    help="After re-encrypting, keep only the newest key (old keys then open nothing).",
)
@click.option(
    "--reencrypt-only",
    is_flag=True,
    help="Make no new key: re-encrypt every secret under the newest key already configured.",
)
@with_appcontext
def rotate_secret_key_command(drop_old: bool, reencrypt_only: bool) -> None:
    """Make a new key for secrets at rest and re-encrypt every secret under it.

    With instance/secret.keys: the new key is written first in the file, the old ones after it
    (so old secrets stay readable), and every secret is re-encrypted in one transaction.
    With IDP_SECRET_KEYS (or secret_keys in poort.toml): the new key list is printed to put
    there; once every Poort process runs with it, `--reencrypt-only` re-encrypts the secrets.
    Restart every Poort process afterwards: they read the keys at start-up.
    """
    from idp import state
    from idp.extensions import db
    from idp.security import audit, key_rotation
    from idp.security.secret_box import KEYS_FILE, SecretBox, new_key, read_keys

    s = state.current()
    configured = list(s.settings.secret_keys)
    path = s.settings.instance_path / KEYS_FILE
    old_keys = configured or read_keys(s.settings.instance_path)
    if not old_keys:
        raise click.ClickException(
            f"There is no {path} and IDP_SECRET_KEYS is not set: no key to rotate. "
            "Run `poort init` to create one."
        )

    if configured and not reencrypt_only:
        if drop_old:
            raise click.ClickException(
                "--drop-old needs the secrets re-encrypted under the new key first: set the new "
                "key list, restart Poort, then run `poort rotate-secret-key --reencrypt-only "
                "--drop-old`."
            )
        click.echo("The keys come from the configuration, not from a file. Set:\n")
        click.echo(f"  {_key_list([new_key(), *old_keys])}\n")
        click.echo(
            "then restart every Poort process and run `poort rotate-secret-key --reencrypt-only` "
            "to re-encrypt the secrets under the new key (add --drop-old to retire the old keys). "
            "Nothing was changed yet."
        )
        return

    keys = old_keys if reencrypt_only else [new_key(), *old_keys]
    box = SecretBox(keys)
    try:
        count = key_rotation.reencrypt(box)
        audit.record(
            "secrets.rotate",
            "secret_keys",
            after={"reencrypted": count, "new_key": not reencrypt_only, "keys": len(keys)},
        )
        db.session.flush()
        if not configured and not reencrypt_only:
            _write_keys(path, keys)
    except (ConfigError, OSError) as exc:
        db.session.rollback()
        raise click.ClickException(f"Nothing was rotated: {exc}") from exc
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        if not configured and not reencrypt_only:
            _write_keys(path, old_keys)  # the database still holds the old tokens
        raise
    s.secret_box = box
    click.echo(f"Re-encrypted {count} secret(s) under the newest key.")

    if drop_old:
        newest = SecretBox(keys[:1])
        # Read back from the database: a process still on the old keys may have written since.
        db.session.expire_all()
        left = key_rotation.unreadable(newest)
        if left:
            raise click.ClickException(
                "Not dropping the old keys: these secrets are not under the newest key yet: "
                + ", ".join(map(str, left))
                + ". Run the command again."
            )
        if configured:
            click.echo("Every secret opens with the newest key alone. Set:\n")
            click.echo(f"  {_key_list(keys[:1])}\n")
            click.echo("and restart every Poort process.")
            return
        _write_keys(path, keys[:1])
        s.secret_box = newest
        audit.record("secrets.drop_old_keys", "secret_keys", after={"dropped": len(keys) - 1})
        db.session.commit()
        click.echo(f"Dropped {len(keys) - 1} old key(s) from {path}.")
    elif not configured and not reencrypt_only:
        click.echo(
            f"{path} now holds the new key first and {len(old_keys)} old key(s) after it. Once "
            "every Poort process was restarted, retire the old keys with "
            "`poort rotate-secret-key --reencrypt-only --drop-old`."
        )
    click.echo("Restart every Poort process so it reads the keys.")
