"""Relying applications in the admin panel: register, edit, enable and disable, delete.

A confidential client's secret is shown once, in the answer to the request that made it
(creation or "reset secret", never cached), and stored only as a hash. Redirect URIs are
matched exactly, so the form takes them one per line and refuses fragments and non-https
URLs (plain http only for loopback). Every change is audited with ``public_view``: never a
secret, never its hash.
"""

from __future__ import annotations

from typing import Any

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from idp.admin import bp
from idp.errors import InvalidInput
from idp.extensions import db
from idp.models import Consent, OAuthClient, OAuthToken, Verifier
from idp.oidc import clients
from idp.oidc.claims import SCOPES
from idp.security import audit

#: The scopes a new application may ask for unless the admin says otherwise.
DEFAULT_SCOPES = ("openid", "profile", "phone")


def _target(row: OAuthClient) -> str:
    return f"client:{row.client_id}"


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def _fields(form: Any, *, new: bool) -> dict[str, Any]:
    """The form as :func:`idp.oidc.clients.save` takes it (checkboxes: absent means off)."""
    public = form.get("client_type") == "public" if new else False
    return {
        "name": form.get("name", ""),
        "public": public,
        "redirect_uris": _lines(form.get("redirect_uris", "")),
        "post_logout_redirect_uris": _lines(form.get("post_logout_redirect_uris", "")),
        # openid always (its box is shown ticked and disabled); unknown values are dropped.
        "scopes": " ".join(s for s in SCOPES if s == "openid" or s in form.getlist("scopes")),
        "first_party": "first_party" in form,
        "require_pkce": "require_pkce" in form,
        "logo_url": form.get("logo_url", ""),
        "verifier": form.get("verifier", ""),
    }


def _values(row: OAuthClient | None) -> dict[str, Any]:
    """What the form shows: the row's values, or the defaults of a new application."""
    if row is None:
        return {
            "name": "",
            "client_type": "confidential",
            "redirect_uris": "",
            "post_logout_redirect_uris": "",
            "scopes": list(DEFAULT_SCOPES),
            "first_party": False,
            "require_pkce": True,
            "logo_url": "",
            "verifier": "",
        }
    return {
        "name": row.name,
        "client_type": "public" if row.public else "confidential",
        "redirect_uris": "\n".join(row.redirect_uris or []),
        "post_logout_redirect_uris": "\n".join(row.post_logout_redirect_uris or []),
        "scopes": row.scope_list,
        "first_party": row.first_party,
        "require_pkce": row.require_pkce,
        "logo_url": row.logo_url or "",
        "verifier": row.verifier or "",
    }


def _posted_values(form: Any, row: OAuthClient | None) -> dict[str, Any]:
    """The submitted form, to show again after a mistake."""
    return {
        "name": form.get("name", ""),
        "client_type": (
            form.get("client_type", "confidential")
            if row is None
            else ("public" if row.public else "confidential")
        ),
        "redirect_uris": form.get("redirect_uris", ""),
        "post_logout_redirect_uris": form.get("post_logout_redirect_uris", ""),
        "scopes": form.getlist("scopes"),
        "first_party": "first_party" in form,
        "require_pkce": "require_pkce" in form,
        "logo_url": form.get("logo_url", ""),
        "verifier": form.get("verifier", ""),
    }


def _form_page(
    row: OAuthClient | None, values: dict[str, Any], errors: dict[str, list[str]]
) -> str | tuple[str, int]:
    """The form; with errors, status 400 and each message by its field."""
    page = render_template(
        "admin/client_form.html",
        row=row,
        values=values,
        errors=errors,
        scopes=SCOPES,
        verifiers=db.session.scalars(select(Verifier.name).order_by(Verifier.name)).all(),
    )
    return (page, 400) if errors else page


