"""A login in progress: which factors are done, by whom, since when, and what comes next.

The state lives in the server-side session under one key and expires 10 minutes after the
first factor. Methods report success to :func:`first_factor_done` or
:func:`second_factor_done`; the core decides whether a second factor is needed (the admin's
policy and what the user has set up), combines the RFC 8176 ``amr`` values, and finishes the
login with a fresh session id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import session, url_for
from flask_babel import gettext
from flask_login import current_user

from idp import state
from idp.auth import reauth
from idp.auth.authenticators import enabled_authenticators, method_for
from idp.auth.login import complete_login
from idp.auth.method import Role
from idp.auth.policy import SecondFactorPolicy, current_policy, second_factor_required
from idp.errors import FlowExpired
from idp.extensions import db
from idp.models import Authenticator, User

FLOW_KEY = "login_flow"
FLOW_LIFETIME = timedelta(minutes=10)
#: The pseudo authenticator (name and method) of a recovery code used as the second factor.
RECOVERY = reauth.RECOVERY


@dataclass(frozen=True)
class PendingLogin:
    """A user who passed the first factor and still owes a second."""

    user: User
    factors: tuple[dict[str, Any], ...]
    started: datetime

    @property
    def methods(self) -> set[str]:
        return {factor["method"] for factor in self.factors}


def combine_amr(factors: Sequence[dict[str, Any]]) -> list[str]:
    """The ``amr`` of a login: every factor's values in order, plus ``mfa`` for two kinds."""
    values = list(dict.fromkeys(v for factor in factors for v in factor["amr"]))
    if len({factor["method"] for factor in factors}) >= 2 and "mfa" not in values:
        values.append("mfa")
    return values


def usable_second_factors(user: User, exclude: set[str] | None = None) -> list[Authenticator]:
    """Enabled second-factor authenticators this user has set up, minus methods already used."""
    rows = []
    for row in enabled_authenticators(Role.SECOND_FACTOR):
        if exclude and row.method in exclude:
            continue
        if method_for(row).can_be_second_factor(user):
            rows.append(row)
    return rows


def enrollable_second_factors(user: User) -> list[tuple[Authenticator, str]]:
    """Second-factor authenticators the user could set up now, with where to do it."""
    result = []
    for row in enabled_authenticators(Role.SECOND_FACTOR):
        url = method_for(row).enrolment_url(user)
        if url:
            result.append((row, url))
    return result


def _factor(row: Authenticator | str, amr: Sequence[str]) -> dict[str, Any]:
    name, method = (row, row) if isinstance(row, str) else (row.name, row.method)
    return {
        "authenticator": name,
        "method": method,
        "amr": list(amr),
        "at": state.current().clock().isoformat(),
    }


def first_factor_done(user: User, amr: Sequence[str], row: Authenticator) -> str:
    """The user passed *row*; finish the login or ask for a second factor. Returns a URL."""
    policy = current_policy()
    factor = _factor(row, amr)
    if policy is SecondFactorPolicy.OFF:
        return _finish(user, [factor])
    available = usable_second_factors(user, exclude={row.method})
    if not available and not second_factor_required(user, policy):
        return _finish(user, [factor])
    session[FLOW_KEY] = {
        "user_id": user.id,
        "factors": [factor],
        "started": state.current().clock().isoformat(),
    }
    db.session.commit()
    return url_for("auth.second_factor" if available else "auth.enrol")


def pending() -> PendingLogin | None:
    """The login in progress in this session, or None (none, expired, or the user is gone)."""
    data = session.get(FLOW_KEY)
    if not data:
        return None
    started = datetime.fromisoformat(data["started"])
    if state.current().clock() - started > FLOW_LIFETIME:
        session.pop(FLOW_KEY, None)
        return None
    user = db.session.get(User, data["user_id"])
    if user is None or not user.active:
        session.pop(FLOW_KEY, None)
        return None
    return PendingLogin(user, tuple(data["factors"]), started)


def require_pending() -> PendingLogin:
    """The login in progress, or FlowExpired (the page says to start again)."""
    login = pending()
    if login is None:
        raise FlowExpired(
            gettext("Your sign-in took too long or was already finished; please start again.")
        )
    return login


def second_factor_done(amr: Sequence[str], row: Authenticator | str) -> str:
    """The pending user passed second factor *row*: finish the login. Returns a URL.

    *row* is an authenticator, or the name of a core pseudo authenticator that has no row
    (:data:`RECOVERY`, a recovery code standing in for the second factor, with no ``amr``).
    """
    login = require_pending()
    return _finish(login.user, [*login.factors, _factor(row, amr)])


def _finish(user: User, factors: list[dict[str, Any]]) -> str:
    """Sign the user in; each factor counts as a fresh proof for a few minutes (reauth)."""
    names = "+".join(factor["authenticator"] for factor in factors)
    url = complete_login(user, combine_amr(factors), method=names)
    reauth.record_factors(factors)
    return url


def enrolling_user() -> User | None:
    """Who may set up a second factor now, or None.

    The signed-in user (their method routes ask :func:`idp.auth.reauth.fresh` first), or the
    user of a pending login that owes a second factor and has none it can use (forced
    enrolment; confirming the new factor then finishes the login). A pending login that could
    use a factor it has may not add another: a password alone would replace the second factor.
    """
    if current_user.is_authenticated:
        return current_user._get_current_object()  # noqa: SLF001
    login = pending()
    if login is None or usable_second_factors(login.user, exclude=login.methods):
        return None
    return login.user


def start_step_up(user: User, amr: Sequence[str]) -> str | None:
    """Ask a signed-in user for a second factor on top of the login they have (acr aal2).

    Returns the URL of the second-factor page, or None when the user has no second factor
    to offer (the caller then returns what it has, or an error).
    """
    # The earlier login counts as one factor; its method is unknown here, so it is named
    # for the session, which keeps "mfa" honest: the new factor must be a different method.
    previous = {
        "authenticator": "session",
        "method": "session",
        "amr": list(amr),
        "at": state.current().clock().isoformat(),
    }
    registry = state.current().registry
    # A method whose amr the login already has would not add a second kind of factor.
    used = {
        plugin.id
        for plugin in registry.auth_methods.values()
        if set(getattr(plugin.cls, "amr", ())) & set(amr)
    }
    if not usable_second_factors(user, exclude=used):
        return None
    session[FLOW_KEY] = {
        "user_id": user.id,
        "factors": [previous],
        "started": state.current().clock().isoformat(),
    }
    return url_for("auth.second_factor")


def cancel() -> None:
    session.pop(FLOW_KEY, None)
