"""``poort client ...``: register, list, reset and delete relying applications."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from sqlalchemy import select

from idp.models import AuditEvent
from tests.cli.support import Poort


def _value(output: str, name: str) -> str:
    match = re.search(rf"^{name}:\s+(\S+)$", output, re.MULTILINE)
    assert match, output
    return match.group(1)


def test_client_add_prints_the_id_and_the_secret_once(ready: Poort) -> None:
    out = ready.ok(
        "client",
        "add",
        "Shop",
        "--redirect-uri",
        "https://shop.example/cb",
        "--redirect-uri",
        "https://shop.example/cb2",
        "--post-logout-uri",
        "https://shop.example/",
        "--scopes",
        "openid profile phone offline_access",
        "--first-party",
    )

    client_id, secret = _value(out, "client_id"), _value(out, "client_secret")
    assert "shown only this once" in out
    [row] = ready.clients()
    assert row.client_id == client_id and row.name == "Shop"
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert row.redirect_uris == ["https://shop.example/cb", "https://shop.example/cb2"]
    assert row.post_logout_redirect_uris == ["https://shop.example/"]
    assert row.scopes == "openid profile phone offline_access"
    assert row.first_party and row.require_pkce and not row.public
    listed = ready.ok("client", "list")
    assert client_id in listed and "https://shop.example/cb2" in listed
    assert secret not in listed
    [event] = ready.rows(select(AuditEvent).where(AuditEvent.action == "client.create"))
    assert event.actor == "cli" and secret not in json.dumps(event.after)


def test_client_add_public_and_no_pkce(ready: Poort) -> None:
    out = ready.ok("client", "add", "SPA", "--redirect-uri", "https://spa.example/", "--public")
    assert "client_secret" not in out
    ready.ok("client", "add", "Legacy", "--redirect-uri", "https://old.example/cb", "--no-pkce")

    spa, legacy = ready.clients()
    assert spa.public and spa.secret_hash is None and spa.require_pkce
    assert not legacy.public and not legacy.require_pkce
    listed = ready.ok("client", "list")
    assert "public" in listed and "no-pkce" in listed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--redirect-uri", "https://shop.example/cb#x"], "fragment"),
        (["--redirect-uri", "http://shop.example/cb"], "https"),
        (["--redirect-uri", "https://shop.example/cb", "--scopes", "openid admin"], "Unknown"),
        (["--redirect-uri", "https://shop.example/cb", "--public", "--no-pkce"], "PKCE"),
    ],
)
def test_client_add_refuses_bad_input(ready: Poort, args: list[str], message: str) -> None:
    out = ready.fails("client", "add", "Shop", *args)

    assert message in out
    assert ready.clients() == []


def test_client_add_needs_a_redirect_uri(ready: Poort) -> None:
    assert "--redirect-uri" in ready.fails("client", "add", "Shop")


def test_client_list_says_when_there_are_none(ready: Poort) -> None:
    assert "No applications" in ready.ok("client", "list")


def test_client_reset_secret(ready: Poort) -> None:
    out = ready.ok("client", "add", "Shop", "--redirect-uri", "https://shop.example/cb")
    client_id, old = _value(out, "client_id"), _value(out, "client_secret")

    new = _value(ready.ok("client", "reset-secret", client_id), "client_secret")

    assert new != old
    [row] = ready.clients()
    assert row.secret_hash == hashlib.sha256(new.encode()).hexdigest()
    assert "No application" in ready.fails("client", "reset-secret", "nope")


def test_client_reset_secret_of_a_public_client_fails(ready: Poort) -> None:
    out = ready.ok("client", "add", "SPA", "--redirect-uri", "https://spa.example/", "--public")

    assert "no secret" in ready.fails("client", "reset-secret", _value(out, "client_id"))


def test_client_delete_asks_unless_yes(ready: Poort) -> None:
    client_id = _value(
        ready.ok("client", "add", "Shop", "--redirect-uri", "https://shop.example/cb"),
        "client_id",
    )

    ready.fails("client", "delete", client_id, input="n\n")
    assert len(ready.clients()) == 1
    out = ready.ok("client", "delete", client_id, "--yes")

    assert "Deleted Shop" in out and ready.clients() == []
    assert "No application" in ready.fails("client", "delete", client_id, "--yes")