def _secret_page(row: OAuthClient, secret: str, *, created: bool) -> Response:
    """The one time a secret is shown: never cached, never stored in clear."""
    response = make_response(
        render_template("admin/client_secret.html", row=row, secret=secret, created=created)
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/clients", endpoint="clients")
def clients_list() -> str:
    rows = db.session.scalars(select(OAuthClient).order_by(OAuthClient.name, OAuthClient.id)).all()
    consents = dict(
        db.session.execute(
            select(Consent.client_id, func.count(Consent.id)).group_by(Consent.client_id)
        ).all()
    )
    live = dict(
        db.session.execute(
            select(OAuthToken.client_id, func.count(func.distinct(OAuthToken.user_id)))
            .where(OAuthToken.revoked_at.is_(None))
            .group_by(OAuthToken.client_id)
        ).all()
    )
    return render_template("admin/clients.html", rows=rows, consents=consents, live=live)


@bp.route("/clients/new", methods=["GET", "POST"])
def client_new() -> Any:
    if request.method == "GET":
        return _form_page(None, _values(None), {})
    try:
        row, secret = clients.save(None, _fields(request.form, new=True))
    except InvalidInput as exc:
        db.session.rollback()
        return _form_page(
            None, _posted_values(request.form, None), {exc.field or "form": [exc.message]}
        )
    audit.record("client.create", _target(row), after=clients.public_view(row))
    db.session.commit()
    if secret is None:
        flash(
            _(
                "Application %(name)s registered. Its client id is %(client_id)s.",
                name=row.name,
                client_id=row.client_id,
            ),
            "success",
        )
        return redirect(url_for("admin.client_edit", client_id=row.client_id), code=303)
    return _secret_page(row, secret, created=True)


@bp.route("/clients/<client_id>", methods=["GET", "POST"])
def client_edit(client_id: str) -> Any:
    row = clients.get(client_id)
    if request.method == "GET":
        return _form_page(row, _values(row), {})
    before = clients.public_view(row)
    try:
        clients.save(row, _fields(request.form, new=False))
    except InvalidInput as exc:
        db.session.rollback()
        row = clients.get(client_id)
        return _form_page(
            row, _posted_values(request.form, row), {exc.field or "form": [exc.message]}
        )
    after = clients.public_view(row)
    if after != before:
        audit.record("client.update", _target(row), before=before, after=after)
    db.session.commit()
    flash(_("Application %(name)s saved.", name=row.name), "success")
    return redirect(url_for("admin.clients"), code=303)


@bp.post("/clients/<client_id>/secret")
def client_reset_secret(client_id: str) -> Any:
    row = clients.get(client_id)
    try:
        secret = clients.reset_secret(row)
    except InvalidInput as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.client_edit", client_id=client_id), code=303)
    audit.record("client.reset_secret", _target(row), after=clients.public_view(row))
    db.session.commit()
    return _secret_page(row, secret, created=False)


@bp.post("/clients/<client_id>/enabled")
def client_set_enabled(client_id: str) -> Response:
    row = clients.get(client_id)
    enable = request.form.get("enabled") == "1"
    if row.enabled != enable:
        before = clients.public_view(row)
        clients.set_enabled(row, enable)
        audit.record(
            "client.enable" if enable else "client.disable",
            _target(row),
            before=before,
            after=clients.public_view(row),
        )
        db.session.commit()
    if enable:
        message = _("%(name)s can sign people in again.", name=row.name)
    else:
        message = _("%(name)s is disabled; its tokens were revoked.", name=row.name)
    flash(message, "success")
    return redirect(url_for("admin.clients"), code=303)


@bp.post("/clients/<client_id>/delete")
def client_delete(client_id: str) -> Response:
    row = clients.get(client_id)
    name = row.name
    audit.record("client.delete", _target(row), before=clients.public_view(row))
    clients.delete_client(row)
    db.session.commit()
    flash(_("Application %(name)s deleted, with its tokens and consents.", name=name), "success")
    return redirect(url_for("admin.clients"), code=303)
