"""Run a list of ``poort`` commands in one process: ``python -m bench.setup_cli PLAN.json``.

Each command goes through Poort's own command line (``idp.cli.main``, what the ``poort``
script runs) exactly as typed in a shell, including its prompts, which are answered from
standard input. One interpreter for the whole list saves the few seconds of start-up every
``poort`` invocation costs, which matters on a two-core machine.

The plan is a JSON object: ``commands``, a list of argument lists; ``optional``, a list of
argument lists run only when their command exists (their absence or failure is reported, not fatal);
and ``user``, an ordinary password account to add. Poort has no command for ordinary accounts
(people sign themselves up), so that one is added through the app, the way the tests do.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click


def _run(main: click.Group, args: list[str], *, required: bool = True) -> None:
    print("$ poort " + " ".join(args), flush=True)
    try:
        main.main(args=args, prog_name="poort", standalone_mode=False)
    except click.ClickException as exc:
        if required:
            print(f"Error: {exc.format_message()}", file=sys.stderr, flush=True)
            raise SystemExit(1) from exc
        print(f"FAILED: poort {args[0]}: {exc.format_message()}", flush=True)
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise


def _has_command(main: click.Group, args: list[str]) -> bool:
    ctx = click.Context(main)
    return main.get_command(ctx, args[0]) is not None


def _add_user(username: str, password: str) -> None:
    from idp import create_app, state
    from idp.extensions import db
    from idp.models import User

    app = create_app()
    with app.app_context():
        hashed = state.current().passwords.hash(password)
        db.session.add(User(nickname=username, username=username, password_hash=hashed))
        db.session.commit()
    print(f"Added user {username} (password sign-in).", flush=True)


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as handle:
        plan: dict[str, Any] = json.load(handle)
    from idp.cli import main as poort

    for args in plan.get("commands", []):
        _run(poort, args)
    for args in plan.get("optional", []):
        if _has_command(poort, args):
            _run(poort, args, required=False)
        else:
            print(f"SKIPPED: `poort {args[0]}` does not exist in this checkout.", flush=True)
    user = plan.get("user")
    if user:
        _add_user(user["username"], user["password"])


if __name__ == "__main__":
    main()
