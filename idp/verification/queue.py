"""Queued sending (``sms_queue = "redis"``): the request enqueues, ``poort worker`` texts.

The code request returns as soon as the job is in Redis; a worker sends it through the same
:func:`idp.verification.dispatch.send` as inline sending (one message-log row per attempt,
per-verifier budgets). A known number and an unknown one (withheld, never sent) then take the
same time to answer: neither waits for a provider.

**What is in Redis.** A job holds the challenge id, the purpose, the channel order as verifier
ids (:data:`FILE_CHANNEL` for the ``[sms]`` table of poort.toml) and one token sealed with the
app's secret box (Fernet, ``instance/secret.keys``) that holds the number, the text and the
code. Jobs are JSON, never pickles, so whoever can write to Redis cannot run code in the
worker. A finished job is deleted at once; a failed one, with its sealed token, after an hour.

**Exactly once per channel.** Before a channel is tried, its key is added to ``begun`` in the
challenge's context and committed; :func:`dispatch.send` then logs the attempt. A retry (the job
raised, or its worker died and RQ re-queued the abandoned job) skips every begun channel. One
without a row in the message log was cut off mid-send: the provider may have taken the message
or not, so it gets a row ``interrupted`` and is never tried again; the next channel is. A
message the log shows taken by a provider is never sent again.

**Every path ends in "sent" or "failed"**, with the message log saying why:

- a provider took the message: ``sent``;
- the provider refused the number, or every channel failed or was cut off: ``failed``;
- the code expired before a worker got to it: ``failed``, row ``expired_in_queue``;
- a newer code replaced it before it was sent: ``failed``; nothing is sent (the new one is);
- the job failed for good (RQ's retries spent) or vanished from Redis: the reconciler, run by
  ``poort worker`` at start and every :data:`MAINTENANCE_SECONDS`, re-queues a failed job
  that still has channels left while its code is valid, and otherwise marks the code
  ``failed`` (row ``queue_lost`` when no attempt was logged).

``rq`` and ``redis`` (the ``redis`` extra) are imported only when queued sending is used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy import select, update

from idp import metrics, state
from idp.abuse.errors import SendingPaused
from idp.extensions import db
from idp.models import Challenge, SmsLogEntry, Verifier
from idp.models.sms_log import FAILED
from idp.security.derived_keys import phone_hash
from idp.sms.encoding import segments
from idp.sms.errors import SmsError, SmsNotSent, SmsRecipientError
from idp.sms.phone import mask
from idp.verification import challenges, dispatch
from idp.verification.resolution import Channel, Resolution, channel_for

if TYPE_CHECKING:
    from redis import Redis
    from rq.job import Job

log = logging.getLogger(__name__)

#: Delivery states of a challenge (see :class:`idp.models.Challenge`).
PENDING = "pending"
QUEUED = "queued"
SENT = "sent"
NOT_SENT = "failed"

#: The key of the ``[sms]`` table's channel in a job (verifiers are keyed by their id).
FILE_CHANNEL = "file"
#: The dotted name RQ imports in the worker.
JOB_FUNCTION = "idp.verification.queue.deliver"
#: Seconds one run of a job may take. Providers time out on their own well before this.
JOB_TIMEOUT = 120
#: Retries of a job that raised or whose worker died: the first at once (on the next channel,
#: while the person waits), then later, for an outage of the database or of Redis.
RETRY_INTERVALS = (0, 15, 45)
#: A failed job, and the sealed token in it, is deleted after this many seconds.
FAILED_JOB_TTL = 3600
#: How often a worker cleans RQ's registries and reconciles (and its idle Redis wait).
MAINTENANCE_SECONDS = 30
#: A queued code younger than this is left alone by the reconciler: its job may be on its way.
RECONCILE_AFTER = timedelta(seconds=60)

INTERRUPTED = (
    "The worker stopped during this attempt; whether the provider took the message is "
    "unknown. It was not tried again."
)

_JOB_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def serializer() -> Any:
    from rq.serializers import JSONSerializer

    return JSONSerializer


def queue_name() -> str:
    """The queue this app enqueues to (and ``poort worker`` works on by default)."""
    return f"{state.settings().redis_prefix}sms"


def job_id(challenge: Challenge) -> str:
    """The job of *challenge*: the same challenge always gives the same id (idempotent).

    The public id's hash makes it unique even when a database reuses a deleted row's id.
    """
    prefix = _JOB_ID_UNSAFE.sub("-", state.settings().redis_prefix)
    tag = hashlib.sha256(challenge.public_id.encode()).hexdigest()[:12]
    return f"{prefix}sms-{challenge.id}-{tag}"


def connection() -> Redis:
    """This app's Redis client for enqueueing: short timeouts, a request must not hang."""
    extensions = current_app.extensions
    client = extensions.get("idp.sms_queue")
    if client is None:
        import redis

        client = extensions["idp.sms_queue"] = redis.Redis.from_url(
            str(state.settings().redis_url),
            socket_timeout=2,
            socket_connect_timeout=2,
            health_check_interval=30,
        )
    return client


