"""The account page and its forms: confirm it's you, recovery codes, sessions."""

from __future__ import annotations

from flask import flash, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext
from flask_login import current_user, logout_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from idp import state
from idp.account import bp
from idp.auth import flow, reauth, recovery
from idp.auth.authenticators import enabled_authenticators, method_for
from idp.auth.method import AuthMethod, Role
from idp.auth.sessions import live_conditions, revoke_sessions
from idp.errors import InvalidInput
from idp.extensions import db
from idp.models import AuditEvent, Authenticator, User, UserSession
from idp.security import audit
from idp.security.redirects import safe_next
from idp.sms.phone import mask

#: How many sign-ins the page lists.
RECENT_LOGINS = 10
LOGIN_EVENTS = ("login.success", "login.failure")


def _user() -> User:
    user: User = current_user._get_current_object()  # noqa: SLF001 - a real row, not the proxy
    return user


def _target(user: User) -> str:
    return f"user:{user.id}"


def _next() -> str:
    return safe_next(request.values.get("next")) or url_for("account.index")


@bp.get("")
def index() -> str:
    user = _user()
    now = state.current().clock()
    factors = []
    rows = {row.id: row for role in Role for row in enabled_authenticators(role)}
    for row in sorted(rows.values(), key=lambda r: (r.position, r.id)):
        html = method_for(row).render_account(user)
        if html is not None:
            factors.append((row, html))
    sessions = db.session.scalars(
        select(UserSession)
        .where(UserSession.user_id == user.id, *live_conditions(now))
        .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
    ).all()
    logins = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action.in_(LOGIN_EVENTS), AuditEvent.target == _target(user))
        .order_by(AuditEvent.id.desc())
        .limit(RECENT_LOGINS)
    ).all()
    return render_template(
        "account/index.html",
        user=user,
        phone=mask(user.phone),
        factors=factors,
        has_second_factor=bool(flow.usable_second_factors(user)),
        recovery_left=recovery.remaining(user),
        sessions=sessions,
        this_session=getattr(session, "row_id", None),
        logins=logins,
        fresh=reauth.fresh(),
    )


# -- confirm it's you -------------------------------------------------------------------------


def _confirmers(user: User) -> list[tuple[Authenticator, AuthMethod]]:
    """The user's enabled methods that can take a fresh proof on the confirm page, one
    authenticator per method, in the admin's order."""
    rows = {row.id: row for role in Role for row in enabled_authenticators(role)}
    found: dict[str, tuple[Authenticator, AuthMethod]] = {}
    for row in sorted(rows.values(), key=lambda r: (r.position, r.id)):
        if row.method not in found:
            method = method_for(row)
            if method.can_confirm(user):
                found[row.method] = (row, method)
    return list(found.values())


@bp.route("/confirm", methods=["GET", "POST"])
def confirm() -> Response | tuple[str, int]:
    """A fresh proof: with one of the user's methods that offers one (through the AuthMethod
    contract: a password, an app code...), or a recovery code (see :mod:`idp.auth.reauth`)."""
    user = _user()
    next_url = _next()
    confirmers = _confirmers(user)
    errors: dict[str, str] = {}
    if request.method == "POST":
        way = request.form.get("with")
        chosen = next(
            (c for c in confirmers if way in (c[0].name, c[0].method)), None
        )  # the authenticator's name; its method id is accepted too
        if chosen is not None:
            row, method_impl = chosen
            method = row.method
            result = method_impl.confirm(user, request.form)
            ok = result.ok
            message = result.message or gettext("That is not right.")
            error_key = row.name
        elif way == reauth.RECOVERY:
            method = error_key = reauth.RECOVERY
            ok = recovery.use(user, request.form.get("code", ""))
            message = gettext("That recovery code is not right, or it was used before.")
            if ok:
                audit.record(
                    "recovery.used",
                    _target(user),
                    after={"during": "confirm", "remaining": recovery.remaining(user)},
                )
        else:
            raise InvalidInput(gettext("Choose how to confirm it's you."), field="with")
        if ok:
            reauth.record(method)
            audit.record("reauth.success", _target(user), after={"with": method})
            db.session.commit()
            flash(
                gettext("Thank you. You can change how you sign in for the next 5 minutes."),
                "success",
            )
            return redirect(next_url, code=303)
        audit.record("reauth.failure", _target(user), after={"with": method})
        db.session.commit()
        errors[error_key] = message
    parts = [
        method_impl.render_confirm(user, next_url, errors.get(row.name))
        for row, method_impl in confirmers
    ]
    page = render_template(
        "account/confirm.html",
        user=user,
        next_url=next_url,
        parts=parts,
        recovery_left=recovery.remaining(user),
        errors=errors,
    )
    return page, 200


@bp.post("/confirm/sign-in-again")
def sign_in_again() -> Response:
    """End this session and sign in anew; the new login counts as a fresh proof."""
    next_url = _next()
    audit.record("logout", _target(_user()), after={"reason": "confirm"})
    db.session.commit()
    logout_user()
    session.end()  # type: ignore[attr-defined]  # ServerSession
    return redirect(url_for("auth.login", next=next_url), code=303)


# -- recovery codes ---------------------------------------------------------------------------


@bp.get("/recovery-codes")
def recovery_codes() -> Response:
    """New recovery codes, shown once: reloading the page does not show them again."""
    shown = recovery.take_shown()
    if shown is None:
        flash(gettext("Recovery codes are shown only once, when they are made."), "warning")
        return redirect(url_for("account.index"), code=303)
    codes, then = shown
    response = make_response(
        render_template(
            "account/recovery_codes.html", codes=codes, then=then or url_for("account.index")
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/recovery-codes")
def regenerate_recovery_codes() -> Response:
    """Replace every recovery code with ten new ones (needs a fresh proof)."""
    user = _user()
    if not reauth.fresh():
        flash(gettext("Confirm it's you first."), "warning")
        return redirect(reauth.confirm_url(url_for("account.index")), code=303)
    before = recovery.remaining(user)
    codes = recovery.regenerate(user)
    audit.record(
        "recovery.regenerated",
        _target(user),
        before={"remaining": before},
        after={"remaining": len(codes)},
    )
    db.session.commit()
    return redirect(recovery.show_once(codes, then=url_for("account.index")), code=303)


# -- sessions ---------------------------------------------------------------------------------


@bp.post("/sessions/sign-out-others")
def sign_out_others() -> Response:
    """Revoke every other live session of this user; this one stays."""
    user = _user()
    current_row = getattr(session, "row_id", None)
    conditions = [UserSession.user_id == user.id]
    if current_row is not None:
        conditions.append(UserSession.id != current_row)
    count = revoke_sessions(*conditions, now=state.current().clock())
    audit.record("sessions.signed_out_others", _target(user), after={"count": count})
    db.session.commit()
    flash(
        gettext("You are signed out everywhere else.")
        if count
        else gettext("There were no other sessions."),
        "success",
    )
    return redirect(url_for("account.index"), code=303)
