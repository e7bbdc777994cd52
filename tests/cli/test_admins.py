"""``poort create-admin``: the account it makes and what it refuses."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from idp.models import User
from tests.cli.support import STRONG, Poort


def test_create_admin(cli: Poort) -> None:
    cli.ok("init", "--no-admin")

    out = cli.ok(
        "create-admin", "--username", "Alice", "--email", "a@example.org", "--password", STRONG
    )

    assert "Created admin alice." in out
    [user] = cli.rows(select(User))
    assert (user.username, user.nickname, user.is_admin) == ("alice", "alice", True)
    assert [(e.action, e.actor) for e in cli.audit()] == [("user.create_admin", "cli")]


def test_create_admin_prompts_for_the_password_twice(cli: Poort) -> None:
    cli.ok("init", "--no-admin")

    cli.ok("create-admin", "--username", "alice", input=f"{STRONG}\n{STRONG}\n")

    assert [u.username for u in cli.rows(select(User))] == ["alice"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--username", "bob", "--password", "short"], "at least 8 characters"),
        (["--username", "root", "--password", STRONG], "exists"),
        (["--username", "new", "--email", "root@example.org", "--password", STRONG], "exists"),
        (["--username", "  ", "--password", STRONG], "username is required"),
    ],
)
def test_create_admin_refuses(cli: Poort, args: list[str], message: str) -> None:
    cli.ok("init", "--admin-username", "root", "--admin-email", "root@example.org",
           "--admin-password", STRONG)  # fmt: skip

    out = cli.fails("create-admin", *args)

    assert message in out
    assert [u.username for u in cli.rows(select(User))] == ["root"]
