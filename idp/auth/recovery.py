"""Recovery codes: ten single-use codes that stand in for a lost second factor.

Each code carries 80 random bits, so a keyed SHA-256 (HMAC) is enough to store it: nobody
can search that space, and checking a code costs one indexed lookup instead of ten argon2
runs. Codes are shown once, when made; using one consumes it in one conditional UPDATE.

A user gets codes at their first second-factor enrolment (:func:`issue_if_first`, called by
every method's enrolment) and new ones when they ask (the account page). To show them once
after a redirect, :func:`show_once` keeps them sealed in the session until the page that
shows them takes them (:func:`take_shown`); no code is ever logged or audited.
"""

from __future__ import annotations

import base64
import json
import secrets

from flask import session, url_for
from sqlalchemy import delete, func, select, update

from idp import state
from idp.extensions import db
from idp.models import RecoveryCode, User
from idp.security import audit
from idp.security.derived_keys import keyed_hash
from idp.security.redirects import safe_next

COUNT = 10
SHOW_KEY = "recovery_codes_to_show"


def _normalise(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def _hash(user: User, code: str) -> str:
    return keyed_hash("recovery-codes", f"{user.id}|{_normalise(code)}")


def _new_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(10)).decode().rstrip("=")  # 80 bits, 16 chars
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def regenerate(user: User) -> list[str]:
    """Replace all of *user*'s recovery codes with ten new ones; show them once. Caller commits."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [_new_code() for _ in range(COUNT)]
    now = state.current().clock()
    db.session.add_all(
        RecoveryCode(user_id=user.id, code_hash=_hash(user, code), created_at=now) for code in codes
    )
    db.session.flush()
    return codes


def remaining(user: User) -> int:
    return (
        db.session.scalar(
            select(func.count(RecoveryCode.id)).where(
                RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
            )
        )
        or 0
    )


def use(user: User, code: str) -> bool:
    """Consume *code* if it is one of *user*'s unused codes. The caller commits."""
    if not 10 <= len(_normalise(code)) <= 32:
        return False
    result = db.session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _hash(user, code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=state.current().clock())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def issue_if_first(user: User) -> list[str] | None:
    """Ten new codes when *user* never had any (their first second factor), else None.

    Methods call this when a second factor is confirmed, then send the user to
    ``show_once(codes, then=...)``. Audited as ``recovery.issued``; the caller commits.
    """
    had_some = db.session.scalar(
        select(RecoveryCode.id).where(RecoveryCode.user_id == user.id).limit(1)
    )
    if had_some is not None:
        return None
    codes = regenerate(user)
    audit.record("recovery.issued", f"user:{user.id}", after={"count": len(codes)}, actor=user)
    return codes


def show_once(codes: list[str], then: str | None = None) -> str:
    """Keep *codes* for the next page only; return that page's URL (it continues to *then*).

    The codes are sealed in the secret box while they wait in the session row.
    """
    session[SHOW_KEY] = {
        "codes": state.current().secret_box.seal(json.dumps(codes)),
        "then": safe_next(then),
    }
    return url_for("account.recovery_codes")


def take_shown() -> tuple[list[str], str | None] | None:
    """The codes :func:`show_once` kept, and where to go next; they are gone afterwards."""
    data = session.pop(SHOW_KEY, None)
    if not data:
        return None
    codes = json.loads(state.current().secret_box.open(data["codes"]))
    return list(codes), safe_next(data.get("then"))
