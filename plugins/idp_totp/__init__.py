"""Authenticator apps (TOTP, RFC 6238) as a second factor.

Registered in pyproject.toml under ``idp.auth_methods`` as ``totp``, exactly as a third-party
plugin would register itself, and written only against Poort's public modules.

- Enrolment makes a 160-bit secret (``pyotp.random_base32()``), stored through the core's
  credentials (sealed in the secret box at rest), shows it as a QR code (inline SVG made by
  segno: no external image, no script) and as text in groups of four, and is confirmed by a
  first code. The first confirmed second factor of a user brings ten recovery codes.
- Codes are SHA-1, 30-second steps, 6 or 8 digits, checked against the step of the server's
  clock and one step either side (a drift allowance, security.md T2). The step that matched
  is claimed through ``credentials.claim_step``, one conditional UPDATE, so a step accepted
  once (or an earlier one) is refused after, even when two requests race.
- The time is always the app's clock (``idp.state.current().clock``), never the client's.

Attempt counters and lockouts are the core's; this plugin only judges codes. It never logs a
code or a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pyotp
import segno
from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_login import current_user, login_required
from markupsafe import Markup
from werkzeug.wrappers import Response
from wtforms import SelectField, StringField
from wtforms.validators import Length, Optional

from idp import metrics, state
from idp.abuse import lockout
from idp.abuse.errors import NeedsRecovery, SignInLocked
from idp.auth import (
    AuthMethod,
    AuthResult,
    LoginContext,
    Role,
    credentials,
    flow,
    reauth,
    recovery,
    render_part,
)
from idp.auth.authenticators import get_enabled, method_for
from idp.auth.views import render_second_factor_page
from idp.errors import MethodUnavailable, NotFound
from idp.extensions import db
from idp.i18n import translated
from idp.options import OptionsForm
from idp.security import audit

if TYPE_CHECKING:
    from idp.models import Authenticator, Credential, User

METHOD = "totp"
INTERVAL = 30  # seconds per step
WINDOW = 1  # steps accepted either side of the current one
SECRET_CHARS = 32  # base32 characters: 160 bits
#: An unconfirmed enrolment is shown again on reload for this long, then a new secret is made.
ENROL_LIFETIME = timedelta(minutes=10)
WRONG = lazy_gettext(
    "That code is not right, or it was used already. Wait for the next code and try again."
)
#: The method's title, kept as written on new authenticators; pages show it translated
#: (the ``translated`` filter), so the catalogues need it.
TITLE = lazy_gettext("Authenticator app")


class TotpOptions(OptionsForm):
    issuer = StringField(
        lazy_gettext("Name shown in the authenticator app"),
        validators=[Optional(), Length(max=60)],
        description=lazy_gettext("Empty means the site name."),
    )
    digits = SelectField(
        lazy_gettext("Digits per code"),
        choices=["6", "8"],
        default="6",
        description=lazy_gettext(
            "6 works with every app; a user keeps the length they enrolled with."
        ),
    )


# -- codes ------------------------------------------------------------------------------------


def normalise_code(code: str) -> str:
    """Digits only: people type "123 456" or paste "123-456"."""
    return "".join(ch for ch in (code or "") if ch not in " -\u00a0\t")[:16]


def matching_step(secret: str, code: str, digits: int, at: datetime) -> int | None:
    """The time step within the window whose code is *code*, or None."""
    totp = pyotp.TOTP(secret, digits=digits, interval=INTERVAL)
    current = totp.timecode(at.timestamp())
    match = None
    for step in range(current - WINDOW, current + WINDOW + 1):
        # Compare every step, in constant time, so the time taken says nothing.
        if pyotp.utils.strings_equal(code, totp.generate_otp(step)) and match is None:
            match = step
    return match


def digits_of(credential: Credential) -> int:
    return int((credential.data or {}).get("digits", 6))


def check_code(credential: Credential, code: str) -> bool:
    """Whether *code* is right for *credential* now and its step was not used before.

    A success claims the step (the caller commits).
    """
    code = normalise_code(code)
    digits = digits_of(credential)
    if len(code) != digits or not code.isascii() or not code.isdigit():
        return False
    secret = credentials.secret_of(credential)
    if not secret:
        return False
    step = matching_step(secret, code, digits, state.current().clock())
    return step is not None and credentials.claim_step(credential, step)


def grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def qr_svg(uri: str) -> Markup:
    """The otpauth URI as an inline SVG QR code (segno writes only paths: safe to embed)."""
    svg = segno.make(uri, error="m").svg_inline(
        scale=4, dark="#000", light="#fff", title=gettext("QR code for your authenticator app")
    )
    return Markup(svg)  # noqa: S704 - generated by segno from our own URI, no user markup


# -- the method -------------------------------------------------------------------------------


class TotpMethod(AuthMethod):
    name = METHOD
    title = "Authenticator app"
    roles = frozenset({Role.SECOND_FACTOR})
    amr = ("otp",)
    options_form = TotpOptions
    blueprint = Blueprint("idp_totp", __name__, template_folder="templates")
    #: The second step's code form: never shed while a login waits for it.
    sign_in_endpoints = frozenset({"verify"})

    @property
    def digits(self) -> int:
        return int(self.options.get("digits") or 6)

    @property
    def issuer(self) -> str:
        return str(self.options.get("issuer") or state.settings().site_name)

    def render_login(self, ctx: LoginContext) -> Markup:
        raise MethodUnavailable(
            gettext("%(method)s is only a second factor.", method=translated(self.title))
        )

    def can_be_second_factor(self, user: User) -> bool:
        return credentials.get(user, METHOD) is not None

    def render_second_factor(self, ctx: LoginContext, user: User) -> Markup:
        credential = credentials.get(user, METHOD)
        digits = digits_of(credential) if credential is not None else self.digits
        return render_part(
            "idp_totp/second_factor.html",
            authenticator=self.authenticator,
            digits=digits,
            errors=ctx.errors,
        )

    def can_confirm(self, user: User) -> bool:
        return credentials.get(user, METHOD) is not None

    def render_confirm(self, user: User, next_url: str, error: str | None = None) -> Markup:
        return render_part(
            "idp_totp/confirm.html",
            authenticator=self.authenticator,
            next_url=next_url,
            error=error,
        )

    def confirm(self, user: User, form: Mapping[str, str]) -> AuthResult:
        credential = credentials.get(user, METHOD)
        if credential is not None and check_code(credential, form.get("code", "")):
            return AuthResult.success(user, self.amr)
        return AuthResult.failure(str(WRONG), field="code")

    def enrolment_url(self, user: User) -> str | None:
        if credentials.get(user, METHOD) is not None:
            return None
        return url_for("idp_totp.enrol", name=self.authenticator.name)

    def render_account(self, user: User) -> Markup | None:
        return render_part(
            "idp_totp/account.html",
            authenticator=self.authenticator,
            credential=credentials.get(user, METHOD),
        )


# -- routes -----------------------------------------------------------------------------------

bp = TotpMethod.blueprint
assert bp is not None


def _authenticator(name: str) -> tuple[Authenticator, TotpMethod]:
    row = get_enabled(name)
    method = method_for(row)
    if not isinstance(method, TotpMethod):
        raise NotFound(gettext("There is no such way to sign in."))
    return row, method


def _label(user: User) -> str:
    return user.username or user.email or user.phone or user.display_name


def _unconfirmed(user: User) -> Credential | None:
    """The user's enrolment in progress, unless it is too old to show again."""
    credential = credentials.get(user, METHOD, confirmed=False)
    if credential is None or credential.confirmed_at is not None:
        return None
    if state.current().clock() - credential.created_at > ENROL_LIFETIME:
        return None
    return credential


