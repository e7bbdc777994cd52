"""The worker behind ``poort worker``: RQ sends the queued text messages (sms_queue = "redis").

The app is built once; every job, and every round of maintenance, runs in an app context of
its own, so each has a fresh database session. See :mod:`idp.verification.queue` for what a
job does and how nothing is lost when a worker dies.

Why :class:`rq.SimpleWorker` (the job runs in the worker's process) rather than RQ's forking
``Worker`` (a child process per job):

- a forked child inherits the parent's database connections, HTTP sessions and SMPP binds
  (``state.sms_connections``), which must never be shared between processes; it would have to
  drop them all and connect again for every single message, which is most of the work;
- kept in one process, those connections are reused from one message to the next, as in a
  gunicorn thread, so a queued code costs no more than an inline one;
- a job is short and bounded: providers time out on their own, and the job timeout (SIGALRM in
  the main thread) bounds the rest.

What a fork would add, surviving a job that brings the interpreter down, the queue already
covers: when a worker dies mid-send, RQ re-queues the abandoned job and it goes on with the next
channel. Run more than one ``poort worker`` for capacity and for redundancy.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from typing import Any

from flask import Flask

from idp import state
from idp.errors import ConfigError
from idp.extensions import db
from idp.verification import queue as sms_queue

log = logging.getLogger(__name__)

#: How long a stopping worker waits for its command listener to read the last reply.
_LISTENER_STOP_SECONDS = 5

try:  # the redis extra; `poort worker` says so when it is missing
    from rq import SimpleWorker
except ImportError:  # pragma: no cover - exercised without the extra only
    SimpleWorker = object  # type: ignore[assignment,misc]


class PoortWorker(SimpleWorker):
    """An RQ worker that runs each job, and its maintenance, inside the app."""

    def __init__(self, *args: Any, app: Flask, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.app = app

    def execute_job(self, job: Any, queue: Any) -> None:
        with self.app.app_context():
            try:
                super().execute_job(job, queue)
            finally:
                db.session.remove()

    def run_maintenance_tasks(self) -> None:
        # RQ's cleanup first: abandoned jobs (their worker died) are retried or failed; the
        # reconciler then settles what failed for good or left Redis.
        with self.app.app_context():
            try:
                super().run_maintenance_tasks()
                self.reconcile()
            finally:
                db.session.remove()

    def unsubscribe(self) -> None:
        """Stop listening for RQ's commands (stop-job, shutdown), without waiting out a read.

        RQ 3 sends UNSUBSCRIBE and only then stops the listener thread; with redis-py 8 the
        stop waits for the thread, which by then may have read the reply and gone back to
        waiting up to 60 s for a subscription. Stopping it first lets the reply end its loop,
        so `poort worker --burst` returns as soon as the queue is empty.
        """
        thread, pubsub = self.pubsub_thread, self.pubsub
        if thread is None or pubsub is None:
            return
        thread.stop(timeout=0)  # clears its running flag; the join is left for below
        with contextlib.suppress(Exception):  # Redis gone: the socket closes below anyway
            pubsub.unsubscribe()
        thread.join(timeout=_LISTENER_STOP_SECONDS)
        pubsub.close()
        self.pubsub_thread = None

    def reconcile(self) -> None:
        """Settle lost and failed jobs; one worker at a time (the others skip this round)."""
        prefix = state.settings().redis_prefix
        lock = self.connection.lock(
            f"{prefix}sms-queue:reconcile", timeout=max(10, self.maintenance_interval)
        )
        if not lock.acquire(blocking=False):
            return
        try:
            sms_queue.reconcile(self.connection)
        except Exception:  # the worker must live on to send the next message
            db.session.rollback()
            log.exception(
                "sms queue: reconciling failed; next round in %ss", self.maintenance_interval
            )
        finally:
            with contextlib.suppress(Exception):  # expired meanwhile: another may run now
                lock.release()


def run_worker(
    app: Flask, *, queue: str | None = None, burst: bool = False, name: str | None = None
) -> bool:
    """Work on the queue until SIGTERM (warm: the message being sent is finished first), or,
    with *burst*, until it is empty. Returns whether any job ran.

    :raises ConfigError: when redis_url is not set.
    """
    import redis
    from rq import Queue

    with app.app_context():
        settings = state.settings()
        if not settings.redis_url:
            raise ConfigError(
                "poort worker needs redis_url (or REDIS_URL): the queue lives in Redis",
                setting="redis_url",
            )
        queue_name = queue or sms_queue.queue_name()
        # RQ's scheduler runs in a forked process: it must not inherit database connections.
        db.engine.dispose()
    connection = redis.Redis.from_url(settings.redis_url)
    serializer = sms_queue.serializer()
    worker = PoortWorker(
        [Queue(queue_name, connection=connection, serializer=serializer)],
        connection=connection,
        app=app,
        name=name,
        serializer=serializer,
        maintenance_interval=sms_queue.MAINTENANCE_SECONDS,
        # The idle wait for a job is worker_ttl - 15 s: maintenance runs that often.
        worker_ttl=sms_queue.MAINTENANCE_SECONDS + 15,
    )
    signals = (signal.SIGINT, signal.SIGTERM)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = {number: signal.getsignal(number) for number in signals} if main_thread else {}
    try:
        # The scheduler brings retries that wait (RETRY_INTERVALS) back into the queue.
        return bool(worker.work(burst=burst, with_scheduler=True))
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        connection.close()
