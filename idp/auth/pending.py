"""The relying application's authorization request, kept in the session while the person signs in.

The OpenID Connect endpoints put it here (:mod:`idp.oidc.requests`); the sign-in pages read it
to show the application's name, and verification reads it to pick the application's own sender.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import session
from werkzeug.datastructures import MultiDict

from idp.clock import now

PENDING_KEY = "oidc_pending"
MAX_PARAMS = 40


def remember(params: MultiDict[str, str], **extra: Any) -> str:
    """Keep *params* for after the login; returns the id of the kept request."""
    rid = secrets.token_urlsafe(12)
    session[PENDING_KEY] = {
        "id": rid,
        "params": list(params.items(multi=True))[: MAX_PARAMS * 4],
        "at": now().isoformat(),
        **extra,
    }
    return rid


def recall() -> tuple[MultiDict[str, str], dict[str, Any]] | None:
    data = session.get(PENDING_KEY)
    if not data:
        return None
    return MultiDict(data["params"]), data


def forget() -> None:
    session.pop(PENDING_KEY, None)


def requesting_client_id() -> str | None:
    """The ``client_id`` of the authorization request this sign-in is for, if any."""
    kept = recall()
    return kept[0].get("client_id") if kept is not None else None
