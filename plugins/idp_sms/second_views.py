"""SMS as the second factor, the OpenWave and AFAS way: after the password, a code to the
user's verified phone."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from idp import metrics
from idp.auth import Role, flow
from idp.auth.views import render_second_factor_page
from idp.errors import IdpError, MethodUnavailable, RateLimited
from idp.extensions import db
from idp.security import audit
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
from idp_sms.method import UNAVAILABLE, SmsMethod

KIND = "second"


def _page(
    pending: Pending, error: str | None = None, status: int = 200, retry_after: int | None = None
) -> Response:
    return code_page(
        pending,
        title=gettext("Enter the code"),
        submit=gettext("Confirm"),
        cancel=True,
        error=error,
        status=status,
        retry_after=retry_after,
    )


def _second_factor_error(
    name: str, message: str, status: int, retry_after: int | None = None
) -> Response:
    page = render_second_factor_page(name, {"form": str(message)})
    if isinstance(page, Response):  # nothing to choose from any more
        return page
    response = Response(page, status=status, mimetype="text/html")
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _pending_login(method: SmsMethod) -> flow.PendingLogin:
    login = flow.require_pending()
    if method.name in login.methods or not method.can_be_second_factor(login.user):
        raise MethodUnavailable(gettext("A text message cannot be your second step here."))
    return login


def _phone(login: flow.PendingLogin) -> str:
    """The pending user's verified number; a user without one cannot take this step."""
    if login.user.phone is None:
        raise MethodUnavailable(gettext("A text message cannot be your second step here."))
    return login.user.phone


@bp.post("/<name>/second")
def second_send(name: str) -> Response:
    """Send a code to the pending user's verified phone."""
    row, method = sms_authenticator(name, Role.SECOND_FACTOR)
    login = _pending_login(method)
    if not method.resolution().available:
        return _second_factor_error(name, UNAVAILABLE, 503)
    user = login.user
    try:
        send_code(
            method, kind=KIND, purpose=Purpose.SECOND_FACTOR, phone=_phone(login), user_id=user.id
        )
    except RateLimited as exc:
        current = load(KIND, name)
        if current is not None and current.user_id == user.id:
            return redirect(url_for("idp_sms.second_code", name=name), code=303)
        return _second_factor_error(name, exc.user_message(), 429, exc.retry_after)
    except IdpError as exc:
        return _second_factor_error(name, *refusal(exc))
    return redirect(url_for("idp_sms.second_code", name=name), code=303)


def _current(name: str, method: SmsMethod) -> tuple[flow.PendingLogin, Pending | None]:
    login = _pending_login(method)
    pending = load(KIND, name)
    if pending is not None and pending.user_id != login.user.id:
        forget(KIND)
        pending = None
    return login, pending


@bp.route("/<name>/second/code", methods=["GET", "POST"])
def second_code(name: str) -> Response:
    row, method = sms_authenticator(name, Role.SECOND_FACTOR)
    login, pending = _current(name, method)
    if pending is None:
        return redirect(url_for("auth.second_factor"), code=303)
    if request.method == "GET":
        return _page(pending)
    try:
        result = check_code(pending, request.form.get("code", ""))
    except CODE_REFUSALS as exc:
        return _page(
            pending,
            error=exc.message,
            status=exc.status,
            retry_after=getattr(exc, "retry_after", None),
        )
    if not result.ok:
        audit.record(
            "login.failure",
            f"user:{login.user.id}",
            after={"method": row.name, "reason": str(result.outcome)},
        )
        db.session.commit()
        metrics.login_failed(row.name)
        return _page(pending, error=result.message, status=400)
    forget(KIND)
    return redirect(flow.second_factor_done(method.amr, row), code=303)


@bp.post("/<name>/second/resend")
def second_resend(name: str) -> Response:
    row, method = sms_authenticator(name, Role.SECOND_FACTOR)
    login, pending = _current(name, method)
    if pending is None:
        return redirect(url_for("auth.second_factor"), code=303)
    try:
        send_code(
            method,
            kind=KIND,
            purpose=Purpose.SECOND_FACTOR,
            phone=_phone(login),
            user_id=login.user.id,
        )
    except RateLimited as exc:
        return _page(pending, error=exc.user_message(), status=429, retry_after=exc.retry_after)
    except IdpError as exc:
        message, status, retry_after = refusal(exc)
        return _page(pending, error=message, status=status, retry_after=retry_after)
    flash(gettext("We sent a new code. Use the code from the latest message."), "success")
    return redirect(url_for("idp_sms.second_code", name=name), code=303)
