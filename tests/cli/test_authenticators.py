"""``poort authenticator add|list|enable|disable``: the rows and audit events they leave."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from idp.models import Authenticator
from tests.cli.support import Poort


def test_authenticator_add_list_enable_disable(cli: Poort) -> None:
    cli.ok("init", "--no-admin")
    assert "No authenticators." in cli.ok("authenticator", "list")

    out = cli.ok(
        "authenticator", "add", "pw", "--method", "password", "--option", "allow_email=false",
        "--enable", "--title", "Staff password",
    )  # fmt: skip
    assert "Created authenticator pw (password), enabled." in out
    assert re.search(
        r"1\s+enabled\s+pw\s+password\s+Staff password", cli.ok("authenticator", "list")
    )

    assert "pw is disabled." in cli.ok("authenticator", "disable", "pw")
    assert re.search(r"1\s+disabled\s+pw\s+password", cli.ok("authenticator", "list"))
    assert "pw is disabled." in cli.ok("authenticator", "disable", "pw")  # no change, no entry

    assert "pw is enabled." in cli.ok("authenticator", "enable", "pw")

    [row] = cli.rows(select(Authenticator))
    assert (row.name, row.method, row.enabled, row.options) == (
        "pw",
        "password",
        True,
        {"allow_email": False},
    )
    events = [(e.action, e.actor, e.target) for e in cli.audit()]
    assert events == [
        ("authenticator.create", "cli", "authenticator:pw"),
        ("authenticator.disable", "cli", "authenticator:pw"),
        ("authenticator.enable", "cli", "authenticator:pw"),
    ]
    disable = cli.audit()[1]
    assert (disable.before["enabled"], disable.after["enabled"]) == (True, False)


def test_authenticator_add_takes_option_defaults_and_is_disabled_by_default(cli: Poort) -> None:
    cli.ok("init", "--no-admin")

    out = cli.ok("authenticator", "add", "staff", "--method", "password")

    assert "disabled" in out
    [row] = cli.rows(select(Authenticator))
    assert (row.enabled, row.title, row.options) == (False, "Password", {"allow_email": True})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["enable", "nope"], "No authenticator called 'nope'"),
        (["disable", "nope"], "No authenticator called 'nope'"),
        (["add", "x", "--method", "nope"], "No auth method called 'nope' is installed"),
        (["add", "x", "--method", "password", "--option", "colour=blue"], "colour: Unknown option"),
        (["add", "x", "--method", "password", "--option", "allow_email"], "is not KEY=VALUE"),
        (["add", "Bad Slug!", "--method", "password"], "lower-case letters, digits and hyphens"),
        (["add", "-x", "--method", "password"], "No such option"),
        (["add", "x"], "Missing option '--method'"),
    ],
)
def test_authenticator_errors_are_clear_and_change_nothing(
    cli: Poort, args: list[str], message: str
) -> None:
    cli.ok("init", "--no-admin")

    out = cli.fails("authenticator", *args)

    assert message in out
    assert "Traceback" not in out
    assert cli.rows(select(Authenticator)) == []
    assert cli.audit() == []


def test_authenticator_names_are_unique(cli: Poort) -> None:
    cli.ok("init", "--no-admin")
    cli.ok("authenticator", "add", "pw", "--method", "password")

    out = cli.fails("authenticator", "add", "pw", "--method", "password")

    assert "exists already" in out
    assert len(cli.rows(select(Authenticator))) == 1
