"""Sign in with a username or e-mail address and a password.

Registered in pyproject.toml under ``idp.auth_methods`` as ``password``, exactly as a
third-party plugin would register itself.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Blueprint
from flask_babel import gettext, lazy_gettext
from markupsafe import Markup
from sqlalchemy import or_, select
from wtforms import BooleanField

from idp import state
from idp.abuse import lockout
from idp.abuse.errors import NeedsRecovery, SignInLocked
from idp.auth import AuthMethod, AuthResult, LoginContext, Role, render_part
from idp.extensions import db
from idp.models import User
from idp.options import OptionsForm

# Same words whether the account is unknown, inactive, or the password is wrong. In English,
# as tests and callers compare it; the page shows it translated (failed_message).
FAILED = "Wrong username, e-mail address or password."
#: The method's title, kept as written on new authenticators; pages show it translated
#: (the ``translated`` filter), so the catalogues need it.
TITLE = lazy_gettext("Password")


def failed_message() -> str:
    """:data:`FAILED` in the person's language."""
    return gettext("Wrong username, e-mail address or password.")


class PasswordOptions(OptionsForm):
    allow_email = BooleanField(
        lazy_gettext("Accept the e-mail address as well as the username"), default=True
    )


class PasswordMethod(AuthMethod):
    name = "password"
    title = "Password"
    roles = frozenset({Role.FIRST_FACTOR})
    amr = ("pwd",)
    options_form = PasswordOptions
    blueprint = Blueprint("idp_password", __name__, template_folder="templates")

    def render_login(self, ctx: LoginContext) -> Markup:
        return render_part(
            "idp_password/login.html",
            authenticator=self.authenticator,
            allow_email=self.options.get("allow_email", True),
            values=ctx.values or ({"login": ctx.login_hint} if ctx.login_hint else {}),
            errors=ctx.errors,
        )

    def can_confirm(self, user: User) -> bool:
        return bool(user.password_hash)

    def render_confirm(self, user: User, next_url: str, error: str | None = None) -> Markup:
        return render_part(
            "idp_password/confirm.html",
            authenticator=self.authenticator,
            user=user,
            next_url=next_url,
            error=error,
        )

    def confirm(self, user: User, form: Mapping[str, str]) -> AuthResult:
        password = (form.get("password") or "")[:1024]
        if user.password_hash and state.current().passwords.verify(user.password_hash, password):
            return AuthResult.success(user, self.amr)
        return AuthResult.failure(gettext("That password is not right."), field="password")

    def authenticate(self, ctx: LoginContext, form: Mapping[str, str]) -> AuthResult:
        login = (form.get("login") or "").strip().casefold()
        password = form.get("password") or ""
        if not login or not password:
            return AuthResult.failure(
                gettext("Enter your username and your password."), field="login"
            )
        if len(login) > 254 or len(password) > 1024:
            return AuthResult.failure(failed_message(), field="login")
        match = User.username == login
        if self.options.get("allow_email", True):
            match = or_(match, User.email == login)
        user = db.session.scalar(select(User).where(match))
        known = user.id if user is not None and user.active else None
        key = lockout.subject_key(known, "login", login)
        try:
            lockout.ensure_unlocked(key, ip=ctx.ip)
        except (SignInLocked, NeedsRecovery) as exc:
            wait = exc.retry_after if isinstance(exc, SignInLocked) else None
            return AuthResult.failure(exc.message, field="login", retry_after=wait)
        passwords = state.current().passwords
        # Always one full argon2 check, so a missing account answers as slowly as a wrong password.
        stored = user.password_hash if user is not None else None
        if not passwords.verify(stored, password) or user is None or not user.active:
            lockout.failed(key, method=self.authenticator.name, ip=ctx.ip)
            return AuthResult.failure(failed_message(), field="login", user=user if known else None)
        if passwords.needs_rehash(stored or ""):
            user.password_hash = passwords.hash(password)
        return AuthResult.success(user, self.amr)
