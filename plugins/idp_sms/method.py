"""The SMS auth method: its options and the hooks the login orchestrator calls."""

from __future__ import annotations

from typing import Any

import phonenumbers
from flask import has_app_context, url_for
from flask_babel import gettext, lazy_gettext
from markupsafe import Markup
from sqlalchemy import select
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import Length, Optional, ValidationError

from idp.auth import AuthMethod, LoginContext, Role, render_part
from idp.auth.authenticators import enabled_authenticators
from idp.extensions import db
from idp.i18n import translated
from idp.models import User, Verifier
from idp.options import OptionsForm
from idp.sms.phone import mask
from idp.verification.resolution import Resolution, resolve
from idp_sms.blueprint import bp
from idp_sms.numbers import example_number, parse_regions

UNAVAILABLE = lazy_gettext("Sign-in by text message is not available right now.")
#: The method's title, kept as written on new authenticators; pages show it translated
#: (the ``translated`` filter), so the catalogues need it.
TITLE = lazy_gettext("Text message")

#: What happens to a number without an account when sign-up is off.
SILENT = "silent"
REVEAL = "reveal"
#: Which part of a login an authenticator plays.
BOTH, FIRST_ONLY, SECOND_ONLY = "both", "first", "second"


try:  # WTForms 3.3 wants choices as SelectChoice; older versions know only (value, label)
    from wtforms.fields.choices import SelectChoice as _Choice
except ImportError:  # pragma: no cover - WTForms < 3.3

    def _Choice(value: str, label: str) -> Any:  # noqa: N802
        return (value, label)


DEFAULT_VERIFIER = lazy_gettext("The default verifier")


def _regions(form: OptionsForm, field: StringField) -> None:
    wrong = [
        item.strip()
        for item in (field.data or "").replace(";", ",").split(",")
        if item.strip() and item.strip().upper() not in phonenumbers.SUPPORTED_REGIONS
    ]
    if wrong:
        raise ValidationError(
            gettext(
                "Not a two-letter country code: %(codes)s. Use codes such as BE, DE.",
                codes=", ".join(wrong),
            )
        )


class SmsOptions(OptionsForm):
    verifier = SelectField(
        lazy_gettext("Verifier"),
        choices=[_Choice("", DEFAULT_VERIFIER)],
        default="",
        description=lazy_gettext(
            "Which verifier sends the codes. The default: the verifier marked default, "
            "else the [sms] table of poort.toml."
        ),
    )
    use_for = SelectField(
        lazy_gettext("Use for"),
        choices=[
            _Choice(BOTH, lazy_gettext("Signing in with the phone, and as a second factor")),
            _Choice(FIRST_ONLY, lazy_gettext("Signing in with the phone only")),
            _Choice(SECOND_ONLY, lazy_gettext("A second factor only (after a password)")),
        ],
        default=BOTH,
    )
    allow_signup = BooleanField(lazy_gettext("Register unknown numbers (sign-up)"), default=True)
    unknown_numbers = SelectField(
        lazy_gettext("When sign-up is off, a number without an account gets"),
        choices=[
            _Choice(
                SILENT,
                lazy_gettext("The same answer as a known number, and no text (nothing spent)"),
            ),
            _Choice(REVEAL, lazy_gettext("A message that the number is unknown")),
        ],
        default=SILENT,
    )
    countries = StringField(
        lazy_gettext("Also accept numbers from"),
        default="",
        description=lazy_gettext(
            "Two-letter country codes separated by commas, e.g. BE, DE. "
            "Numbers from the default region are always accepted."
        ),
        validators=[Optional(), Length(max=200), _regions],
    )

    def __init__(self, formdata: Any = None, **kwargs: Any) -> None:
        super().__init__(formdata=formdata, **kwargs)
        if not has_app_context():
            return
        rows = db.session.scalars(select(Verifier).order_by(Verifier.name)).all()
        choices = [_Choice("", DEFAULT_VERIFIER)] + [
            _Choice(
                row.name,
                f"{translated(row.title)} ({row.name})"
                if row.enabled
                else gettext(
                    "%(title)s (%(name)s), disabled", title=translated(row.title), name=row.name
                ),
            )
            for row in rows
        ]
        current = self.verifier.data
        if formdata is None and current and current not in {row.name for row in rows}:
            choices.append(_Choice(current, gettext("%(name)s (does not exist)", name=current)))
        self.verifier.choices = choices