@bp.route("/<name>/enrol", methods=["GET", "POST"])
def enrol(name: str) -> Response:
    """Set up an authenticator app: scan, type the first code, done.

    Open to a signed-in user with a fresh proof (see ``idp.auth.reauth``), and to a pending
    login that must set up a second factor (confirming then finishes the login).
    """
    row, method = _authenticator(name)
    user = flow.enrolling_user()
    if user is None:
        return redirect(url_for("auth.login"), code=303)
    signed_in = current_user.is_authenticated
    if signed_in and not reauth.fresh():
        flash(gettext("Confirm it's you first."), "warning")
        return redirect(reauth.confirm_url(url_for("idp_totp.enrol", name=name)), code=303)
    if credentials.get(user, METHOD) is not None:
        flash(gettext("Your authenticator app is set up already."), "success")
        return redirect(url_for("account.index" if signed_in else "auth.second_factor"), code=303)

    credential = _unconfirmed(user)
    error = None
    if request.method == "POST":
        if credential is None:
            flash(gettext("That setup expired. Scan this new code instead."), "warning")
            return redirect(url_for("idp_totp.enrol", name=name), code=303)
        if check_code(credential, request.form.get("code", "")):
            credentials.confirm(credential)
            audit.record(
                "totp.enrolled", f"user:{user.id}", after={"authenticator": row.name}, actor=user
            )
            codes = recovery.issue_if_first(user)
            if signed_in:
                db.session.commit()
                flash(gettext("Your authenticator app is set up."), "success")
                then = url_for("account.index")
            else:
                then = flow.second_factor_done(method.amr, row)  # commits
            if codes:
                then = recovery.show_once(codes, then=then)
            return redirect(then, code=303)
        error = str(WRONG)
    elif credential is None:
        secret = pyotp.random_base32(length=SECRET_CHARS)
        credential = credentials.begin(
            user, METHOD, secret, data={"digits": method.digits, "issuer": method.issuer}
        )
        db.session.commit()

    secret = credentials.secret_of(credential) or ""
    digits = digits_of(credential)
    issuer = str((credential.data or {}).get("issuer") or method.issuer)
    uri = pyotp.TOTP(secret, digits=digits, interval=INTERVAL).provisioning_uri(
        name=_label(user), issuer_name=issuer
    )
    response = make_response(
        render_template(
            "idp_totp/enrol.html",
            authenticator=row,
            qr=qr_svg(uri),
            secret=grouped(secret),
            digits=digits,
            issuer=issuer,
            error=error,
            signed_in=signed_in,
        )
    )
    response.headers["Cache-Control"] = "no-store"  # the page holds the secret
    return response


