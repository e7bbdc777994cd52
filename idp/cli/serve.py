"""``poort serve``: Poort in production under gunicorn."""

from __future__ import annotations

import click

from idp.errors import ConfigError


@click.command("serve")
@click.option(
    "--bind",
    "-b",
    multiple=True,
    metavar="ADDRESS",
    help="HOST:PORT or unix:PATH to listen on; repeat for more (default 127.0.0.1:8000).",
)
@click.option("--workers", "-w", type=click.IntRange(min=1), help="Worker processes (default 2).")
@click.option(
    "--threads", type=click.IntRange(min=1), help="Threads per worker process (default 8)."
)
def serve_command(bind: tuple[str, ...], workers: int | None, threads: int | None) -> None:
    """Serve Poort in production with gunicorn (threaded workers, graceful SIGTERM)."""
    from idp.serving import serve

    try:
        serve(bind, workers, threads)
    except ConfigError as exc:  # PluginError included
        raise click.ClickException(str(exc)) from exc
