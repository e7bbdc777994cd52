"""The reconciler of queued sending, run by ``poort worker``: see :mod:`idp.verification.queue`."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from idp import state
from idp.extensions import db
from idp.models import Challenge
from idp.verification import attempts
from idp.verification.queue import (
    NOT_SENT,
    QUEUED,
    RECONCILE_AFTER,
    _finish,
    _progress,
    job_id,
    serializer,
)
from idp.verification.queue_job import _entries, _next_key, _note

if TYPE_CHECKING:
    from redis import Redis

log = logging.getLogger(__name__)


def reconcile(client: Redis) -> Counter[str]:
    """Settle queued codes whose job failed for good or vanished (run by ``poort worker``).

    A job RQ still holds (waiting, scheduled for a retry, or running) is left to RQ, which
    re-queues it when its worker died (the StartedJobRegistry cleanup). A failed job whose code
    is still valid and that has channels left is re-queued: it goes on with the next channel.
    Everything else is marked "failed". Returns what was done, by kind.
    """
    now = state.current().clock()
    done: Counter[str] = Counter()
    # Inline sends too: a web worker killed mid-send leaves its row "sending".
    interrupted = attempts.settle_interrupted(now)
    if interrupted:
        done["interrupted"] = interrupted
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
    """Mark *row* failed; the message log gets a row when no attempt was ever logged."""
    # Its job is over: an attempt still "sending" was cut off mid-send.
    attempts.settle_interrupted(challenge_id=row.id)
    if row.phone and not _entries(row, row.phone):
        progress = _progress(row)
        _note(
            _next_key(progress.get("channels", []), []),
            recipient=row.phone,
            text=None,
            purpose=row.purpose,
            challenge_id=row.id,
            error_class=error_class,
            error_message=message,
        )
    log.warning("sms queue: challenge %s not sent: %s", row.id, error_class)
    _finish(row.id, NOT_SENT)
