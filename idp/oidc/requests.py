"""Authorization requests that survive a login: parameters kept in the server-side session."""

from __future__ import annotations

import secrets
from collections import defaultdict
from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.requests import OAuth2Payload
from flask import session
from werkzeug.datastructures import MultiDict

from idp.oidc.server import issuer, now

PENDING_KEY = "oidc_pending"
MAX_PARAMS = 40


class ParamsPayload(OAuth2Payload):
    """Authlib's view of a stored parameter list (first value, and every value)."""

    def __init__(self, params: MultiDict[str, str]) -> None:
        self._params = params

    @property
    def data(self) -> dict[str, str]:
        return {key: self._params.get(key, "") for key in self._params}

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        result: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in self._params.items(multi=True):
            result[key].append(value)
        return result


def oauth_request(params: MultiDict[str, str]) -> OAuth2Request:
    request = OAuth2Request("GET", f"{issuer()}/oauth/authorize")
    request.payload = ParamsPayload(params)
    return request


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
