"""``poort keys rotate|list``: the old key stays published while its tokens live."""

from __future__ import annotations

import re

from sqlalchemy import select

from idp.models import AuditEvent, SigningKey
from tests.cli.support import Poort


def _jwks_kids(poort: Poort) -> list[str]:
    response = poort.app().test_client().get("/oauth/jwks")
    return [key["kid"] for key in response.get_json()["keys"]]


def test_keys_rotate_keeps_the_old_key_published(ready: Poort) -> None:
    assert "No signing keys" in ready.ok("keys", "list")
    first = re.search(r"New signing key (\S+) \(RS256\)", ready.ok("keys", "rotate")).group(1)

    out = ready.ok("keys", "rotate", "--alg", "ES256")

    second = re.search(r"New signing key (\S+) \(ES256\)", out).group(1)
    assert f"Retired {first}" in out and "24 hours" in out
    assert set(_jwks_kids(ready)) == {first, second}
    listed = ready.ok("keys", "list")
    assert re.search(rf"{second}\s+ES256 .*active", listed)
    assert re.search(rf"{first}\s+RS256 .*retired, published until", listed)
    assert len(ready.rows(select(SigningKey))) == 2
    assert ready.rows(select(AuditEvent).where(AuditEvent.action == "keys.rotate"))


def test_keys_rotate_refuses_unknown_algorithms(ready: Poort) -> None:
    assert "HS256" in ready.fails("keys", "rotate", "--alg", "HS256")
