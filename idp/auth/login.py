"""Finishing a login: a fresh session id, who and how, and the audit record."""

from __future__ import annotations

from collections.abc import Sequence

from flask import session, url_for
from flask_login import login_user

from idp import metrics, state
from idp.abuse import lockout
from idp.extensions import db
from idp.models import User
from idp.security import audit
from idp.security.redirects import safe_next

#: Session keys that survive a login: the authorization request waiting for it.
CARRIED_OVER = ("oidc_pending",)


def complete_login(user: User, amr: Sequence[str], *, method: str) -> str:
    """Sign *user* in with the given ``amr`` values; return where to send them next."""
    now = state.current().clock()
    next_url = safe_next(session.get("next"))
    # Nothing from before the login survives into the signed-in session (fixation), except
    # the relying application's request the login was for.
    carried = {key: session[key] for key in CARRIED_OVER if key in session}
    session.clear()
    session.update(carried)
    login_user(user)
    session["auth_time"] = now.isoformat()
    session["amr"] = list(dict.fromkeys(amr))
    session.rotate()  # type: ignore[attr-defined]  # ServerSession
    user.last_login_at = now
    audit.record(
        "login.success", f"user:{user.id}", after={"method": method, "amr": list(amr)}, actor=user
    )
    user_id = user.id  # read before the commit expires the row (reading after loads it again)
    db.session.commit()
    metrics.login_succeeded(method)
    lockout.succeeded(lockout.account_key(user_id))
    return next_url or url_for("auth.home")
