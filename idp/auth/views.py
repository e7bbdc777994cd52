"""The login page, the method-neutral submit route, logout, and the signed-in home page."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import gettext
from flask_login import current_user, logout_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from idp import metrics
from idp.abuse import lockout
from idp.auth import flow, recovery
from idp.auth.authenticators import enabled_authenticators, get_enabled, method_for
from idp.auth.method import LoginContext, Role
from idp.auth.pending import requesting_client_id
from idp.errors import NotFound
from idp.extensions import db
from idp.models import OAuthClient
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
            login_hint=session.get("login_hint"),
        )
        parts.append((row, method_for(row).render_login(ctx)))
    return render_template(
        "auth/login.html", parts=parts, failed=failed, client=_requesting_client()
    )


def _requesting_client() -> OAuthClient | None:
    """The relying application this login is for, to show its name and logo."""
    client_id = requesting_client_id()
    if client_id is None:
        return None
    return db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))


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
    if not method.has_role(Role.FIRST_FACTOR):
        raise NotFound(gettext("There is no such way to sign in."))
    ctx = LoginContext(row, ip=client_ip(), user_agent=request.user_agent.string)
    result = method.authenticate(ctx, request.form)
    if not result.ok or result.user is None:
        # The account only when the method knows it; never what was typed (often a password).
        target = f"user:{result.user.id}" if result.user is not None else None
        audit.record("login.failure", target, after={"method": row.name})
        db.session.commit()
        metrics.login_failed(row.name)
        field = result.field or "form"
        values = {
            k: v for k, v in request.form.items() if "password" not in k and k != "csrf_token"
        }
        page = render_login_page(
            row.name, values, {field: result.message or gettext("Sign-in failed.")}
        )
        if result.retry_after is not None:
            return Response(
                page, 429, {"Retry-After": str(result.retry_after)}, mimetype="text/html"
            )
        return page, 200
    return redirect(flow.first_factor_done(result.user, result.amr, row), code=303)


@bp.get("/login/second")
def second_factor() -> Response | str:
    """The second-factor step: each usable method renders its own form."""
    return render_second_factor_page()


def render_second_factor_page(
    failed: str | None = None, errors: dict[str, str] | None = None
) -> Response | str:
    """The second-factor page; a method's route that judged a wrong answer passes its
    authenticator name as *failed* and field -> message as *errors* to show them in place."""
    login = flow.require_pending()
    rows = flow.usable_second_factors(login.user, exclude=login.methods)
    if not rows:
        return redirect(url_for("auth.enrol"))
    parts = []
    for row in rows:
        ctx = LoginContext(
            row, ip=client_ip(), errors=errors if row.name == failed and errors else {}
        )
        parts.append((row, method_for(row).render_second_factor(ctx, login.user)))
    return render_template(
        "auth/second_factor.html",
        parts=parts,
        user=login.user,
        recovery_codes=recovery.remaining(login.user),
    )


@bp.route("/login/recovery", methods=["GET", "POST"])
def recovery_code() -> Response | tuple[str, int]:
    """A recovery code instead of the second factor: used once, and the login is finished."""
    login = flow.require_pending()
    error = None
    key = lockout.account_key(login.user.id)
    if request.method == "POST":
        user = login.user
        lock = lockout.lock_of(key)
        if lock is not None:
            error = lock.error().message
            page = render_template("auth/recovery.html", user=user, error=error)
            return page, lock.error().status
        if recovery.use(user, request.form.get("code", "")):
            audit.record(
                "recovery.used",
                f"user:{user.id}",
                after={"during": "login", "remaining": recovery.remaining(user)},
                actor=user,
            )
            return redirect(flow.second_factor_done((), flow.RECOVERY), code=303)
        audit.record("login.failure", f"user:{user.id}", after={"method": flow.RECOVERY})
        db.session.commit()
        metrics.login_failed(flow.RECOVERY)
        lockout.failed(key, method=flow.RECOVERY)
        error = gettext("That recovery code is not right, or it was used before.")
    page = render_template("auth/recovery.html", user=login.user, error=error)
    return page, 200


@bp.get("/login/enrol")
def enrol() -> str:
    """A second factor is required and the user has none: offer to set one up now."""
    login = flow.require_pending()
    options = flow.enrollable_second_factors(login.user)
    return render_template(
        "auth/enrol.html",
        options=options,
        user=login.user,
        recovery_codes=recovery.remaining(login.user),
    )


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
