"""One message-log row per attempt at one provider: written before the provider is called.

An attempt is logged ``sending``, with what it will cost, and committed *before* the provider
is asked to take the message; the provider's answer completes the row. Whatever dies in
between (the worker, killed; the database, gone), a message a provider may have taken and
billed is in the log, and its cost counts in spend and budgets from the start.

A row still ``sending`` after :data:`UNKNOWN_AFTER` was left by a worker that died mid-send:
every provider call ends well before (connect and read timeouts are seconds; a queued job is
stopped after two minutes). Admins see such a row as ``unknown``; :func:`settle_interrupted`
(run by ``poort worker`` and ``poort prune``) writes that down. Its estimated cost stays: the
provider may well have sent and billed it.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import ColumnElement, and_, or_, update

from idp import state
from idp.extensions import db
from idp.models import SmsLogEntry
from idp.models.sms_log import SENDING, UNKNOWN
from idp.security.derived_keys import phone_hash
from idp.sms.encoding import segments
from idp.sms.phone import mask
from idp.sms.provider import SmsMessage
from idp.verification.resolution import Channel

#: A row "sending" for longer than this was abandoned by its worker; it reads "unknown".
UNKNOWN_AFTER = timedelta(seconds=120)
INTERRUPTED = "interrupted"
INTERRUPTED_MESSAGE = (
    "The sender stopped while the provider was being asked; whether the provider took (and "
    "billed) the message is unknown. It was not tried again."
)


def row_for(
    channel: Channel, message: SmsMessage, challenge_id: int | None, **values: object
) -> SmsLogEntry:
    """A new message-log row for *message* through *channel* (added, not committed)."""
    info = segments(message.text)
    values.setdefault("segments", info.count)
    entry = SmsLogEntry(
        created_at=state.current().clock(),
        reference=message.reference or secrets.token_hex(16),
        verifier_id=channel.verifier_id,
        verifier_name=channel.name,
        provider=channel.provider,
        recipient_masked=mask(message.recipient),
        recipient_hash=phone_hash(message.recipient),
        purpose=message.purpose,
        encoding=info.encoding,
        currency=channel.currency,
        challenge_id=challenge_id,
        **values,
    )
    db.session.add(entry)
    return entry


def begin(channel: Channel, message: SmsMessage, challenge_id: int | None) -> int:
    """Log the attempt as "sending", at its expected cost, and commit; returns the row id.

    Call this right before the provider; nothing may be sent when it raised.
    """
    count = segments(message.text).count
    entry = row_for(
        channel,
        message,
        challenge_id,
        status=SENDING,
        segments=count,
        cost=Decimal(channel.price_per_segment) * count,
    )
    db.session.commit()
    return entry.id


def complete(entry_id: int, **values: object) -> None:
    """Write the provider's answer into the attempt's row and commit.

    A row the reconciler already marked "unknown" (a slow provider) still gets the real answer.
    """
    db.session.execute(
        update(SmsLogEntry)
        .where(SmsLogEntry.id == entry_id, SmsLogEntry.status.in_((SENDING, UNKNOWN)))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def stale_before(now: datetime) -> datetime:
    """Rows "sending" created before this moment are abandoned."""
    return now - UNKNOWN_AFTER


def unknown_now(now: datetime) -> ColumnElement[bool]:
    """Rows that read "unknown" at *now*: marked so, or "sending" and abandoned."""
    cutoff = stale_before(now)
    return or_(
        SmsLogEntry.status == UNKNOWN,
        and_(SmsLogEntry.status == SENDING, SmsLogEntry.created_at <= cutoff),
    )


def sending_now(now: datetime) -> ColumnElement[bool]:
    """Rows whose provider is being asked at *now* (not yet abandoned)."""
    return and_(SmsLogEntry.status == SENDING, SmsLogEntry.created_at > stale_before(now))


def shown_status(status: str, created_at: datetime, now: datetime) -> str:
    """What an admin reads for a row: an abandoned "sending" is "unknown"."""
    if status == SENDING and created_at <= stale_before(now):
        return UNKNOWN
    return status


def settle_interrupted(
    now: datetime | None = None, *, challenge_id: int | None = None, commit: bool = True
) -> int:
    """Mark abandoned "sending" rows "unknown" (and commit); returns how many.

    With *challenge_id*, that challenge's rows whatever their age (its sender is known dead).
    """
    where: list[ColumnElement[bool]] = [SmsLogEntry.status == SENDING]
    if challenge_id is not None:
        where.append(SmsLogEntry.challenge_id == challenge_id)
    else:
        where.append(SmsLogEntry.created_at <= stale_before(now or state.current().clock()))
    result = db.session.execute(
        update(SmsLogEntry)
        .where(*where)
        .values(status=UNKNOWN, error_class=INTERRUPTED, error_message=INTERRUPTED_MESSAGE)
        .execution_options(synchronize_session=False)
    )
    if commit:
        db.session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
