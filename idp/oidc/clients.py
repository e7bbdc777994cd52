"""Registering relying applications: validation, secrets shown once, exact redirect URIs."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from flask_babel import gettext
from sqlalchemy import delete, select, update

from idp import state
from idp.errors import InvalidInput, NotFound
from idp.extensions import db
from idp.models import AuthorizationCode, Consent, OAuthClient, OAuthToken, Verifier
from idp.oidc.claims import SCOPES

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def new_secret() -> tuple[str, str]:
    """A client secret and its hash; show the secret once and store only the hash."""
    secret = secrets.token_urlsafe(32)
    return secret, hashlib.sha256(secret.encode()).hexdigest()


def uri_problem(uri: str) -> str | None:
    """Why *uri* cannot be registered as a redirect URI (a sentence naming it), or None."""
    if len(uri) > 2000:
        return gettext("%(uri)s is longer than 2000 characters.", uri=uri)
    try:
        parts = urlsplit(uri)
    except ValueError:
        return gettext("%(uri)s is not a URL.", uri=uri)
    if parts.fragment or "#" in uri:
        return gettext("%(uri)s may not contain a fragment (#...).", uri=uri)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return gettext("%(uri)s must be an absolute https URL.", uri=uri)
    if parts.scheme == "http" and parts.hostname not in LOOPBACK and not state.settings().dev:
        return gettext(
            "%(uri)s must use https (plain http only for 127.0.0.1 and localhost).", uri=uri
        )
    if parts.username or parts.password:
        return gettext("%(uri)s may not contain a user name or password.", uri=uri)
    return None


def check_uris(uris: Iterable[str], field: str, *, required: bool) -> list[str]:
    cleaned = []
    for raw in uris:
        uri = raw.strip()
        if not uri:
            continue
        problem = uri_problem(uri)
        if problem:
            raise InvalidInput(problem, field=field)
        if uri not in cleaned:
            cleaned.append(uri)
    if required and not cleaned:
        raise InvalidInput(gettext("Register at least one redirect URI."), field=field)
    return cleaned


def check_scopes(raw: str | Iterable[str]) -> str:
    scopes = raw.split() if isinstance(raw, str) else list(raw)
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise InvalidInput(
            gettext("Unknown scope(s): %(scopes)s.", scopes=", ".join(unknown)), field="scopes"
        )
    if "openid" not in scopes:
        scopes.insert(0, "openid")
    return " ".join(dict.fromkeys(scopes))


def get(client_id: str) -> OAuthClient:
    row = db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
    if row is None:
        raise NotFound(gettext("There is no such application."))
    return row


def save(row: OAuthClient | None, fields: dict[str, Any]) -> tuple[OAuthClient, str | None]:
    """Validate and apply *fields*; returns the client and, for a new confidential client (or a
    reset), its secret in clear, to show once. The caller audits and commits.
    """
    name = str(fields.get("name") or "").strip()
    if not name or len(name) > 80:
        raise InvalidInput(
            gettext("Give the application a name of at most 80 characters."), field="name"
        )
    public = bool(fields.get("public")) if row is None else row.public
    redirect_uris = check_uris(fields.get("redirect_uris") or [], "redirect_uris", required=True)
    logout_uris = check_uris(
        fields.get("post_logout_redirect_uris") or [], "post_logout_redirect_uris", required=False
    )
    scopes = check_scopes(fields.get("scopes") or "openid profile phone")
    logo = str(fields.get("logo_url") or "").strip() or None
    if logo and (uri_problem(logo) or len(logo) > 300):
        raise InvalidInput(
            gettext("The logo must be an https URL of at most 300 characters."), field="logo_url"
        )
    verifier = str(fields.get("verifier") or "").strip() or None
    if verifier and db.session.scalar(select(Verifier.id).where(Verifier.name == verifier)) is None:
        raise InvalidInput(
            gettext("There is no SMS verifier called %(name)s.", name=repr(verifier)),
            field="verifier",
        )
    secret = None
    if row is None:
        # Hex, so an id never starts with "-" (a command line would read it as an option).
        row = OAuthClient(client_id=secrets.token_hex(16), public=public)
        if not public:
            secret, row.secret_hash = new_secret()
        db.session.add(row)
    row.name = name
    row.redirect_uris = redirect_uris
    row.post_logout_redirect_uris = logout_uris
    row.scopes = scopes
    row.first_party = bool(fields.get("first_party"))
    # Public clients always use PKCE; the switch is only for confidential ones.
    row.require_pkce = True if public else bool(fields.get("require_pkce", True))
    row.logo_url = logo
    row.verifier = verifier
    db.session.flush()
    return row, secret


def reset_secret(row: OAuthClient) -> str:
    if row.public:
        raise InvalidInput(gettext("Public applications have no secret."), field="public")
    secret, row.secret_hash = new_secret()
    return secret


def revoke_tokens(row: OAuthClient, user_id: int | None = None) -> None:
    """Revoke every live token of client *row* (of one user when *user_id* is given)."""
    where = [OAuthToken.client_id == row.id, OAuthToken.revoked_at.is_(None)]
    if user_id is not None:
        where.append(OAuthToken.user_id == user_id)
    db.session.execute(
        update(OAuthToken)
        .where(*where)
        .values(revoked_at=state.current().clock())
        .execution_options(synchronize_session=False)
    )


def set_enabled(row: OAuthClient, enabled: bool) -> None:
    """Switch a client on or off; switching off ends the tokens it holds. The caller commits."""
    row.enabled = enabled
    if not enabled:
        revoke_tokens(row)


def delete_client(row: OAuthClient) -> None:
    """Delete a client with its codes, tokens and consents (SQLite does not cascade)."""
    for model in (OAuthToken, AuthorizationCode, Consent):
        db.session.execute(
            delete(model)
            .where(model.client_id == row.id)
            .execution_options(synchronize_session=False)
        )
    db.session.delete(row)


def public_view(row: OAuthClient) -> dict[str, Any]:
    return {
        "name": row.name,
        "client_id": row.client_id,
        "public": row.public,
        "redirect_uris": list(row.redirect_uris or []),
        "post_logout_redirect_uris": list(row.post_logout_redirect_uris or []),
        "scopes": row.scopes,
        "first_party": row.first_party,
        "require_pkce": row.require_pkce,
        "enabled": row.enabled,
        "verifier": row.verifier,
    }
