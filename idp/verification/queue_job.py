"""The job of queued sending, run by ``poort worker``: see :mod:`idp.verification.queue`."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select

from idp import metrics, state
from idp.abuse.errors import SendingPaused
from idp.extensions import db
from idp.models import Challenge, SmsLogEntry, Verifier
from idp.models.sms_log import ACCEPTED, DELIVERED, FAILED, UNDELIVERED
from idp.security.derived_keys import phone_hash
from idp.sms.encoding import segments
from idp.sms.errors import SmsError, SmsRecipientError
from idp.sms.phone import mask
from idp.verification import attempts, dispatch
from idp.verification.queue import (
    FILE_CHANNEL,
    NOT_SENT,
    PENDING,
    QUEUED,
    SENT,
    _finish,
    _progress,
    _save_progress,
)
from idp.verification.resolution import Channel, Resolution, channel_for

log = logging.getLogger(__name__)

#: What a provider answered when it took the message (the queue's "sent").
TAKEN = (ACCEPTED, DELIVERED, UNDELIVERED)


def deliver(challenge_id: int, job: dict[str, Any]) -> str:
    """Send a queued message (RQ calls this in ``poort worker``, in an app context).

    Returns the challenge's delivery state; raises only when the database or a secret cannot be
    read, so that RQ retries the job.
    """
    s = state.current()
    row = db.session.get(Challenge, challenge_id)
    if row is None:  # pruned, or its account deleted
        log.warning("sms queue: challenge %s is gone; nothing to send", challenge_id)
        return "gone"
    if row.delivery not in (PENDING, QUEUED):  # a second run of a job that finished
        return row.delivery
    secret = json.loads(s.secret_box.open(job["sealed"]))
    recipient, text, code = secret["recipient"], secret["text"], secret.get("code")
    purpose = str(job["purpose"])
    keys: list[int | str] = list(job["channels"])
    # A row still "sending" is from a run that died while its provider was asked (this job
    # runs once at a time): the provider may have taken it. "unknown", and not tried again.
    attempts.settle_interrupted(challenge_id=challenge_id)
    entries = _entries(row, recipient)
    if any(entry.status in TAKEN for entry in entries):
        # A provider took it, and the worker stopped before it could say so.
        return _finish(challenge_id, SENT)
    logged = {_entry_key(entry) for entry in entries}
    # A begun channel without a row never reached its provider (the row is written first).
    begun = [key for key in _progress(row).get("begun", []) if key in logged]
    now = s.clock()
    if row.superseded_at is not None or row.consumed_at is not None:
        log.info("sms queue: challenge %s was replaced before it was sent", challenge_id)
        return _finish(challenge_id, NOT_SENT)
    if row.expires_at <= now:
        _note(
            _next_key(keys, begun),
            recipient=recipient,
            text=text,
            purpose=purpose,
            challenge_id=challenge_id,
            error_class="expired_in_queue",
            error_message="The code expired before a worker could send it; is `poort worker` "
            "running, and keeping up?",
        )
        return _finish(challenge_id, NOT_SENT)
    tried = len(begun)
    for key, channel in _channels(keys):
        if key in begun:
            continue
        if channel is None:
            log.warning("sms queue: channel %s of challenge %s is gone; skipped", key, challenge_id)
            continue
        # Committed before the provider is called: if the worker dies now, the retry knows.
        begun.append(key)
        progress = _progress(row)
        progress["begun"] = begun
        _save_progress(row, progress)
        db.session.commit()
        if tried:
            metrics.sms_failover()
        tried += 1
        try:
            dispatch.send(
                Resolution((channel,), job.get("source")),
                recipient=recipient,
                text=text,
                purpose=purpose,
                code=code,
                challenge_id=challenge_id,
            )
        except SmsRecipientError:
            return _finish(challenge_id, NOT_SENT)
        except (SmsError, SendingPaused):
            continue  # logged by dispatch.send; on to the next channel
        return _finish(challenge_id, SENT)
    if not tried and not entries:
        _note(
            keys[0] if keys else FILE_CHANNEL,
            recipient=recipient,
            text=text,
            purpose=purpose,
            challenge_id=challenge_id,
            error_class="unavailable",
            error_message="No verifier of this code's chain is enabled any more.",
        )
    log.warning(
        "sms queue: no channel could send the %s code to %s (%d tried)",
        purpose,
        mask(recipient),
        tried,
    )
    return _finish(challenge_id, NOT_SENT)


def _channels(keys: Iterable[int | str]) -> list[tuple[int | str, Channel | None]]:
    """The job's channels, rebuilt now: a verifier since disabled or deleted gives None."""
    s = state.current()
    found: list[tuple[int | str, Channel | None]] = []
    for key in keys:
        if key == FILE_CHANNEL:
            found.append((key, s.file_sms))
            continue
        row = db.session.get(Verifier, int(key))
        usable = (
            row is not None and row.enabled and s.registry.sms_provider(row.provider) is not None
        )
        found.append((key, channel_for(row) if usable and row is not None else None))
    return found


def _next_key(keys: Sequence[int | str], begun: Sequence[int | str]) -> int | str:
    return next((key for key in keys if key not in begun), keys[0] if keys else FILE_CHANNEL)


def _entries(row: Challenge, recipient: str | None) -> list[SmsLogEntry]:
    """The message-log rows of *row*'s attempts (through the recipient index when known)."""
    query = select(SmsLogEntry).where(SmsLogEntry.challenge_id == row.id)
    if recipient:
        query = query.where(
            SmsLogEntry.recipient_hash == phone_hash(recipient),
            SmsLogEntry.created_at >= row.created_at,
        )
    return list(db.session.scalars(query.order_by(SmsLogEntry.id)))


def _entry_key(entry: SmsLogEntry) -> int | str | None:
    if entry.verifier_id is not None:
        return entry.verifier_id
    return FILE_CHANNEL if entry.verifier_name == "poort.toml" else None


def _note(
    key: int | str,
    *,
    recipient: str,
    text: str | None,
    purpose: str,
    challenge_id: int,
    error_class: str,
    error_message: str,
) -> None:
    """A message-log row for a message that no provider was asked to take (or no answer came)."""
    s = state.current()
    verifier_id: int | None = None
    name, provider, currency = "poort.toml", "unknown", "EUR"
    if key == FILE_CHANNEL:
        if s.file_sms is not None:
            provider, currency = s.file_sms.provider, s.file_sms.currency
    else:
        found = db.session.get(Verifier, int(key))
        if found is not None:
            verifier_id = found.id
            name, provider, currency = found.name, found.provider, found.currency
        else:
            name = f"verifier {key}"
    info = segments(text or "")
    db.session.add(
        SmsLogEntry(
            created_at=s.clock(),
            reference=secrets.token_hex(16),
            verifier_id=verifier_id,
            verifier_name=name[:40],
            provider=provider[:40],
            recipient_masked=mask(recipient),
            recipient_hash=phone_hash(recipient),
            purpose=purpose,
            segments=max(1, info.count),
            encoding=info.encoding,
            currency=currency,
            challenge_id=challenge_id,
            status=FAILED,
            latency_ms=None,
            error_class=error_class,
            error_message=error_message[:300],
        )
    )
    db.session.commit()
