"""Adding or changing the phone number: the new number must prove itself with a code.

Two ways in: a signed-in user on the account page (after a fresh proof that it is them), and
a user in the middle of a login who must have a second factor and has none (forced
enrolment; confirming the number then finishes the login, with SMS as the second factor).
When a verified number is replaced, the old number gets a notice, best effort.
"""

from __future__ import annotations

import logging

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from idp import state
from idp.abuse.errors import SendingPaused
from idp.auth import Role, flow, reauth
from idp.errors import IdpError, NotFound, RateLimited
from idp.extensions import db
from idp.models import Authenticator, User
from idp.security import audit
from idp.sms.errors import SmsError
from idp.sms.phone import InvalidPhoneNumber, mask
from idp.verification import dispatch
from idp.verification.challenges import Purpose
from idp.verification.messages import request_language, site_host
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
from idp_sms.numbers import example_number, screen

log = logging.getLogger(__name__)

KIND = "phone"
IN_USE = lazy_gettext("This number belongs to another account. Use another number.")
ALREADY_YOURS = lazy_gettext("This is your number already.")
NOTICE = {
    "en": "The phone number of your {app} account was changed to {masked}. "
    "If this wasn't you, contact the {app} administrators at {host} right away.",
    "nl": "Het telefoonnummer van je {app}-account is gewijzigd in {masked}. "
    "Was jij dit niet? Neem dan direct contact op met de beheerders van {app} via {host}.",
}


def _who(method: SmsMethod, *, need_fresh: bool = True) -> tuple[User, bool] | Response:
    """Who adds a number, and whether inside a login; or where to go instead.

    A signed-in user starts only with a fresh proof that it is them; the code that follows
    may take a few minutes to arrive and be typed, so it does not ask again.
    """
    user = flow.enrolling_user()
    if user is None:
        return redirect(url_for("auth.login"), code=303)
    in_flow = not current_user.is_authenticated
    if in_flow and not method.has_role(Role.SECOND_FACTOR):
        raise NotFound(gettext("There is no such way to sign in."))
    if not in_flow and need_fresh and not reauth.fresh():
        next_url = url_for("idp_sms.phone", name=method.authenticator.name)
        return redirect(reauth.confirm_url(next_url), code=303)
    return user, in_flow


def _done_url() -> str:
    if "account.index" in current_app.view_functions:
        return url_for("account.index")
    return url_for("auth.home")


def _phone_page(
    row: Authenticator,
    method: SmsMethod,
    user: User,
    in_flow: bool,
    *,
    error: str | None = None,
    value: str = "",
    status: int = 200,
    retry_after: int | None = None,
) -> Response:
    page = render_template(
        "idp_sms/phone.html",
        authenticator=row,
        user=user,
        in_flow=in_flow,
        verified=bool(user.phone and user.phone_verified_at),
        masked=mask(user.phone),
        available=method.resolution().available,
        unavailable=UNAVAILABLE,
        example=example_number(),
        error=str(error) if error else None,
        value=value[:40],
        back=_done_url(),
    )
    response = Response(page, status=status, mimetype="text/html")
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _code_page(
    pending: Pending,
    in_flow: bool,
    error: str | None = None,
    status: int = 200,
    retry_after: int | None = None,
) -> Response:
    return code_page(
        pending,
        title=gettext("Confirm your number"),
        submit=gettext("Confirm"),
        restart=True,
        cancel=in_flow,
        error=error,
        status=status,
        retry_after=retry_after,
    )


@bp.route("/<name>/phone", methods=["GET", "POST"])
def phone(name: str) -> Response:
    """Add or change the phone number: send a code to the new number."""
    row, method = sms_authenticator(name)
    who = _who(method)
    if isinstance(who, Response):
        return who
    user, in_flow = who
    if request.method == "GET":
        return _phone_page(row, method, user, in_flow)
    raw = request.form.get("phone", "")

    def again(message: str, status: int, retry_after: int | None = None) -> Response:
        return _phone_page(
            row, method, user, in_flow, error=message, value=raw, status=status,
            retry_after=retry_after,
        )  # fmt: skip

    if not method.resolution().available:
        return again(UNAVAILABLE, 503)
    try:
        number = screen(raw, method.regions)
    except InvalidPhoneNumber as exc:
        return again(exc.message, 400)
    verified = bool(user.phone and user.phone_verified_at)
    if number == user.phone and verified:
        return again(ALREADY_YOURS, 400)
    taken = db.session.scalar(select(User.id).where(User.phone == number, User.id != user.id))
    if taken is not None:
        return again(IN_USE, 409)
    purpose = Purpose.PHONE_CHANGE if verified else Purpose.ENROLMENT
    try:
        send_code(
            method,
            kind=KIND,
            purpose=purpose,
            phone=number,
            user_id=user.id,
            context={"phone": number},
        )
    except RateLimited as exc:
        current = load(KIND, name)
        if current is not None and current.user_id == user.id and current.phone == number:
            return redirect(url_for("idp_sms.phone_code", name=name), code=303)
        return again(exc.user_message(), 429, exc.retry_after)
    except IdpError as exc:
        return again(*refusal(exc))
    return redirect(url_for("idp_sms.phone_code", name=name), code=303)


