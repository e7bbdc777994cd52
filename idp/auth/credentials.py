"""Per-user credentials of auth methods, stored by the core so plugins need no tables."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, or_, select, update

from idp import state
from idp.extensions import db
from idp.models import Credential, User


def get(user: User, method: str, *, confirmed: bool = True) -> Credential | None:
    """The user's credential for *method* (only a confirmed one unless *confirmed* is False)."""
    stmt = select(Credential).where(Credential.user_id == user.id, Credential.method == method)
    if confirmed:
        stmt = stmt.where(Credential.confirmed_at.is_not(None))
    return db.session.scalar(stmt)


def begin(
    user: User, method: str, secret: str | None, data: dict[str, Any] | None = None
) -> Credential:
    """Start (or restart) enrolment: an unconfirmed credential replaces any unconfirmed one.

    A confirmed credential is left alone until the new one is confirmed. The caller commits.
    """
    existing = get(user, method, confirmed=False)
    if existing is not None and existing.confirmed_at is None:
        db.session.delete(existing)
        db.session.flush()
    elif existing is not None:
        raise ValueError(f"{method} is set up already; remove it before enrolling again")
    credential = Credential(
        user_id=user.id,
        method=method,
        secret=state.current().secret_box.seal(secret) if secret is not None else None,
        data=data or {},
    )
    db.session.add(credential)
    db.session.flush()
    return credential


def secret_of(credential: Credential) -> str | None:
    return state.current().secret_box.open(credential.secret) if credential.secret else None


def confirm(credential: Credential) -> None:
    credential.confirmed_at = state.current().clock()


def claim_step(credential: Credential, step: int) -> bool:
    """Record that one-time value *step* was used; False when it (or a later one) was already.

    One conditional UPDATE, so two requests with the same value cannot both succeed.
    """
    result = db.session.execute(
        update(Credential)
        .where(
            Credential.id == credential.id,
            or_(Credential.last_used_step.is_(None), Credential.last_used_step < step),
        )
        .values(last_used_step=step, last_used_at=state.current().clock())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def remove(user: User, method: str) -> int:
    """Delete the user's credential for *method*; the caller audits and commits."""
    result = db.session.execute(
        delete(Credential)
        .where(Credential.user_id == user.id, Credential.method == method)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0  # type: ignore[attr-defined]
