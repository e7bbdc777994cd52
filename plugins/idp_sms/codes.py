"""Codes in flight: what the session remembers, sending a code, checking it, the code page.

The session (server-side) remembers one pending code per kind of step: ``login`` (the first
factor), ``second`` (the second factor) and ``phone`` (adding or changing a number). The
browser never carries the challenge id, the number or the purpose in a form field.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import has_request_context, render_template, request, session, url_for
from flask_babel import gettext
from sqlalchemy import select
from werkzeug.wrappers import Response

from idp import metrics, state
from idp.abuse import lockout, sending
from idp.abuse.errors import NeedsRecovery, SendingPaused, SignInLocked
from idp.abuse.sending import SendRequest
from idp.auth import Role
from idp.auth.authenticators import get_enabled, method_for
from idp.errors import IdpError, InvalidInput, NotFound
from idp.extensions import db
from idp.models import Authenticator, Challenge, User
from idp.security import audit
from idp.security.client_ip import client_ip
from idp.sms.errors import COULD_NOT_SEND, SmsError, SmsNotSent, SmsRecipientError
from idp.sms.phone import mask
from idp.verification import challenges, dispatch
from idp.verification import queue as send_queue
from idp.verification.after_answer import after_answer as run_after_answer
from idp.verification.challenges import CheckResult, Outcome, Purpose
from idp.verification.messages import code_text, request_language
from idp.verification.resolution import Resolution
from idp_sms.method import SmsMethod

log = logging.getLogger(__name__)

#: Delivery state of a challenge whose code was never sent (a number without an account).
WITHHELD = "withheld"


@dataclass(frozen=True)
class Pending:
    """A code sent (or, for a number without an account, pretended to be sent)."""

    kind: str
    authenticator: str
    challenge: str  # public id
    purpose: str
    phone: str
    sent_at: str
    user_id: int | None = None
    withheld: bool = False

    @property
    def masked(self) -> str:
        return mask(self.phone)


def _key(kind: str) -> str:
    return f"idp_sms.{kind}"


def load(kind: str, authenticator: str) -> Pending | None:
    data = session.get(_key(kind))
    if not isinstance(data, dict) or data.get("authenticator") != authenticator:
        return None
    try:
        return Pending(**data)
    except TypeError:  # written by an older version: start again
        return None


def forget(kind: str) -> None:
    session.pop(_key(kind), None)


def sms_authenticator(name: str, role: Role | None = None) -> tuple[Authenticator, SmsMethod]:
    """The enabled SMS authenticator *name* (playing *role*), or NotFound."""
    row = get_enabled(name)
    method = method_for(row)
    if not isinstance(method, SmsMethod) or (role is not None and not method.has_role(role)):
        raise NotFound(gettext("There is no such way to sign in."))
    return row, method


def send_code(
    method: SmsMethod,
    *,
    kind: str,
    purpose: Purpose,
    phone: str,
    user_id: int | None = None,
    withheld: bool = False,
    context: dict[str, Any] | None = None,
    after_answer: bool = False,
) -> Pending:
    """Issue a code for *purpose*, commit it, text it (unless *withheld*), remember it.

    A withheld code is issued and counted like any other (same cooldown, attempts, expiry),
    but never sent: nobody can know it. With *after_answer* (the sign-in, where a number may
    be withheld) the text goes out after the response, so known and unknown numbers answer
    alike; a failure then shows on the code page (:func:`undelivered`).

    :raises RateLimited: a send limit is reached, or the previous code is too recent.
    :raises DestinationRefused: codes do not go to this number (country, type, prefix).
    :raises SendingPaused: a budget is spent.
    :raises HumanCheckRequired: the form must carry a solved human check first.
    :raises SmsRecipientError: the provider refused the number.
    :raises SmsError: no verifier could send the text (every attempt is in the message log).
    """
    resolution = method.resolution()
    if not resolution.available:
        raise SmsNotSent(resolution.reason or "No verifier is available.")
    # Before anything is stored: a refused send leaves no challenge and counts nowhere.
    sending.admit(
        SendRequest(
            phone=phone,
            ip=client_ip() if has_request_context() else None,
            flow=sending.flow_id(),
            spends=not withheld,
            form=request.form if has_request_context() else None,
        )
    )
    issued = challenges.issue(
        purpose,
        phone=phone,
        user_id=user_id,
        context={"authenticator": method.authenticator.name, **(context or {})},
    )
    challenge = issued.challenge
    # Everything read from the rows before the commit expires them (reading after would load
    # them again: two statements more for every code sent).
    challenge_id = challenge.id
    pending = Pending(
        kind=kind,
        authenticator=method.authenticator.name,
        challenge=challenge.public_id,
        purpose=str(purpose),
        phone=phone,
        sent_at=challenge.created_at.isoformat(),
        user_id=user_id,
        withheld=withheld,
    )
    db.session.commit()
    if withheld:
        wait = sending.channels_spent_wait(resolution.channels)
        if wait:  # refused as a real send would be: every verifier's budget is spent
            challenges.mark_delivery(challenge_id, "failed")
            db.session.commit()
            raise SendingPaused(wait)
        challenges.mark_delivery(challenge_id, WITHHELD)
        db.session.commit()
        log.info("sms %s code for %s withheld (no account)", purpose, mask(phone))
        # Recorded like a sent code: the audit log must not tell the two apart either.
        audit.record(
            "code.sent", _audit_target(user_id), after={"phone": mask(phone), "purpose": purpose}
        )
        db.session.commit()
    elif state.current().settings.sms_queue == "redis":
        # `poort worker` sends, fails over and logs; this request waits for no provider, so a
        # known number answers as fast as a withheld one. The challenge is "queued" meanwhile.
        wait = sending.channels_spent_wait(resolution.channels)
        if wait:  # refused now, as a withheld code is: every verifier's budget is spent
            challenges.mark_delivery(challenge_id, "failed")
            db.session.commit()
            raise SendingPaused(wait)
        send_queue.enqueue(
            resolution,
            recipient=phone,
            text=code_text(purpose, issued.code, language=request_language()),
            purpose=str(purpose),
            code=issued.code,
            challenge_id=challenge_id,
        )
        # Recorded now, as for a withheld code: the audit log must not tell the two apart.
        audit.record(
            "code.sent", _audit_target(user_id), after={"phone": mask(phone), "purpose": purpose}
        )
        db.session.commit()
    elif after_answer:
        # Checked now, as for a withheld code: a spent budget answers the same for every number.
        wait = sending.channels_spent_wait(resolution.channels)
        if wait:
            challenges.mark_delivery(challenge_id, "failed")
            db.session.commit()
            raise SendingPaused(wait)
        text = code_text(purpose, issued.code, language=request_language())
        code = issued.code
        run_after_answer(
            lambda: _send_later(resolution, phone, text, str(purpose), code, challenge_id)
        )
        # Recorded now, as for a withheld code: the audit log must not tell the two apart.
        audit.record(
            "code.sent", _audit_target(user_id), after={"phone": mask(phone), "purpose": purpose}
        )
        db.session.commit()
    else:
        try:
            dispatch.send(
                resolution,
                recipient=phone,
                text=code_text(purpose, issued.code, language=request_language()),
                purpose=str(purpose),
                code=issued.code,
                challenge_id=challenge_id,
            )
        except (SmsError, SendingPaused):
            challenges.mark_delivery(challenge_id, "failed")
            db.session.commit()
            raise
        challenges.mark_delivery(challenge_id, "sent")
        audit.record(
            "code.sent", _audit_target(user_id), after={"phone": mask(phone), "purpose": purpose}
        )
        db.session.commit()
    session[_key(kind)] = asdict(pending)
    return pending


def _send_later(
    resolution: Resolution, phone: str, text: str, purpose: str, code: str, challenge_id: int
) -> None:
    """Send a code after the answer (see :mod:`idp.verification.after_answer`)."""
    try:
        dispatch.send(
            resolution,
            recipient=phone,
            text=text,
            purpose=purpose,
            code=code,
            challenge_id=challenge_id,
        )
    except (SmsError, SendingPaused) as exc:  # every attempt is in the message log
        log.warning("sms %s code for %s not sent: %s", purpose, mask(phone), exc.code)
        challenges.mark_delivery(challenge_id, "failed")
    else:
        challenges.mark_delivery(challenge_id, "sent")
    db.session.commit()


def _audit_target(user_id: int | None) -> str | None:
    return f"user:{user_id}" if user_id is not None else None


def refusal(exc: IdpError) -> tuple[str, int, int | None]:
    """What a person reads when no code was sent, the page's status, and Retry-After."""
    if isinstance(exc, SmsError):
        message, status = send_error_message(exc)
        return message, status, None
    return str(exc.user_message()), exc.status, getattr(exc, "retry_after", None)


