"""Confirm it's you: a fresh proof before changing how an account signs in.

Setting up or removing a second factor and making new recovery codes need a *proof* made in
this session within the last five minutes (ASVS 7.5.1, security.md SE5). A proof is a factor
the user passed, kept in the server-side session under its method id (``password``,
``totp``, ``recovery``, ...) with the time it was passed, so it ends with the session:

- every factor of the login itself counts, from the moment it was passed;
- the account page's "confirm it's you" step adds one when the user types their password
  again (if they have one) or uses one of their recovery codes; a user who has neither
  signs in again, which records the login's factors.

Removing a factor needs a proof with a *different* factor (the authenticator app being
removed cannot vouch for its own removal), and the last second factor cannot go while the
admin's policy requires one. Methods call :func:`fresh` and :func:`removal_refused` from
their own routes; the core holds the rules once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from flask import session, url_for
from flask_babel import gettext

from idp import state

if TYPE_CHECKING:
    from idp.models import User

#: How long a proof stays fresh.
FRESH_FOR = timedelta(minutes=5)
PROOFS_KEY = "proofs"
#: The method id of a recovery code (it has no plugin and no authenticator row).
RECOVERY = "recovery"


def record(method: str, at: datetime | None = None) -> None:
    """The user passed *method* just now (or at *at*) in this session."""
    proofs = dict(session.get(PROOFS_KEY) or {})
    proofs[method] = (at or state.current().clock()).isoformat()
    session[PROOFS_KEY] = proofs


#: Pseudo factors that prove nothing new: the earlier login a step-up builds on
#: (``flow.start_step_up``).
NOT_PROOFS = frozenset({"session"})


def record_factors(factors: Iterable[Mapping[str, Any]]) -> None:
    """Record the factors of a login that has just finished (see ``flow``)."""
    for factor in factors:
        if factor["method"] not in NOT_PROOFS:
            record(factor["method"], datetime.fromisoformat(factor["at"]))


def fresh(other_than: str | None = None) -> bool:
    """Whether this session holds a proof younger than :data:`FRESH_FOR` by a method other
    than *other_than*."""
    now = state.current().clock()
    for method, at in (session.get(PROOFS_KEY) or {}).items():
        if method == other_than:
            continue
        age = now - datetime.fromisoformat(at)
        if timedelta(0) <= age <= FRESH_FOR:
            return True
    return False


def confirm_url(next_url: str) -> str:
    """The "confirm it's you" page, coming back to *next_url* (a path on this site)."""
    return url_for("account.confirm", next=next_url)


def removal_refused(user: User, method: str) -> str | None:
    """Why *user* may not remove their *method* second factor now, or None when they may.

    Refused when the policy requires a second factor and *method* is the last one the user
    can use. (Whether the proof is fresh is asked separately, with :func:`fresh`.)
    """
    from idp.auth.flow import usable_second_factors
    from idp.auth.policy import second_factor_required

    if not second_factor_required(user):
        return None
    if any(row.method != method for row in usable_second_factors(user)):
        return None
    return gettext(
        "This is your last second factor, and this site requires one. "
        "Set up another one first, then remove this one."
    )
