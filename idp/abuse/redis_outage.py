"""Whether Redis answers: one log line when it stops and one when it answers again.

Every Redis call of a request reports here (:meth:`RedisOutage.failed` or
:meth:`RedisOutage.answered`). While Redis is down, callers skip it for :data:`PROBE_SECONDS`
after each failure, so a request does not wait for a connect timeout that is sure to fail,
and one call every few seconds finds out when it answers again: recovery needs no restart.

The workers of one host share a small state file in the instance folder, locked while it
changes, so an outage seen by every worker is logged once, not once per worker or request.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from flask import has_app_context

log = logging.getLogger(__name__)

#: After a failure, Redis is left alone this long before one call tries it again.
PROBE_SECONDS = 2.0
#: What a 503 caused by a Redis outage asks the caller to wait.
RETRY_AFTER_SECONDS = 5
#: The state file (in the instance folder) the workers of one host share.
STATE_FILE = "redis.state"

_UNKNOWN, _UP, _DOWN = "unknown", "up", "down"


class RedisOutage:
    """The state of Redis as this process sees it, and the log of its changes."""

    def __init__(
        self, state_file: Path | None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.state_file = state_file
        self._clock = clock
        self._state = _UNKNOWN
        self._next_try = 0.0
        self._lock = threading.Lock()

    @property
    def down(self) -> bool:
        return self._state == _DOWN

    def should_try(self) -> bool:
        """False while Redis failed less than PROBE_SECONDS ago: use the fallback at once."""
        with self._lock:
            if self._state != _DOWN or self._clock() >= self._next_try:
                self._next_try = self._clock() + PROBE_SECONDS  # one call probes, not all
                return True
            return False

    def failed(self, exc: BaseException) -> None:
        """A Redis call failed: log the outage when it is news to this host."""
        with self._lock:
            self._next_try = self._clock() + PROBE_SECONDS
            if self._state == _DOWN:
                return
            self._state = _DOWN
        if self._record(_DOWN):
            log.error(
                "Redis is unreachable (%s): texts with codes are refused (503) and failed "
                "sign-ins are counted in the database until it answers again",
                type(exc).__name__,
            )

    def answered(self) -> None:
        """A Redis call worked: log the recovery when this host had logged an outage."""
        with self._lock:
            if self._state == _UP:
                return
            self._state = _UP
        if self._record(_UP):
            log.warning("Redis answers again: texts and Redis counters are back in use")

    def _record(self, wanted: str) -> bool:
        """Write *wanted* to the shared file; True when this process changed it (so logs)."""
        if self.state_file is None:
            return wanted == _DOWN
        try:
            fd = os.open(self.state_file, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return wanted == _DOWN  # no shared file: still say that Redis is down
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            current = os.read(fd, 16).decode(errors="replace").strip() or _UP
            if current == wanted:
                return False
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, wanted.encode())
            return True
        finally:
            os.close(fd)  # closing releases the lock


def current() -> RedisOutage | None:
    """This app's tracker (its counter store's), or None when no Redis is configured."""
    from idp import state

    if not has_app_context():
        return None
    tracker = getattr(state.current().counters, "outage", None)
    return tracker if isinstance(tracker, RedisOutage) else None
