"""The Authlib authorization server, with Poort's storage, clock, keys and token rules.

Codes live 60 seconds and work once: the second use fails and revokes every token issued
from the first. Access tokens are JWTs (RFC 9068) that live 10 minutes. Refresh tokens are
issued only for ``offline_access``, rotate on every use, and the reuse of an old one revokes
its whole family. Codes, refresh tokens and client secrets are stored as SHA-256 hashes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Request, grants
from authlib.oauth2.rfc6749.errors import (
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
)
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask, g
from joserfc import jwt
from sqlalchemy import select, update

from idp import state
from idp.extensions import db
from idp.models import AuthorizationCode, OAuthClient, OAuthToken, User
from idp.oidc import keys
from idp.oidc.claims import user_claims

CODE_LIFETIME = timedelta(seconds=60)
ACCESS_LIFETIME = timedelta(minutes=10)
ID_TOKEN_LIFETIME = timedelta(minutes=10)
REFRESH_LIFETIME = timedelta(days=30)


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def now() -> datetime:
    return state.current().clock()


def issuer() -> str:
    return state.current().settings.issuer


@dataclass
class Grantee:
    """The user a code or token is for, with when and how they signed in."""

    user: User
    auth_time: datetime
    amr: list[str]
    acr: str | None
    code_id: int | None = None
    family: str | None = field(default=None)

    def get_user_id(self) -> str:
        return self.user.subject


def revoke_family(family: str) -> None:
    db.session.execute(
        update(OAuthToken)
        .where(OAuthToken.family == family, OAuthToken.revoked_at.is_(None))
        .values(revoked_at=now())
        .execution_options(synchronize_session=False)
    )


def revoke_code_tokens(code_id: int) -> None:
    """A code was presented twice: nothing issued from it may stay valid."""
    families = db.session.scalars(
        select(OAuthToken.family).where(OAuthToken.code_id == code_id).distinct()
    ).all()
    for family in families:
        revoke_family(family)


def _unverified_claims(token: str) -> dict[str, Any]:
    """Claims of a JWT we signed a moment ago (only to record its jti and exp)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


