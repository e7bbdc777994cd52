"""The AuthMethod contract: one way to prove who you are.

A plugin subclasses :class:`AuthMethod` and registers it under the ``idp.auth_methods``
entry-point group with its ``name`` as the entry-point name. Admins then make
*authenticators*: named, ordered instances of the method with options validated by the
method's ``options_form``. The core instantiates the method per request with those options.

Plugins judge answers; the core counts them. A wrong answer is a failed :class:`AuthResult`,
never an exception; a fault (a database or provider outage) raises an ``IdpError``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from flask import Blueprint, render_template
from flask_babel import gettext
from markupsafe import Markup

from idp.options import OptionsForm

if TYPE_CHECKING:
    from idp.models import Authenticator, User


def render_part(template: str, **context: Any) -> Markup:
    """Render one of the method's own templates as a piece of a larger page."""
    # render_template autoescapes, so its output is safe to embed as markup.
    return Markup(render_template(template, **context))  # noqa: S704


class Role(StrEnum):
    FIRST_FACTOR = "first_factor"
    SECOND_FACTOR = "second_factor"


@dataclass(frozen=True)
class AuthResult:
    """The outcome of one answer: a user and the RFC 8176 ``amr`` values, or a message."""

    ok: bool
    user: User | None = None
    amr: tuple[str, ...] = ()
    message: str | None = None
    field: str | None = None
    #: Set when the attempt was not judged because it must wait: the page answers 429.
    retry_after: int | None = None

    @classmethod
    def success(cls, user: User, amr: tuple[str, ...]) -> AuthResult:
        return cls(ok=True, user=user, amr=amr)

    @classmethod
    def failure(
        cls,
        message: str,
        field: str | None = None,
        *,
        user: User | None = None,
        retry_after: int | None = None,
    ) -> AuthResult:
        """A wrong answer. *user* is the existing account the attempt was for, when the method
        knows it: it only becomes the target of the ``login.failure`` audit event (so the
        account's owner and admins see it), never part of the answer. Leave it out for an
        unknown account; what was typed is never recorded."""
        return cls(ok=False, user=user, message=message, field=field, retry_after=retry_after)


@dataclass(frozen=True)
class LoginContext:
    """What a method may know about the login in progress."""

    authenticator: Authenticator
    ip: str | None = None
    user_agent: str | None = None
    #: Values the user typed last time, to refill the form after a failure (never secrets).
    values: Mapping[str, str] = field(default_factory=dict)
    #: Field name -> message, from the last failed attempt.
    errors: Mapping[str, str] = field(default_factory=dict)
    #: What the relying application says about who is signing in (OIDC ``login_hint``), e.g.
    #: a phone number or username to pre-fill. Untrusted input: only ever a default value.
    login_hint: str | None = None


class AuthMethod(abc.ABC):
    """Base class of every auth method plugin."""

    #: Stable id; equals the entry-point name and is stored on authenticator rows.
    name: ClassVar[str]
    #: Human name shown to admins.
    title: ClassVar[str]
    #: Contract version the plugin was written against.
    api_version: ClassVar[int] = 1
    #: Which parts of a login the method can play.
    roles: ClassVar[frozenset[Role]] = frozenset({Role.FIRST_FACTOR})
    #: RFC 8176 values a success adds to the login (e.g. ``("pwd",)``).
    amr: ClassVar[tuple[str, ...]] = ()
    #: The options an admin fills in; validated on save and at start-up.
    options_form: ClassVar[type[OptionsForm]] = OptionsForm
    #: The method's own routes and templates (``templates/<name>/``), mounted at /m/<name>.
    blueprint: ClassVar[Blueprint | None] = None
    #: Views of ``blueprint`` (endpoint names, e.g. ``"login_code"``) that continue a sign-in
    #: already under way, such as the form where a texted code is typed. An overloaded worker
    #: still serves them to a browser that holds a session (``idp.shedding``), so a person
    #: halfway through a login is never stopped; everything else of the method may be shed.
    sign_in_endpoints: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, authenticator: Authenticator, options: Mapping[str, Any]) -> None:
        """Bind an authenticator and its options (secrets already decrypted); no I/O here."""
        self.authenticator = authenticator
        self.options = options

    @abc.abstractmethod
    def render_login(self, ctx: LoginContext) -> Markup:
        """Return this method's part of the login page (a form posting to ``auth.submit``)."""

    def has_role(self, role: Role) -> bool:
        """Whether this authenticator plays *role*: by default every role of the method.

        A method may narrow it per authenticator with an option (an SMS authenticator that
        serves only as a second factor, never for signing in with the phone alone).
        """
        return role in self.roles

    def admin_notice(self) -> str | None:
        """What an admin should know about this authenticator now (for example why it is
        unavailable), shown in the admin panel's list; None when all is well."""
        return None

    def authenticate(self, ctx: LoginContext, form: Mapping[str, str]) -> AuthResult:
        """Judge a submitted first-factor form. Multi-step methods use their own routes instead."""
        from idp.errors import MethodUnavailable

        raise MethodUnavailable(
            gettext("%(method)s signs in through its own pages.", method=self.title)
        )

    def can_be_second_factor(self, user: User) -> bool:
        """Whether *user* has what this method needs to serve as their second factor."""
        return False

    def render_second_factor(self, ctx: LoginContext, user: User) -> Markup:
        """This method's part of the second-factor page for *user* (methods with that role)."""
        from idp.errors import MethodUnavailable

        raise MethodUnavailable(
            gettext("%(method)s cannot be used as a second factor.", method=self.title)
        )

    def enrolment_url(self, user: User) -> str | None:
        """Where *user* can set this method up, or None when there is nothing to set up."""
        return None

    def can_confirm(self, user: User) -> bool:
        """Whether *user* can give a fresh proof with this method on the "confirm it's you"
        page (``account.confirm``, see ``idp.auth.reauth``) without leaving it: they have a
        password, an app set up... False (the default) leaves the method off that page."""
        return False

    def render_confirm(self, user: User, next_url: str, error: str | None = None) -> Markup:
        """This method's form on the "confirm it's you" page. It posts to ``account.confirm``
        with ``csrf_token``, ``next`` (*next_url*) and ``with`` (the authenticator's name),
        plus the method's own fields; *error* is the message of a failed attempt."""
        from idp.errors import MethodUnavailable

        raise MethodUnavailable(gettext("%(method)s cannot confirm it's you.", method=self.title))

    def confirm(self, user: User, form: Mapping[str, str]) -> AuthResult:
        """Judge a fresh proof by signed-in *user* from this method's confirm form: a success
        is recorded as a proof under the method's ``name``; a wrong answer is a failure with a
        message (the core counts and audits it)."""
        from idp.errors import MethodUnavailable

        raise MethodUnavailable(gettext("%(method)s cannot confirm it's you.", method=self.title))

    def render_account(self, user: User) -> Markup | None:
        """This method's section of *user*'s account page (set up, remove...), or None for none.

        Forms in it post to the method's own routes; a route that removes a factor asks
        ``idp.auth.reauth`` first (a fresh proof with another factor, never the last required one).
        """
        return None