def channel_key(channel: Channel) -> int | str:
    return channel.verifier_id if channel.verifier_id is not None else FILE_CHANNEL


def _progress(row: Challenge) -> dict[str, Any]:
    queued = (row.context or {}).get("queue")
    return dict(queued) if isinstance(queued, dict) else {}


def _save_progress(row: Challenge, progress: dict[str, Any]) -> None:
    row.context = {**(row.context or {}), "queue": progress}


def enqueue(
    resolution: Resolution,
    *,
    recipient: str,
    text: str,
    purpose: str,
    code: str | None,
    challenge_id: int,
) -> Job:
    """Hand the message to the queue; the challenge's delivery becomes "queued" (committed).

    Enqueueing the same challenge again returns the job already there.

    :raises SmsNotSent: Redis could not take the job (the challenge is then "failed").
    """
    from redis import RedisError
    from rq import Queue, Retry
    from rq.exceptions import DuplicateJobError
    from rq.job import Job

    if not resolution.available:
        raise SmsNotSent(resolution.reason or "No verifier is available.")
    s = state.current()
    row = db.session.get(Challenge, challenge_id)
    if row is None:
        raise ValueError(f"no challenge {challenge_id}")
    keys = [channel_key(channel) for channel in resolution.channels]
    if not _progress(row):
        _save_progress(row, {"channels": keys, "begun": []})
    if row.delivery == PENDING:
        row.delivery = QUEUED
    # Committed before the job exists, so a worker never finds a job without its challenge.
    db.session.commit()
    sealed = s.secret_box.seal(json.dumps({"recipient": recipient, "text": text, "code": code}))
    payload = {
        "channels": keys,
        "source": resolution.source,
        "purpose": purpose,
        "sealed": sealed,
    }
    name = job_id(row)
    client = connection()
    queue = Queue(queue_name(), connection=client, serializer=serializer())
    try:
        return queue.enqueue_call(
            JOB_FUNCTION,
            args=(challenge_id, payload),
            job_id=name,
            unique=True,
            description=f"SMS code, challenge {challenge_id}",
            timeout=JOB_TIMEOUT,
            # A job still waiting when its code expires is pointless; Redis drops it.
            ttl=s.settings.code_ttl_seconds,
            result_ttl=0,
            failure_ttl=FAILED_JOB_TTL,
            retry=Retry(max=len(RETRY_INTERVALS), interval=list(RETRY_INTERVALS)),
        )
    except DuplicateJobError:
        return Job.fetch(name, connection=client, serializer=serializer())
    except (RedisError, OSError) as exc:
        log.error("sms queue: Redis did not take the job of challenge %s: %s", challenge_id, exc)
        _finish(challenge_id, NOT_SENT)
        raise SmsNotSent("The queue of text messages is not reachable.") from exc


# -- the job, in the worker ---------------------------------------------------------------------


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
    entries = _entries(row, recipient)
    if any(entry.status != FAILED for entry in entries):
        # A provider took it, and the worker stopped before it could say so.
        return _finish(challenge_id, SENT)
    begun: list[int | str] = list(_progress(row).get("begun", []))
    logged = {_entry_key(entry) for entry in entries}
    for key in begun:
        if key not in logged:
            _note(
                key,
                recipient=recipient,
                text=text,
                purpose=purpose,
                challenge_id=challenge_id,
                error_class="interrupted",
                error_message=INTERRUPTED,
            )
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


