"""Signing in (and signing up) with a phone number and a texted code: the first factor.

An unknown number, with sign-up off and the default setting, is answered exactly like a
known one: a challenge is issued and counted the same way, but no text is sent, so nothing
is spent and nothing tells the two apart.
"""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_babel import gettext, lazy_gettext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from idp import metrics, state
from idp.abuse import lockout
from idp.abuse.errors import NeedsRecovery, SignInLocked
from idp.auth import Role, flow
from idp.auth.views import render_login_page
from idp.errors import IdpError, RateLimited
from idp.extensions import db
from idp.models import User
from idp.security import audit
from idp.sms.phone import InvalidPhoneNumber, mask
from idp.verification.challenges import Purpose
from idp_sms.blueprint import bp
from idp_sms.codes import (
    CODE_REFUSALS,
    Pending,
    check_code,
    code_page,
    forget,
    load,
    refusal,
    send_code,
    sms_authenticator,
)
from idp_sms.method import UNAVAILABLE
from idp_sms.numbers import screen

KIND = "login"
NOT_REGISTERED = lazy_gettext(
    "This number has no account here. Check the number, or sign in another way."
)
TAKEN_MEANWHILE = lazy_gettext(
    "This number was registered a moment ago, in another sign-up. Sign in with it instead."
)
START_AGAIN = lazy_gettext("Your code request has ended. Enter your phone number again.")


def _login_error(
    name: str, phone: str, message: str, status: int, retry_after: int | None = None
) -> Response:
    page = render_login_page(name, {"phone": phone[:40]}, {"phone": str(message)})
    response = Response(page, status=status, mimetype="text/html")
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _page(
    pending: Pending, error: str | None = None, status: int = 200, retry_after: int | None = None
) -> Response:
    return code_page(
        pending,
        title=gettext("Enter the code"),
        submit=gettext("Sign in"),
        restart=True,
        error=error,
        status=status,
        retry_after=retry_after,
    )


def _account_target(pending: Pending) -> str | None:
    """The audit target of a failed code: the account a real code went to, else nothing.

    A sign-up, or a number without an account (withheld), has no account; its number, typed
    by whoever, is not recorded.
    """
    if pending.withheld or pending.purpose != Purpose.LOGIN:
        return None
    user_id = db.session.scalar(select(User.id).where(User.phone == pending.phone))
    return f"user:{user_id}" if user_id is not None else None


def _start_again(name: str) -> Response:
    forget(KIND)
    flash(str(START_AGAIN), "error")
    return redirect(url_for("auth.login"), code=303)


@bp.post("/<name>/login")
def login_start(name: str) -> Response:
    """The phone number from the login page: send a code and ask for it."""
    row, method = sms_authenticator(name, Role.FIRST_FACTOR)
    raw = request.form.get("phone", "")
    if not method.resolution().available:
        return _login_error(name, raw, UNAVAILABLE, 503)
    try:
        phone = screen(raw, method.regions)
    except InvalidPhoneNumber as exc:
        return _login_error(name, raw, exc.message, 400)
    user = db.session.scalar(select(User).where(User.phone == phone))
    known = user.id if user is not None and user.active else None
    try:
        lockout.ensure_unlocked(lockout.subject_key(known, "phone", phone))
    except (SignInLocked, NeedsRecovery) as exc:
        return _login_error(name, raw, *refusal(exc))
    withheld = False
    if user is not None and user.active:
        purpose = Purpose.LOGIN
    elif user is None and method.allow_signup:
        purpose = Purpose.SIGNUP
    elif user is None and method.reveal_unknown:
        return _login_error(name, raw, NOT_REGISTERED, 400)
    else:  # unknown (sign-up off) or switched off: look the same as a known number
        purpose, withheld = Purpose.LOGIN, True
    try:
        send_code(
            method,
            kind=KIND,
            purpose=purpose,
            phone=phone,
            withheld=withheld,
            after_answer=True,
        )
    except RateLimited as exc:
        current = load(KIND, name)
        if current is not None and current.phone == phone:
            return redirect(url_for("idp_sms.login_code", name=name), code=303)
        return _login_error(name, raw, exc.user_message(), 429, exc.retry_after)
    except IdpError as exc:
        return _login_error(name, raw, *refusal(exc))
    return redirect(url_for("idp_sms.login_code", name=name), code=303)


@bp.route("/<name>/login/code", methods=["GET", "POST"])
def login_code(name: str) -> Response:
    row, method = sms_authenticator(name, Role.FIRST_FACTOR)
    pending = load(KIND, name)
    if pending is None:
        return _start_again(name)
    if request.method == "GET":
        return _page(pending)
    try:
        result = check_code(pending, request.form.get("code", ""))
    except CODE_REFUSALS as exc:
        return _page(pending, exc.message, exc.status, getattr(exc, "retry_after", None))
    if not result.ok:
        audit.record(
            "login.failure",
            _account_target(pending),
            after={"method": row.name, "reason": str(result.outcome)},
        )
        db.session.commit()
        metrics.login_failed(row.name)
        return _page(pending, error=result.message, status=400)

    now = state.current().clock()
    if pending.purpose == Purpose.SIGNUP:
        # One transaction: the consumed code, the new account and its audit record.
        user = User(nickname=pending.phone, phone=pending.phone, phone_verified_at=now)
        db.session.add(user)
        try:
            db.session.flush()
        except IntegrityError:
            db.session.rollback()
            forget(KIND)
            return _login_error(name, pending.phone, TAKEN_MEANWHILE, 409)
        audit.record(
            "user.signup",
            f"user:{user.id}",
            after={"phone": mask(user.phone), "authenticator": row.name},
            actor=user,
        )
    else:
        found = db.session.scalar(select(User).where(User.phone == pending.phone))
        if found is None or not found.active:
            db.session.rollback()
            if found is not None:  # switched off after the code was sent
                audit.record(
                    "login.failure",
                    f"user:{found.id}",
                    after={"method": row.name, "reason": "inactive"},
                )
                db.session.commit()
                metrics.login_failed(row.name)
            return _start_again(name)
        user = found
        if user.phone_verified_at is None:
            user.phone_verified_at = now
    forget(KIND)
    return redirect(flow.first_factor_done(user, method.amr, row), code=303)


@bp.post("/<name>/login/resend")
def login_resend(name: str) -> Response:
    row, method = sms_authenticator(name, Role.FIRST_FACTOR)
    pending = load(KIND, name)
    if pending is None:
        return _start_again(name)
    try:
        pending = send_code(
            method,
            kind=KIND,
            purpose=Purpose(pending.purpose),
            phone=pending.phone,
            withheld=pending.withheld,
            after_answer=True,
        )
    except RateLimited as exc:
        return _page(pending, error=exc.user_message(), status=429, retry_after=exc.retry_after)
    except IdpError as exc:
        message, status, retry_after = refusal(exc)
        return _page(pending, error=message, status=status, retry_after=retry_after)
    flash(gettext("We sent a new code. Use the code from the latest message."), "success")
    return redirect(url_for("idp_sms.login_code", name=name), code=303)


@bp.post("/<name>/login/restart")
def login_restart(name: str) -> Response:
    """Use another number: forget the pending code and go back to the login page."""
    forget(KIND)
    return redirect(url_for("auth.login"), code=303)
