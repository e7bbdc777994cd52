"""Authorization requests: the checks Poort adds to Authlib's (unsupported parameters, sizes,
max_age), and the parameters kept in the server-side session while the user logs in."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from authlib.oauth2.base import invalid_error_characters
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidRequestError, OAuth2Error
from authlib.oauth2.rfc6749.requests import OAuth2Payload
from flask import session
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from idp.auth.pending import MAX_PARAMS, PENDING_KEY, forget, recall, remember
from idp.extensions import db
from idp.models import Consent, OAuthClient, User
from idp.oidc.server import issuer

__all__ = [
    "MAX_PARAMS",
    "PENDING_KEY",
    "ParamsPayload",
    "forget",
    "oauth_request",
    "recall",
    "remember",
]

#: The largest max_age honoured (100 years); larger ones mean the same: no limit.
MAX_AGE_LIMIT = 100 * 366 * 24 * 3600


class RequestNotSupported(OAuth2Error):
    error = "request_not_supported"
    description = "Request objects are not supported."


class RequestUriNotSupported(OAuth2Error):
    error = "request_uri_not_supported"
    description = "request_uri is not supported."


def _max_age(params: MultiDict[str, str], grant: Any) -> int | None:
    raw = params.get("max_age")
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()):  # "²" and "١" are digits to str.isdigit
        raise InvalidRequestError(
            "max_age must be a whole number of seconds.", redirect_uri=grant.redirect_uri
        )
    # Longer ago than any login can be is no limit; a bigger timedelta would overflow, and
    # int() refuses strings of over 4,300 digits.
    return MAX_AGE_LIMIT if len(raw) > 12 else min(int(raw), MAX_AGE_LIMIT)


def _check_lengths(params: MultiDict[str, str], grant: Any) -> None:
    """The authorization code keeps nonce and scope in columns of this size."""
    for name, most in (("nonce", 255), ("scope", 200)):
        if len(params.get(name) or "") > most:
            raise InvalidRequestError(
                f"{name} may be at most {most} characters.", redirect_uri=grant.redirect_uri
            )


def check_echoed(params: MultiDict[str, str]) -> None:
    """Authlib repeats these parameters in its error descriptions, and refuses to build an
    error whose description is not plain ASCII (RFC 6749): refuse such values first."""
    for name in ("response_type", "redirect_uri"):
        if invalid_error_characters(params.get(name) or ""):
            raise InvalidRequestError(
                f"{name} may only contain printable ASCII, without quotes or backslashes."
            )


def check_request(params: MultiDict[str, str], grant: Any) -> int | None:
    """Refuse what Poort does not support or cannot store; return max_age (None: not asked)."""
    if "request" in params:
        raise RequestNotSupported(redirect_uri=grant.redirect_uri)
    if "request_uri" in params:
        raise RequestUriNotSupported(redirect_uri=grant.redirect_uri)
    max_age = _max_age(params, grant)
    _check_lengths(params, grant)
    return max_age


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


def consented(user: User, client: OAuthClient, scope: str) -> bool:
    """Whether *user* agreed to give *client* every scope in *scope* (first-party: always)."""
    if client.first_party:
        return True
    row = db.session.scalar(
        select(Consent).where(Consent.user_id == user.id, Consent.client_id == client.id)
    )
    return row is not None and set(scope.split()) <= set(row.scopes.split())


def session_auth() -> tuple[datetime | None, list[str]]:
    """When this browser last logged in, and how (RFC 8176 amr values)."""
    auth_time = session.get("auth_time")
    return (datetime.fromisoformat(auth_time) if auth_time else None), list(session.get("amr", []))
