"""``poort sms test``: send a message through a verifier and its fallbacks, showing each try."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from idp.cli.common import attempts_since, fail, last_log_id
from idp.errors import InvalidInput


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
        raise fail(exc) from exc
    resolution = resolve(verifier)
    if not resolution.available:
        raise click.ClickException(f"Not sent: {resolution.reason}")
    text = text or f"Test message from {settings.site_name}: SMS delivery works."
    since = last_log_id()
    try:
        delivered = dispatch.send(
            resolution, recipient=phone, text=text, purpose=Purpose.ADMIN_TEST
        )
    except SmsError as exc:
        for line in attempts_since(since):
            click.echo(line)
        raise click.ClickException(f"Not sent to {mask(phone)}: {exc.message}") from exc
    for line in attempts_since(since):
        click.echo(line)
    entry = delivered.entry
    info = segments(text)
    click.echo(
        f"Sent to {entry.recipient_masked} through {entry.verifier_name} ({entry.provider}) "
        f"after {delivered.attempts} attempt(s): message id {entry.provider_message_id or '-'}, "
        f"{entry.segments} segment(s) {info.encoding}, cost {entry.cost} {entry.currency}."
    )
