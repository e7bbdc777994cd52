"""What relying apps learn about a user: claims by scope, and acr from amr."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from idp.models import User

#: Authentication context classes we advertise (NIST SP 800-63B assurance levels).
ACR_SINGLE = "aal1"
ACR_MULTI = "aal2"
ACR_VALUES = (ACR_SINGLE, ACR_MULTI)

SCOPES = ("openid", "profile", "email", "phone", "offline_access")
CLAIMS = (
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "name",
    "nickname",
    "preferred_username",
    "email",
    "email_verified",
    "phone_number",
    "phone_number_verified",
)


def acr_for(amr: Sequence[str]) -> str:
    """aal2 when two kinds of factor were used, else aal1."""
    return ACR_MULTI if "mfa" in amr else ACR_SINGLE


def user_claims(user: User, scope: str) -> dict[str, Any]:
    """The claims *scope* grants about *user*, always with ``sub`` (never the database id)."""
    scopes = set(scope.split())
    claims: dict[str, Any] = {"sub": user.subject}
    if "profile" in scopes:
        claims["nickname"] = user.nickname
        claims["name"] = user.nickname
        if user.username:
            claims["preferred_username"] = user.username
    if "email" in scopes and user.email:
        claims["email"] = user.email
        # Poort does not verify e-mail addresses yet; say so rather than guess.
        claims["email_verified"] = False
    if "phone" in scopes and user.phone:
        claims["phone_number"] = user.phone
        claims["phone_number_verified"] = user.phone_verified_at is not None
    return claims
