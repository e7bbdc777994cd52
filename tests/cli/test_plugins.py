"""``poort plugins``, also as ``flask --app wsgi idp plugins``."""

from __future__ import annotations

import re
from typing import Any

from tests.cli.support import Poort


def test_plugins_lists_the_password_method(cli: Poort) -> None:
    cli.ok("init", "--no-admin")

    out = cli.ok("plugins")

    assert "Auth methods:" in out
    assert re.search(r"^\s+password\s+Password\s+\[poort ", out, re.MULTILINE), out
    assert "SMS providers:" in out


def test_plugins_through_flask_idp_group(runner: Any) -> None:
    """`flask --app wsgi idp plugins` is the same command, under Flask's own CLI."""
    result = runner.invoke(args=["idp", "plugins"])

    assert result.exit_code == 0, result.output
    assert "password" in result.output
