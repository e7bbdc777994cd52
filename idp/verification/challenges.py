"""One-time-code challenges: issue a code, check a guess, consume it exactly once.

A code is stored only as an HMAC (over challenge id, purpose and code) under a key derived
from the secret key. Every guess first increments the attempt counter in one conditional
UPDATE that is committed at once, so concurrent guesses can never exceed the limit; only then
is the code compared, in constant time. A match consumes the challenge with a second
conditional UPDATE that the caller commits together with whatever the code unlocks (a new
account, a confirmed verifier), so one code can never succeed twice.
"""

from __future__ import annotations

import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from flask_babel import gettext, lazy_gettext, ngettext
from sqlalchemy import select, update

from idp import state
from idp.abuse.destinations import region_of
from idp.abuse.prefixes import prefix_of
from idp.errors import InvalidInput, RateLimited
from idp.extensions import db
from idp.models import Challenge
from idp.security.derived_keys import keyed_hash


class Purpose(StrEnum):
    LOGIN = "login"
    SIGNUP = "signup"
    SECOND_FACTOR = "second_factor"
    ENROLMENT = "enrolment"
    PHONE_CHANGE = "phone_change"
    ADMIN_TEST = "admin_test"


class Outcome(StrEnum):
    OK = "ok"
    WRONG = "wrong"
    EXPIRED = "expired"
    USED = "used"
    SUPERSEDED = "superseded"
    TOO_MANY = "too_many"
    UNKNOWN = "unknown"


MESSAGES = {
    Outcome.WRONG: lazy_gettext("That code is not right. Check the text message and try again."),
    Outcome.EXPIRED: lazy_gettext("This code has expired. Ask for a new one."),
    Outcome.USED: lazy_gettext("This code has been used already. Ask for a new one."),
    Outcome.SUPERSEDED: lazy_gettext(
        "A newer code was sent; use the code from the latest message."
    ),
    Outcome.TOO_MANY: lazy_gettext("Too many wrong codes. Ask for a new one."),
    Outcome.UNKNOWN: lazy_gettext("This code request is unknown or finished. Ask for a new code."),
}


@dataclass(frozen=True)
class IssuedCode:
    """A new challenge and its code in clear: put the code in the message, then forget it."""

    challenge: Challenge
    code: str


@dataclass(frozen=True)
class CheckResult:
    outcome: Outcome
    challenge: Challenge | None = None
    attempts_left: int = 0

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK

    @property
    def message(self) -> str:
        if self.outcome is Outcome.WRONG and self.attempts_left:
            return ngettext(
                "That code is not right. Check the text message and try again. "
                "%(num)s attempt left.",
                "That code is not right. Check the text message and try again. "
                "%(num)s attempts left.",
                self.attempts_left,
            )
        return str(MESSAGES.get(self.outcome, ""))


def _target(phone: str | None, user_id: int | None, scope: str | None = None) -> str:
    """What a code is bound to: a user or a number, narrowed by *scope* (e.g. a verifier)."""
    if user_id is not None:
        target = f"user:{user_id}"
    elif phone:
        target = f"phone:{phone}"
    else:
        raise ValueError("a challenge is bound to a phone number or a user")
    return f"{target}|{scope}" if scope else target


def _code_hmac(public_id: str, purpose: str, code: str) -> str:
    return keyed_hash("challenge-codes", f"{public_id}|{purpose}|{code}")


def new_code(length: int) -> str:
    return f"{secrets.randbelow(10**length):0{length}d}"