@bp.post("/<name>/verify")
def verify(name: str) -> Response | tuple[str, int]:
    """The second step of a login: the code from the app."""
    row, method = _authenticator(name)
    login = flow.require_pending()
    credential = credentials.get(login.user, METHOD)
    if METHOD in login.methods or credential is None:
        raise MethodUnavailable(gettext("Your authenticator app cannot be used for this sign-in."))
    key = lockout.account_key(login.user.id)
    try:
        lockout.ensure_unlocked(key)
    except (SignInLocked, NeedsRecovery) as exc:
        locked = render_second_factor_page(failed=row.name, errors={"code": exc.message})
        if isinstance(locked, Response):
            return locked
        response = Response(locked, exc.status, mimetype="text/html")
        if isinstance(exc, SignInLocked):  # like every other lock: say when to try again
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if check_code(credential, request.form.get("code", "")):
        return redirect(flow.second_factor_done(method.amr, row), code=303)
    audit.record(
        "login.failure", f"user:{login.user.id}", after={"method": row.name, "step": "second"}
    )
    db.session.commit()
    metrics.login_failed(row.name)
    lockout.failed(key, method=row.name)
    page = render_second_factor_page(failed=row.name, errors={"code": str(WRONG)})
    if isinstance(page, Response):
        return page
    return page, 200


@bp.post("/<name>/remove")
@login_required
def remove(name: str) -> Response:
    """Remove the app: needs a fresh proof with another factor, never the last required one."""
    row, _ = _authenticator(name)
    user: User = current_user._get_current_object()  # noqa: SLF001 - a real row, not the proxy
    refused = reauth.removal_refused(user, METHOD)
    if refused:
        flash(refused, "error")
        return redirect(url_for("account.index"), code=303)
    if not reauth.fresh(other_than=METHOD):
        flash(gettext("Confirm it's you first."), "warning")
        return redirect(reauth.confirm_url(url_for("account.index")), code=303)
    if credentials.remove(user, METHOD):
        audit.record("totp.removed", f"user:{user.id}", after={"authenticator": row.name})
        db.session.commit()
        flash(gettext("Your authenticator app is removed."), "success")
    return redirect(url_for("account.index"), code=303)