class SmsMethod(AuthMethod):
    """Phone number and a code by text message: sign-up, login, and a second factor."""

    name = "sms"
    title = "Text message"
    roles = frozenset({Role.FIRST_FACTOR, Role.SECOND_FACTOR})
    amr = ("sms",)
    options_form = SmsOptions
    blueprint = bp
    #: Where a texted code is typed: never shed while a login waits for it.
    sign_in_endpoints = frozenset({"login_code", "second_code", "phone_code"})

    # -- options ---------------------------------------------------------------------------

    @property
    def verifier_name(self) -> str | None:
        return self.options.get("verifier") or None

    @property
    def allow_signup(self) -> bool:
        return bool(self.options.get("allow_signup", True))

    @property
    def reveal_unknown(self) -> bool:
        return self.options.get("unknown_numbers") == REVEAL

    @property
    def regions(self) -> tuple[str, ...]:
        return parse_regions(self.options.get("countries"))

    def resolution(self) -> Resolution:
        """Which verifiers send this authenticator's codes; resolved once per instance (an
        instance lives for one request), though a send asks twice."""
        resolved: Resolution | None = self.__dict__.get("_resolution")
        if resolved is None:
            resolved = self.__dict__["_resolution"] = resolve(self.verifier_name)
        return resolved

    def has_role(self, role: Role) -> bool:
        use_for = self.options.get("use_for") or BOTH
        if role is Role.FIRST_FACTOR:
            return use_for != SECOND_ONLY
        if role is Role.SECOND_FACTOR:
            return use_for != FIRST_ONLY
        return False

    def admin_notice(self) -> str | None:
        resolution = self.resolution()
        if resolution.available:
            return None
        return gettext("Unavailable: %(reason)s", reason=resolution.reason)

    # -- hooks -----------------------------------------------------------------------------

    def render_login(self, ctx: LoginContext) -> Markup:
        return render_part(
            "idp_sms/login.html",
            authenticator=self.authenticator,
            available=self.resolution().available,
            unavailable=UNAVAILABLE,
            allow_signup=self.allow_signup,
            example=example_number(),
            values=ctx.values,
            errors=ctx.errors,
        )

    def can_be_second_factor(self, user: User) -> bool:
        return bool(user.phone and user.phone_verified_at)

    def render_second_factor(self, ctx: LoginContext, user: User) -> Markup:
        return render_part(
            "idp_sms/second_factor.html",
            authenticator=self.authenticator,
            available=self.resolution().available,
            unavailable=UNAVAILABLE,
            masked=mask(user.phone),
            errors=ctx.errors,
        )

    def enrolment_url(self, user: User) -> str | None:
        if self.can_be_second_factor(user) or not self.resolution().available:
            return None
        return url_for("idp_sms.phone", name=self.authenticator.name)

    def render_account(self, user: User) -> Markup | None:
        # One phone section on the account page, however many SMS authenticators there are.
        if self.authenticator.id != _account_authenticator_id(self.name):
            return None
        return render_part(
            "idp_sms/account.html",
            authenticator=self.authenticator,
            user=user,
            masked=mask(user.phone),
            verified=bool(user.phone and user.phone_verified_at),
            available=self.resolution().available,
            unavailable=UNAVAILABLE,
        )


def _account_authenticator_id(method: str) -> int | None:
    """The SMS authenticator whose account section is shown: the first second factor, else
    the first that signs in."""
    for role in (Role.SECOND_FACTOR, Role.FIRST_FACTOR):
        for row in enabled_authenticators(role):
            if row.method == method:
                return row.id
    return None
