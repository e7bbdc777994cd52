"""Command line: ``flask --app wsgi idp ...``, or the same commands as ``poort ...``.

``poort`` is Flask's own command group (``run``, ``shell``, ``db``, ``routes``) with Poort's
commands added at the top level, so ``poort init`` can run before any key exists. Each command
group lives in a module of its own below this package; helpers they share are in
:mod:`idp.cli.common`.
"""

from __future__ import annotations

from typing import Any

import click
from flask import Flask
from flask.cli import FlaskGroup, NoAppException

from idp.cli.admins import create_admin_command
from idp.cli.authenticators import authenticator_group
from idp.cli.clients import client_group
from idp.cli.demo import demo_command
from idp.cli.init import init_command
from idp.cli.limits import limits_group
from idp.cli.maintenance import audit_group, prune_command
from idp.cli.plugins import plugins_command
from idp.cli.secret_keys import rotate_secret_key_command
from idp.cli.serve import serve_command
from idp.cli.signing_keys import keys_group
from idp.cli.sms import sms_group
from idp.cli.verifiers import verifier_group
from idp.cli.worker import worker_command
from idp.errors import ConfigError, PluginError


@click.group("idp")
def idp_group() -> None:
    """Poort administration commands."""


for _command in (
    init_command,
    create_admin_command,
    plugins_command,
    authenticator_group,
    demo_command,
    verifier_group,
    sms_group,
    rotate_secret_key_command,
    client_group,
    keys_group,
    limits_group,
    worker_command,
    prune_command,
    audit_group,
    serve_command,
):
    idp_group.add_command(_command)


def register_cli(app: Flask) -> None:
    app.cli.add_command(idp_group)


def _poort_app() -> Flask:
    # NoAppException makes Flask print the reason in one line (not a traceback), even in --help.
    from idp import create_app

    try:
        return create_app()
    except (ConfigError, PluginError) as exc:
        raise NoAppException(str(exc)) from exc


class PoortGroup(FlaskGroup):
    """Flask's commands plus Poort's, without needing --app."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(create_app=_poort_app, add_version_option=True, **kwargs)
        for name, command in idp_group.commands.items():
            self.add_command(command, name)


main = PoortGroup(help="Poort identity provider.")
