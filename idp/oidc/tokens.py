"""Checking the access tokens Poort issued: signature, type, issuer, expiry, revocation."""

from __future__ import annotations

from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select

from idp.extensions import db
from idp.models import OAuthToken
from idp.oidc import keys
from idp.oidc.server import issuer, now, sha256


def _key_set() -> KeySet:
    return KeySet.import_key_set(keys.jwks())


def verify_jwt(token: str, *, typ: str | None) -> dict[str, Any] | None:
    """Claims of a JWT we signed (of type *typ*), or None when it is not ours or not valid.

    Expiry is not judged here; callers decide (logout accepts expired ID tokens).
    """
    if not token or len(token) > 8192 or token.count(".") != 2:
        return None
    try:
        decoded = jwt.decode(token, _key_set(), algorithms=["RS256", "ES256"])
    except (JoseError, ValueError):
        return None
    if typ is not None and decoded.header.get("typ") != typ:
        return None
    if decoded.claims.get("iss") != issuer():
        return None
    return dict(decoded.claims)


def access_token_row(token: str) -> OAuthToken | None:
    """The live token row behind an access token string, or None (invalid, expired, revoked)."""
    claims = verify_jwt(token, typ="at+jwt")
    if claims is None or int(claims.get("exp", 0)) <= int(now().timestamp()):
        return None
    row = db.session.scalar(select(OAuthToken).where(OAuthToken.access_jti == claims.get("jti")))
    if row is None or row.revoked_at is not None or not row.user.active:
        return None
    return row


def refresh_token_row(token: str) -> OAuthToken | None:
    if not token or len(token) > 200:
        return None
    return db.session.scalar(select(OAuthToken).where(OAuthToken.refresh_hash == sha256(token)))
