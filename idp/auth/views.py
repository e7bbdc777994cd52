"""The login page, the method-neutral submit route, logout, and the signed-in home page."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_login import current_user, logout_user
from werkzeug.wrappers import Response

from idp.auth import flow
from idp.auth.authenticators import enabled_authenticators, get_enabled, method_for
from idp.auth.method import LoginContext, Role
from idp.errors import NotFound
from idp.extensions import db
from idp.security import audit
from idp.security.client_ip import client_ip
from idp.security.redirects import safe_next

bp = Blueprint("auth", __name__)


def render_login_page(
    failed: str | None = None,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> str:
    """The login page with every enabled first-factor authenticator, in the admin's order."""
    parts = []
    for row in enabled_authenticators(Role.FIRST_FACTOR):
        is_failed = row.name == failed
        ctx = LoginContext(
            row,
            ip=client_ip(),
            values=values if is_failed and values else {},
            errors=errors if is_failed and errors else {},
        )
        parts.append((row, method_for(row).render_login(ctx)))
    return render_template("auth/login.html", parts=parts, failed=failed)


@bp.get("/")
def home() -> Response | str:
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return render_template("auth/home.html", amr=session.get("amr", []))


@bp.get("/login")
def login() -> str:
    next_url = safe_next(request.args.get("next"))
    if next_url:
        session["next"] = next_url
    return render_login_page()


@bp.post("/login/<name>")
def submit(name: str) -> Response | tuple[str, int]:
    row = get_enabled(name)
    method = method_for(row)
    if Role.FIRST_FACTOR not in method.roles:
        raise NotFound("There is no such way to sign in.")
    ctx = LoginContext(row, ip=client_ip(), user_agent=request.user_agent.string)
    result = method.authenticate(ctx, request.form)
    if not result.ok or result.user is None:
        audit.record("login.failure", after={"method": row.name})
        db.session.commit()
        field = result.field or "form"
        values = {
            k: v for k, v in request.form.items() if "password" not in k and k != "csrf_token"
        }
        page = render_login_page(row.name, values, {field: result.message or "Sign-in failed."})
        return page, 200
    return redirect(flow.first_factor_done(result.user, result.amr, row), code=303)


@bp.get("/login/second")
def second_factor() -> Response | str:
    """The second-factor step: each usable method renders its own form."""
    login = flow.require_pending()
    rows = flow.usable_second_factors(login.user, exclude=login.methods)
    if not rows:
        return redirect(url_for("auth.enrol"))
    parts = [
        (row, method_for(row).render_second_factor(LoginContext(row, ip=client_ip()), login.user))
        for row in rows
    ]
    return render_template("auth/second_factor.html", parts=parts, user=login.user)


@bp.get("/login/enrol")
def enrol() -> str:
    """A second factor is required and the user has none: offer to set one up now."""
    login = flow.require_pending()
    options = flow.enrollable_second_factors(login.user)
    return render_template("auth/enrol.html", options=options, user=login.user)


@bp.post("/login/cancel")
def cancel() -> Response:
    flow.cancel()
    return redirect(url_for("auth.login"), code=303)


@bp.post("/logout")
def logout() -> Response:
    if current_user.is_authenticated:
        audit.record("logout", f"user:{current_user.id}")
        db.session.commit()
    logout_user()
    session.end()  # type: ignore[attr-defined]  # ServerSession
    return redirect(url_for("auth.login"), code=303)
