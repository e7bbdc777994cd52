"""Token revocation (RFC 7009), introspection (RFC 7662) and RP-initiated logout."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.rpinitiated import EndSessionEndpoint
from flask import session
from flask_login import logout_user

from idp.models import OAuthClient, OAuthToken
from idp.oidc import keys
from idp.oidc.server import issuer, now, revoke_family
from idp.oidc.tokens import access_token_row, refresh_token_row, verify_jwt


def _query(token: str, hint: str | None) -> OAuthToken | None:
    if hint == "refresh_token":
        return refresh_token_row(token) or access_token_row(token)
    return access_token_row(token) or refresh_token_row(token)


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> OAuthToken | None:
        return _query(token_string, token_type_hint)

    def revoke_token(self, token: OAuthToken, request: Any) -> None:
        # Revoking either token of a pair ends the whole family: access and refresh alike.
        revoke_family(token.family)


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> OAuthToken | None:
        return _query(token_string, token_type_hint)

    def check_permission(self, token: OAuthToken, client: OAuthClient, request: Any) -> bool:
        # Confidential clients (resource servers) may introspect tokens issued to anyone.
        return not client.public

    def create_introspection_payload(self, token: OAuthToken | None) -> dict[str, Any]:
        # Authlib's version asks the row for is_expired()/is_revoked(); introspect_token
        # below judges liveness itself (revoked, user inactive, access or refresh expiry).
        return self.introspect_token(token) if token is not None else {"active": False}

    def introspect_token(self, token: OAuthToken) -> dict[str, Any]:
        current = now()
        active = (
            token.revoked_at is None
            and token.user.active
            and (
                token.access_expires_at > current
                or (
                    token.refresh_expires_at is not None
                    and token.refresh_expires_at > current
                    and token.rotated_at is None
                )
            )
        )
        if not active:
            return {"active": False}
        return {
            "active": True,
            "client_id": token.client.client_id,
            "scope": token.scope,
            "sub": token.user.subject,
            "aud": token.client.client_id,
            "iss": issuer(),
            "exp": int(token.access_expires_at.timestamp()),
            "iat": int(token.created_at.timestamp()),
            "token_type": "Bearer",
            "acr": token.acr,
            "amr": token.amr,
            "auth_time": int(token.auth_time.timestamp()),
        }


class EndSession(EndSessionEndpoint):
    def get_server_jwks(self) -> dict[str, Any]:
        return dict(keys.jwks())

    def _validate_id_token_hint(self, id_token_hint: str) -> dict[str, Any]:
        # An ID token of ours (typ JWT, our issuer, our keys); expired is fine at logout. An
        # access token is signed by the same keys but is no hint (RFC 9068 typ at+jwt).
        claims = verify_jwt(id_token_hint, typ="JWT")
        if claims is None:
            raise InvalidRequestError("id_token_hint is not an ID token issued here.")
        return claims

    def get_algorithms(self) -> list[str]:
        return ["RS256", "ES256"]

    def end_session(self, end_session_request: Any) -> None:
        logout_user()
        session.end()  # type: ignore[attr-defined]  # ServerSession: revokes the row
