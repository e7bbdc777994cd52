"""``poort worker``: send the text messages queued with ``sms_queue = "redis"``."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from idp import state
from idp.errors import ConfigError


@click.command("worker")
@click.option("--burst", is_flag=True, help="Send what is queued now, then exit.")
@click.option(
    "--queue",
    "queue",
    metavar="NAME",
    default=None,
    help="The queue to work on (default: the one Poort enqueues to, <redis_prefix>sms).",
)
@with_appcontext
def worker_command(burst: bool, queue: str | None) -> None:
    """Send queued text messages (sms_queue = "redis"); SIGTERM stops after the current one."""
    settings = state.settings()
    if not settings.redis_url:
        raise click.ClickException(
            "poort worker needs redis_url (or REDIS_URL): the queue of text messages lives in "
            'Redis. Set it, and sms_queue = "redis" (or SMS_QUEUE=redis), for every Poort process.'
        )
    try:
        import rq  # noqa: F401
    except ImportError as exc:
        raise click.ClickException(
            f"poort worker needs the redis extra: pip install 'poort[redis]' ({exc})"
        ) from exc
    if settings.sms_queue != "redis":
        click.echo(
            'sms_queue is "inline": Poort sends codes itself and queues nothing; this worker '
            "only sends what is left in the queue.",
            err=True,
        )
    from idp.worker import run_worker

    try:
        run_worker(current_app._get_current_object(), queue=queue, burst=burst)  # type: ignore[attr-defined]
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