def _finish(challenge_id: int, outcome: str) -> str:
    """Record the end of a queued message; "failed" never overwrites "sent"."""
    if outcome == SENT:
        challenges.mark_delivery(challenge_id, SENT)
    else:
        db.session.execute(
            update(Challenge)
            .where(Challenge.id == challenge_id, Challenge.delivery.in_((PENDING, QUEUED)))
            .values(delivery=outcome)
            .execution_options(synchronize_session=False)
        )
    db.session.commit()
    return outcome


# -- the reconciler -------------------------------------------------------------------------------


def reconcile(client: Redis) -> Counter[str]:
    """Settle queued codes whose job failed for good or vanished (run by ``poort worker``).

    A job RQ still holds (waiting, scheduled for a retry, or running) is left to RQ, which
    re-queues it when its worker died (the StartedJobRegistry cleanup). A failed job whose code
    is still valid and that has channels left is re-queued: it goes on with the next channel.
    Everything else is marked "failed". Returns what was done, by kind.
    """
    now = state.current().clock()
    done: Counter[str] = Counter()
    rows = list(
        db.session.scalars(
            select(Challenge).where(
                Challenge.delivery == QUEUED, Challenge.created_at <= now - RECONCILE_AFTER
            )
        )
    )
    for row in rows:
        try:
            outcome = _reconcile_one(client, row, now)
        except Exception:  # one bad row must not keep the others queued forever
            db.session.rollback()
            log.exception("sms queue: could not reconcile challenge %s", row.id)
            continue
        if outcome:
            done[outcome] += 1
    if rows:
        log.info("sms queue: reconciled %s", dict(done) or "nothing")
    return done


def _reconcile_one(client: Redis, row: Challenge, now: datetime) -> str | None:
    from rq.exceptions import NoSuchJobError
    from rq.job import Job, JobStatus

    try:
        job: Job | None = Job.fetch(job_id(row), connection=client, serializer=serializer())
    except NoSuchJobError:
        job = None
    status = job.get_status(refresh=False) if job is not None else None
    waiting = status in (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED)
    valid = row.expires_at > now
    if job is not None and waiting and not valid:
        job.delete()  # the code is void; the job would only say so, later
        _lost(row, "expired_in_queue", "The code expired before a worker could send it.")
        return "expired"
    if waiting or status == JobStatus.STARTED:
        return None  # RQ still has it
    if job is not None and status == JobStatus.FAILED and valid and _channels_left(row):
        job.requeue()
        log.warning("sms queue: the job of challenge %s failed; re-queued", row.id)
        return "requeued"
    if job is not None:
        job.delete()
    _lost(
        row,
        "queue_lost",
        "The queued message was lost (its job failed or left Redis) before it was sent.",
    )
    return "failed"


def _channels_left(row: Challenge) -> bool:
    progress = _progress(row)
    return bool(set(progress.get("channels", [])) - set(progress.get("begun", [])))


def _lost(row: Challenge, error_class: str, message: str) -> None:
    """Mark *row* failed; the message log gets a row for what was cut off or never tried."""
    if row.phone:
        entries = _entries(row, row.phone)
        logged = {_entry_key(entry) for entry in entries}
        progress = _progress(row)
        begun = list(progress.get("begun", []))
        notes = [(key, "interrupted", INTERRUPTED) for key in begun if key not in logged]
        if not entries and not begun:
            notes.append((_next_key(progress.get("channels", []), begun), error_class, message))
        for key, kind, text in notes:
            _note(
                key,
                recipient=row.phone,
                text=None,
                purpose=row.purpose,
                challenge_id=row.id,
                error_class=kind,
                error_message=text,
            )
    log.warning("sms queue: challenge %s not sent: %s", row.id, error_class)
    _finish(row.id, NOT_SENT)


__all__ = [
    "FILE_CHANNEL",
    "QUEUED",
    "deliver",
    "enqueue",
    "job_id",
    "queue_name",
    "reconcile",
]
