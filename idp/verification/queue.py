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
challenge's context and committed; :func:`dispatch.send` then logs the attempt ("sending",
committed) before the provider is asked. A retry (the job raised, or its worker died and RQ
re-queued the abandoned job) skips every begun channel that has a row. A row still "sending"
was cut off mid-send: the provider may have taken the message or not, so it becomes
``unknown`` (its cost counted) and is never tried again; the next channel is. A begun channel
without a row never reached its provider and is tried. A message the log shows taken by a
provider is never sent again.

**Every path ends in "sent" or "failed"**, with the message log saying why:

- a provider took the message: ``sent``;
- the provider refused the number, or every channel failed or was cut off: ``failed``;
- the code expired before a worker got to it: ``failed``, row ``expired_in_queue``;
- a newer code replaced it before it was sent: ``failed``; nothing is sent (the new one is);
- the job failed for good (RQ's retries spent) or vanished from Redis: the reconciler
  (:mod:`idp.verification.queue_reconciler`), run by ``poort worker`` at start and every
  :data:`MAINTENANCE_SECONDS`, re-queues a failed job that still has channels left while its
  code is valid, and otherwise marks the code ``failed`` (row ``queue_lost`` when no attempt
  was logged). It also marks every abandoned "sending" row ``unknown``, inline sends included.

``rq`` and ``redis`` (the ``redis`` extra) are imported only when queued sending is used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy import update

from idp import state
from idp.abuse import redis_outage
from idp.abuse.errors import SendingUnavailable
from idp.extensions import db
from idp.models import Challenge
from idp.sms.errors import SmsNotSent
from idp.verification import challenges
from idp.verification.resolution import Channel, Resolution

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
JOB_FUNCTION = "idp.verification.queue_job.deliver"
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

    :raises SendingUnavailable: Redis could not take the job (a 503 with Retry-After; the
        challenge is then "failed", nothing is sent, and the person asks again later).
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
        outage = redis_outage.current()
        if outage is not None:
            outage.failed(exc)  # logged once per outage, not once per code
        _finish(challenge_id, NOT_SENT)
        raise SendingUnavailable() from exc


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


def deliver(challenge_id: int, job: dict[str, Any]) -> str:
    """Where jobs enqueued before the split find the job (RQ imports it by dotted name)."""
    from idp.verification.queue_job import deliver as run

    return run(challenge_id, job)


def reconcile(client: Redis) -> Counter[str]:
    """See :func:`idp.verification.queue_reconciler.reconcile` (``poort worker`` calls this)."""
    from idp.verification.queue_reconciler import reconcile as run

    return run(client)


__all__ = [
    "FILE_CHANNEL",
    "QUEUED",
    "deliver",
    "enqueue",
    "job_id",
    "queue_name",
    "reconcile",
]