#: What check_code raises instead of judging: show the message next to the code field.
CODE_REFUSALS = (InvalidInput, SignInLocked, NeedsRecovery)


def lock_key(pending: Pending) -> str:
    """Whose consecutive failures a wrong code adds to: the account, else the number."""
    user_id = pending.user_id
    if user_id is None:
        user_id = db.session.scalar(
            select(User.id).where(User.phone == pending.phone, User.active.is_(True))
        )
    return lockout.subject_key(user_id, "phone", pending.phone)


def check_code(pending: Pending, raw_code: str) -> CheckResult:
    """Judge the code typed for *pending*; on OK the caller commits what it unlocks.

    A withheld code never succeeds: whoever typed it cannot have received it. A wrong code
    also counts against the account (or the number), see :mod:`idp.abuse.lockout`.

    :raises InvalidInput: when what was typed is not digits.
    :raises SignInLocked: too many failures in a row: wait before the code is judged.
    :raises NeedsRecovery: so many failures that an admin must unlock the account.
    """
    key = lock_key(pending)
    lockout.ensure_unlocked(key)
    result = _judge(pending, raw_code)
    metrics.code_verified(result.outcome)
    if result.outcome in (Outcome.WRONG, Outcome.TOO_MANY):
        lockout.failed(key, method=pending.authenticator)
    elif result.ok:  # joins the caller's transaction: recorded only if what it unlocks is
        audit.record(
            "code.verified",
            _audit_target(pending.user_id),
            after={"phone": pending.masked, "purpose": pending.purpose},
        )
    return result