@bp.route("/<name>/phone/code", methods=["GET", "POST"])
def phone_code(name: str) -> Response:
    row, method = sms_authenticator(name)
    who = _who(method, need_fresh=False)
    if isinstance(who, Response):
        return who
    user, in_flow = who
    pending = load(KIND, name)
    if pending is None or pending.user_id != user.id:
        forget(KIND)
        return redirect(url_for("idp_sms.phone", name=name), code=303)
    if request.method == "GET":
        return _code_page(pending, in_flow)
    try:
        result = check_code(pending, request.form.get("code", ""))
    except CODE_REFUSALS as exc:
        return _code_page(
            pending,
            in_flow,
            error=exc.message,
            status=exc.status,
            retry_after=getattr(exc, "retry_after", None),
        )
    if not result.ok:
        return _code_page(pending, in_flow, error=result.message, status=400)
    context = result.challenge.context if result.challenge is not None else {}
    if (context or {}).get("phone") != pending.phone:
        db.session.rollback()
        forget(KIND)
        return _phone_page(
            row, method, user, in_flow, error=gettext("Please start again."), status=400
        )

    old, old_verified = user.phone, user.phone_verified_at is not None
    user.phone = pending.phone
    user.phone_verified_at = state.current().clock()
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        forget(KIND)
        return _phone_page(row, method, user, in_flow, error=IN_USE, status=409)
    changed = bool(old and old_verified and old != user.phone)
    audit.record(
        "phone.change" if changed else "phone.enrol",
        f"user:{user.id}",
        before={"phone": mask(old)} if old else None,
        after={"phone": mask(user.phone), "authenticator": row.name},
        actor=user,
    )
    forget(KIND)
    new = user.phone
    if in_flow:
        url = flow.second_factor_done(method.amr, row)
    else:
        db.session.commit()
        flash(gettext("Your phone number is now %(number)s.", number=mask(new)), "success")
        url = _done_url()
    if changed and old:
        notify_old_number(method, old, new)
    return redirect(url, code=303)


@bp.post("/<name>/phone/resend")
def phone_resend(name: str) -> Response:
    row, method = sms_authenticator(name)
    who = _who(method, need_fresh=False)
    if isinstance(who, Response):
        return who
    user, in_flow = who
    pending = load(KIND, name)
    if pending is None or pending.user_id != user.id:
        return redirect(url_for("idp_sms.phone", name=name), code=303)
    try:
        send_code(
            method,
            kind=KIND,
            purpose=Purpose(pending.purpose),
            phone=pending.phone,
            user_id=user.id,
            context={"phone": pending.phone},
        )
    except RateLimited as exc:
        return _code_page(
            pending, in_flow, error=exc.user_message(), status=429, retry_after=exc.retry_after
        )
    except IdpError as exc:
        message, status, retry_after = refusal(exc)
        return _code_page(pending, in_flow, error=message, status=status, retry_after=retry_after)
    flash(gettext("We sent a new code. Use the code from the latest message."), "success")
    return redirect(url_for("idp_sms.phone_code", name=name), code=303)


@bp.post("/<name>/phone/restart")
def phone_restart(name: str) -> Response:
    """Use another number."""
    forget(KIND)
    return redirect(url_for("idp_sms.phone", name=name), code=303)


def notify_old_number(method: SmsMethod, old: str, new: str) -> None:
    """Tell the old number it was replaced: best effort, never undoing the change."""
    settings = state.current().settings
    text = NOTICE.get(request_language(), NOTICE["en"]).format(
        app=settings.site_name, masked=mask(new), host=site_host() or settings.site_name
    )
    try:
        dispatch.send(
            method.resolution(), recipient=old, text=text, purpose=str(Purpose.PHONE_CHANGE)
        )
    except (SmsError, SendingPaused) as exc:
        log.warning("phone-change notice to %s not sent: %s", mask(old), exc.code)
    else:
        log.info("phone-change notice sent to %s", mask(old))
