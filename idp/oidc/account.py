"""Connected applications on the account: what each app may know, and taking it back.

A user sees every application they consented to (with the scopes) and every application
that still holds a live token for them (first-party ones ask no consent). Revoking deletes
the consent, so the next sign-in asks again, and revokes that user's tokens for that app.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user
from sqlalchemy import delete, or_, select
from werkzeug.wrappers import Response

from idp.extensions import db
from idp.models import Consent, OAuthClient, OAuthToken, User
from idp.oidc import clients
from idp.oidc.server import now
from idp.oidc.views import bp
from idp.security import audit


@dataclass
class Connection:
    client: OAuthClient
    scopes: list[str] = field(default_factory=list)
    granted_at: datetime | None = None
    signed_in: bool = False


def connections(user: User) -> list[Connection]:
    """The applications *user* consented to or that hold a live token for them, by name."""
    found: dict[int, Connection] = {}
    for consent in db.session.scalars(select(Consent).where(Consent.user_id == user.id)):
        found[consent.client_id] = Connection(
            consent.client, consent.scopes.split(), consent.granted_at
        )
    current = now()
    live = db.session.scalars(
        select(OAuthToken).where(
            OAuthToken.user_id == user.id,
            OAuthToken.revoked_at.is_(None),
            or_(
                OAuthToken.access_expires_at > current,
                (OAuthToken.refresh_expires_at > current) & OAuthToken.rotated_at.is_(None),
            ),
        )
    )
    for token in live:
        entry = found.setdefault(token.client_id, Connection(token.client))
        entry.signed_in = True
    return sorted(found.values(), key=lambda c: (c.client.name.casefold(), c.client.id))


def _user() -> User:
    user: User = current_user._get_current_object()  # noqa: SLF001 - a real row, not the proxy
    return user


@bp.get("/account/applications")
def applications() -> Response | str:
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    return render_template("oidc/applications.html", connections=connections(_user()))


@bp.post("/account/applications/<client_id>/revoke")
def revoke_application(client_id: str) -> Response:
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    user = _user()
    row = db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
    if row is not None:
        consent = db.session.scalar(
            select(Consent.scopes).where(Consent.user_id == user.id, Consent.client_id == row.id)
        )
        db.session.execute(
            delete(Consent)
            .where(Consent.user_id == user.id, Consent.client_id == row.id)
            .execution_options(synchronize_session=False)
        )
        clients.revoke_tokens(row, user_id=user.id)
        audit.record(
            "oidc.consent_revoke",
            f"user:{user.id}",
            before={"client": row.client_id, "scopes": consent},
            actor=user,
        )
        db.session.commit()
        flash(gettext("%(app)s no longer has access to your account.", app=row.name), "success")
    return redirect(url_for("oidc.applications"), code=303)