def _judge(pending: Pending, raw_code: str) -> CheckResult:
    result = challenges.check(
        pending.challenge,
        raw_code,
        Purpose(pending.purpose),
        phone=pending.phone if pending.user_id is None else None,
        user_id=pending.user_id,
    )
    if result.ok and pending.withheld:
        db.session.rollback()
        row = result.challenge
        left = max(0, row.max_attempts - row.attempts) if row is not None else 0
        return CheckResult(Outcome.WRONG if left else Outcome.TOO_MANY, row, left)
    return result


def send_error_message(exc: SmsError) -> tuple[str, int]:
    """What a person reads when a code could not be sent, and the status of the page."""
    if isinstance(exc, SmsRecipientError):
        return str(exc.user_message()), 400
    return str(COULD_NOT_SEND), 503


def wait_seconds(pending: Pending) -> int:
    """Seconds until another code may be asked for."""
    settings = state.current().settings
    ready = datetime.fromisoformat(pending.sent_at) + timedelta(
        seconds=settings.code_resend_seconds
    )
    return max(0, math.ceil((ready - state.current().clock()).total_seconds()))


#: Kinds of code whose text goes out after the answer (see :func:`send_code`).
AFTER_ANSWER_KINDS = frozenset({"login"})


def undelivered(pending: Pending) -> bool:
    """Whether the message of *pending*, sent after the answer or queued, could not be sent.

    Other inline sending answers a failure at once, so this is asked only for codes sent
    after the answer or with sms_queue = "redis", and then for every number alike (a withheld
    code is never "failed").
    """
    queued = state.current().settings.sms_queue == "redis"
    if not queued and pending.kind not in AFTER_ANSWER_KINDS:
        return False
    delivery_state = db.session.scalar(
        select(Challenge.delivery).where(Challenge.public_id == pending.challenge)
    )
    return delivery_state == send_queue.NOT_SENT


def code_page(
    pending: Pending,
    *,
    title: str,
    submit: str,
    error: str | None = None,
    status: int = 200,
    restart: bool = False,
    cancel: bool = False,
    retry_after: int | None = None,
) -> Response:
    """The page that asks for the code of *pending*, the same for every number."""
    name = pending.authenticator
    kind = pending.kind
    page = render_template(
        "idp_sms/code.html",
        title=title,
        submit=submit,
        masked=pending.masked,
        action=url_for(f"idp_sms.{kind}_code", name=name),
        resend=url_for(f"idp_sms.{kind}_resend", name=name),
        restart=url_for(f"idp_sms.{kind}_restart", name=name) if restart else None,
        cancel=cancel,
        wait=wait_seconds(pending),
        error=str(error) if error else None,
        undelivered=undelivered(pending),
    )
    response = Response(page, status=status, mimetype="text/html")
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response
