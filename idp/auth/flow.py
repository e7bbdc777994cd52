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

from idp import state
from idp.auth.authenticators import enabled_authenticators, method_for
from idp.auth.login import complete_login
from idp.auth.method import Role
from idp.auth.policy import SecondFactorPolicy, current_policy, second_factor_required
from idp.errors import FlowExpired
from idp.extensions import db
from idp.models import Authenticator, User

FLOW_KEY = "login_flow"
FLOW_LIFETIME = timedelta(minutes=10)


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


def _factor(row: Authenticator, amr: Sequence[str]) -> dict[str, Any]:
    return {
        "authenticator": row.name,
        "method": row.method,
        "amr": list(amr),
        "at": state.current().clock().isoformat(),
    }


def first_factor_done(user: User, amr: Sequence[str], row: Authenticator) -> str:
    """The user passed *row*; finish the login or ask for a second factor. Returns a URL."""
    policy = current_policy()
    factor = _factor(row, amr)
    if policy is SecondFactorPolicy.OFF:
        return complete_login(user, combine_amr([factor]), method=row.name)
    available = usable_second_factors(user, exclude={row.method})
    if not available and not second_factor_required(user, policy):
        return complete_login(user, combine_amr([factor]), method=row.name)
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
        raise FlowExpired("Your sign-in took too long or was already finished; please start again.")
    return login


def second_factor_done(amr: Sequence[str], row: Authenticator) -> str:
    """The pending user passed second factor *row*: finish the login. Returns a URL."""
    login = require_pending()
    factors = [*login.factors, _factor(row, amr)]
    names = "+".join(factor["authenticator"] for factor in factors)
    return complete_login(login.user, combine_amr(factors), method=names)


def cancel() -> None:
    session.pop(FLOW_KEY, None)