def issue(
    purpose: Purpose,
    *,
    phone: str | None = None,
    user_id: int | None = None,
    scope: str | None = None,
    context: dict[str, Any] | None = None,
) -> IssuedCode:
    """Make a new challenge for *purpose*; older open ones for the same target stop working.

    The caller commits, then sends the code.

    :raises RateLimited: when the previous code for this purpose and target is too recent.
    """
    s = state.current()
    now = s.clock()
    target = _target(phone, user_id, scope)
    latest = db.session.scalar(
        select(Challenge.created_at)
        .where(Challenge.purpose == purpose, Challenge.target == target)
        .order_by(Challenge.created_at.desc())
        .limit(1)
    )
    cooldown = timedelta(seconds=s.settings.code_resend_seconds)
    if latest is not None and now - latest < cooldown:
        wait = max(1, math.ceil((latest + cooldown - now).total_seconds()))
        raise RateLimited(
            gettext("Please wait %(wait)s s before asking for a new code.", wait=wait),
            retry_after=wait,
        )
    db.session.execute(
        update(Challenge)
        .where(
            Challenge.purpose == purpose,
            Challenge.target == target,
            Challenge.consumed_at.is_(None),
            Challenge.superseded_at.is_(None),
        )
        .values(superseded_at=now)
        .execution_options(synchronize_session=False)
    )
    public_id = secrets.token_urlsafe(18)
    code = new_code(s.settings.code_length)
    challenge = Challenge(
        public_id=public_id,
        purpose=str(purpose),
        target=target,
        phone=phone,
        prefix=prefix_of(phone) if phone else None,
        region=region_of(phone) if phone else None,
        user_id=user_id,
        code_hmac=_code_hmac(public_id, str(purpose), code),
        created_at=now,
        expires_at=now + timedelta(seconds=s.settings.code_ttl_seconds),
        attempts=0,
        max_attempts=s.settings.code_max_attempts,
        context=context or {},
    )
    db.session.add(challenge)
    db.session.flush()
    return IssuedCode(challenge, code)


def _why_closed(row: Challenge, now: Any) -> Outcome:
    if row.consumed_at is not None:
        return Outcome.USED
    if row.superseded_at is not None:
        return Outcome.SUPERSEDED
    if row.attempts >= row.max_attempts:
        return Outcome.TOO_MANY
    if row.expires_at <= now:
        return Outcome.EXPIRED
    return Outcome.UNKNOWN


def normalise_code(raw: str) -> str:
    """Digits only: people paste codes with spaces or hyphens in them."""
    code = "".join(ch for ch in (raw or "") if not ch.isspace() and ch != "-")
    if not code.isdigit() or len(code) > 10:
        raise InvalidInput(
            gettext("Enter the digits of the code from the text message."), field="code"
        )
    return code


def check(
    public_id: str,
    raw_code: str,
    purpose: Purpose,
    *,
    phone: str | None = None,
    user_id: int | None = None,
    scope: str | None = None,
) -> CheckResult:
    """Judge one guess. On OK the challenge is consumed in the open transaction: commit it
    together with what the code unlocks. The attempt counter is already committed.
    """
    code = normalise_code(raw_code)
    now = state.current().clock()
    target = _target(phone, user_id, scope)
    row = db.session.scalar(
        select(Challenge).where(
            Challenge.public_id == public_id,
            Challenge.purpose == purpose,
            Challenge.target == target,
        )
    )
    if row is None:
        return CheckResult(Outcome.UNKNOWN)
    # Read before the commit below expires the row: reading them after would load it again.
    row_id, code_hmac, max_attempts = row.id, row.code_hmac, row.max_attempts
    counted = db.session.execute(
        update(Challenge)
        .where(
            Challenge.id == row_id,
            Challenge.consumed_at.is_(None),
            Challenge.superseded_at.is_(None),
            Challenge.attempts < Challenge.max_attempts,
            Challenge.expires_at > now,
        )
        .values(attempts=Challenge.attempts + 1)
        .returning(Challenge.attempts)
        .execution_options(synchronize_session=False)
    ).scalar()
    db.session.commit()
    if counted is None:
        db.session.refresh(row)
        return CheckResult(_why_closed(row, now), row)
    if not hmac.compare_digest(_code_hmac(public_id, str(purpose), code), code_hmac):
        left = max_attempts - counted
        return CheckResult(Outcome.WRONG if left else Outcome.TOO_MANY, row, left)
    consumed = db.session.execute(
        update(Challenge)
        .where(
            Challenge.id == row_id,
            Challenge.consumed_at.is_(None),
            Challenge.superseded_at.is_(None),
            Challenge.expires_at > now,
        )
        .values(consumed_at=now)
        .execution_options(synchronize_session=False)
    )
    if consumed.rowcount != 1:  # type: ignore[attr-defined]
        db.session.rollback()
        return CheckResult(Outcome.USED, row)
    return CheckResult(Outcome.OK, row)


def mark_delivery(challenge_id: int, delivery: str) -> None:
    """Record whether the code's message reached a provider ("sent") or not ("failed")."""
    db.session.execute(
        update(Challenge)
        .where(Challenge.id == challenge_id)
        .values(delivery=delivery)
        .execution_options(synchronize_session=False)
    )