class TokenGenerator(BearerTokenGenerator):
    """JWT access tokens (RFC 9068) signed with the active key, timed by Poort's clock."""

    def __init__(self) -> None:
        super().__init__(
            access_token_generator=self._access_token,
            refresh_token_generator=self._refresh_token,
            expires_generator=lambda client, grant_type: int(ACCESS_LIFETIME.total_seconds()),
        )

    def _access_token(self, client: OAuthClient, grant_type: str, user: Grantee, scope: str) -> str:
        issued = int(now().timestamp())
        key = keys.active_key()
        claims = {
            "iss": issuer(),
            "sub": user.user.subject,
            "aud": client.client_id,
            "client_id": client.client_id,
            "iat": issued,
            "exp": issued + int(ACCESS_LIFETIME.total_seconds()),
            "jti": secrets.token_urlsafe(16),
            "scope": scope,
            "auth_time": int(user.auth_time.timestamp()),
            "amr": user.amr,
        }
        if user.acr:
            claims["acr"] = user.acr
        header = {"alg": key.alg, "typ": "at+jwt", "kid": key.kid}
        return jwt.encode(header, claims, keys.private_jwk(key), algorithms=[key.alg])

    @staticmethod
    def _refresh_token(client: OAuthClient, grant_type: str, user: Grantee, scope: str) -> str:
        return secrets.token_urlsafe(32)

    def generate(
        self,
        grant_type: str,
        client: Any,
        user: Any = None,
        scope: Any = None,
        expires_in: Any = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        # Refresh tokens only when the user granted offline access.
        include = include_refresh_token and "offline_access" in (scope or "").split()
        return super().generate(grant_type, client, user, scope, expires_in, include)


def save_token(token: dict[str, Any], request: Any) -> None:
    """Record an issued token; the view commits only when the whole exchange succeeded."""
    grantee: Grantee = request.user
    claims = _unverified_claims(token["access_token"])
    refresh = token.get("refresh_token")
    db.session.add(
        OAuthToken(
            client_id=request.client.id,
            user_id=grantee.user.id,
            scope=token.get("scope", ""),
            access_jti=claims["jti"],
            access_expires_at=datetime.fromtimestamp(claims["exp"], tz=now().tzinfo),
            refresh_hash=sha256(refresh) if refresh else None,
            refresh_expires_at=now() + REFRESH_LIFETIME if refresh else None,
            family=grantee.family or secrets.token_hex(16),
            code_id=grantee.code_id,
            auth_time=grantee.auth_time,
            acr=grantee.acr,
            amr=grantee.amr,
            created_at=now(),
        )
    )


def query_client(client_id: str) -> OAuthClient | None:
    if not client_id or len(client_id) > 64:
        return None
    return db.session.scalar(
        select(OAuthClient).where(OAuthClient.client_id == client_id, OAuthClient.enabled.is_(True))
    )


class S256Challenge(CodeChallenge):
    """PKCE with S256 only; required for public clients and for clients that ask for it."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        request = grant.request
        client: OAuthClient = request.client
        challenge = request.payload.data.get("code_challenge")
        method = request.payload.data.get("code_challenge_method")
        if (client.public or client.require_pkce) and not challenge:
            raise InvalidRequestError(
                "This client must use PKCE: send code_challenge with code_challenge_method=S256.",
                redirect_uri=redirect_uri,
            )
        if challenge and method != "S256":
            raise InvalidRequestError(
                "Only code_challenge_method=S256 is supported.", redirect_uri=redirect_uri
            )
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        # A verifier for a code issued without a challenge fails the grant (RFC 9700 4.8.2),
        # with the error a wrong verifier gets (security.md O5), not Authlib's invalid_request.
        request = grant.request
        code = request.authorization_code
        if request.form.get("code_verifier") and not self.get_authorization_code_challenge(code):
            raise InvalidGrantError("This code was issued without PKCE; drop the code_verifier.")
        super().validate_code_verifier(grant, result)

    def get_authorization_code_challenge(self, code: AuthorizationCode) -> str | None:
        return code.code_challenge

    def get_authorization_code_challenge_method(self, code: AuthorizationCode) -> str | None:
        return code.code_challenge_method


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def save_authorization_code(self, code: str, request: Any) -> None:
        grantee: Grantee = request.user
        data = request.payload.data
        issued = now()
        db.session.add(
            AuthorizationCode(
                code_hash=sha256(code),
                client_id=request.client.id,
                user_id=grantee.user.id,
                redirect_uri=request.payload.redirect_uri,
                scope=request.payload.scope or "",
                nonce=data.get("nonce"),
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
                auth_time=grantee.auth_time,
                acr=grantee.acr,
                amr=grantee.amr,
                created_at=issued,
                expires_at=issued + CODE_LIFETIME,
            )
        )
        db.session.commit()

    def query_authorization_code(self, code: str, client: OAuthClient) -> AuthorizationCode | None:
        row = db.session.scalar(
            select(AuthorizationCode).where(
                AuthorizationCode.code_hash == sha256(code),
                AuthorizationCode.client_id == client.id,
            )
        )
        if row is None:
            return None
        if row.used_at is not None:
            g.oauth_code_reused = row.id
            return None
        if row.expires_at <= now():
            return None
        return row

    def delete_authorization_code(self, code: AuthorizationCode) -> None:
        # Consumed by one conditional UPDATE: of two exchanges racing, exactly one wins.
        result = db.session.execute(
            update(AuthorizationCode)
            .where(AuthorizationCode.id == code.id, AuthorizationCode.used_at.is_(None))
            .values(used_at=now())
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            g.oauth_code_reused = code.id
            raise InvalidGrantError("This code was used already.")

    def authenticate_user(self, code: AuthorizationCode) -> Grantee | None:
        user = code.user
        if user is None or not user.active:
            return None
        return Grantee(user, code.auth_time, list(code.amr or []), code.acr, code_id=code.id)


class PoortOpenIDCode(OpenIDCode):
    """ID tokens: signed with the active key, timed by Poort's clock, nonce only when sent."""

    def __init__(self) -> None:
        super().__init__(require_nonce=False)

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        return False  # nonces are the client's to check; codes are single use anyway

    def resolve_client_private_key(self, client: OAuthClient) -> Any:
        return keys.private_jwk(keys.active_key())

    def get_client_algorithm(self, client: OAuthClient) -> str:
        return keys.active_key().alg

    def get_encode_header(self, client: OAuthClient) -> dict[str, str]:
        key = keys.active_key()
        return {"alg": key.alg, "kid": key.kid, "typ": "JWT"}

    def get_authorization_code_claims(self, authorization_code: Any) -> dict[str, Any]:
        # Authlib 1.7 copies the code's nonce even when it is None ("nonce": null), which
        # strict clients refuse when they sent none; later versions leave it out. So do we.
        claims: dict[str, Any] = super().get_authorization_code_claims(authorization_code)
        if not claims.get("nonce"):
            claims.pop("nonce", None)
        return claims

    def get_compatible_claims(self, request: Any) -> dict[str, Any]:
        issued = int(now().timestamp())
        return {
            "iss": issuer(),
            "aud": request.client.client_id,
            "azp": request.client.client_id,
            "iat": issued,
            "exp": issued + int(ID_TOKEN_LIFETIME.total_seconds()),
        }

    def generate_user_info(self, user: Grantee, scope: str) -> dict[str, Any]:
        return user_claims(user.user, scope)


class RefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> OAuthToken | None:
        if len(refresh_token) > 200:
            return None
        row = db.session.scalar(
            select(OAuthToken).where(OAuthToken.refresh_hash == sha256(refresh_token))
        )
        if row is None or row.revoked_at is not None:
            return None
        if row.rotated_at is not None:
            # An old refresh token came back: someone holds a copy. End the whole family.
            g.oauth_family_reused = row.family
            return None
        if row.refresh_expires_at is None or row.refresh_expires_at <= now():
            return None
        return row

    def authenticate_user(self, row: OAuthToken) -> Grantee | None:
        if row.user is None or not row.user.active:
            return None
        return Grantee(row.user, row.auth_time, list(row.amr or []), row.acr, family=row.family)

    def revoke_old_credential(self, row: OAuthToken) -> None:
        result = db.session.execute(
            update(OAuthToken)
            .where(OAuthToken.id == row.id, OAuthToken.rotated_at.is_(None))
            .values(rotated_at=now())
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            g.oauth_family_reused = row.family
            raise InvalidGrantError("This refresh token was used already.")


class PoortIssuer(IssuerParameter):
    def get_issuer(self) -> str:
        return issuer()


class PoortAuthorizationServer(AuthorizationServer):
    def authenticate_client(self, request: Any, methods: Any, endpoint: str = "token") -> Any:
        try:
            return super().authenticate_client(request, methods, endpoint)
        except ValueError:  # Authlib's Basic parsing: "Basic " alone, or not UTF-8
            raise InvalidClientError(
                status_code=401, description="The Basic credentials cannot be read."
            ) from None

    def create_oauth2_request(self, request: Any) -> Any:
        # An authorization request kept across a login is replayed from the session.
        if isinstance(request, OAuth2Request):
            return request
        return super().create_oauth2_request(request)


def create_server(app: Flask) -> AuthorizationServer:
    from idp.oidc.endpoints import EndSession, Introspection, Revocation

    server = PoortAuthorizationServer(app, query_client=query_client, save_token=save_token)
    server.register_token_generator("default", TokenGenerator())
    server.register_grant(CodeGrant, [S256Challenge(required=True), PoortOpenIDCode()])
    server.register_grant(RefreshGrant)
    server.register_extension(PoortIssuer())
    server.register_endpoint(Revocation)
    server.register_endpoint(Introspection)
    server.register_endpoint(EndSession)
    app.extensions["idp.oidc"] = server
    return server
