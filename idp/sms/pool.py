"""A small pool of long-lived provider connections (an SMPP bind), owned by the app.

Providers are made afresh for every message, so a connection worth keeping (a bound SMPP
session costs a TCP and a bind round trip) cannot live on the provider. It lives here, on the
app's state, and is lent to one message at a time:

    connection = pool.acquire(key, factory)   # an idle one for this key, or factory()
    ...                                       # use it; nobody else has it meanwhile
    pool.release(key, connection)             # back to the idle list (closed if broken)

A connection is any object with ``close()``; it may also have ``broken`` (a true value makes
:meth:`ConnectionPool.release` close it instead of keeping it) and ``keepalive()`` (called by
the pool's keeper thread on idle connections every ``keeper_interval`` seconds; it answers
False, or raises, when the connection is dead, and is then closed). The keeper starts with the
first released connection and stops in :meth:`ConnectionPool.close`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


def _close_quietly(connection: Any) -> None:
    try:
        connection.close()
    except Exception:  # a connection that cannot even close cleanly is gone anyway
        log.debug("closing a pooled connection failed", exc_info=True)


class ConnectionPool:
    """Idle connections per key, at most ``max_idle`` each, kept alive by one thread."""

    def __init__(self, *, max_idle: int = 2, keeper_interval: float = 5.0) -> None:
        self.max_idle = max_idle
        self.keeper_interval = keeper_interval
        self._idle: dict[Hashable, list[Any]] = {}
        self._checking: Counter[Hashable] = Counter()  # idle ones the keeper holds right now
        self._lock = threading.Condition()
        self._closed = False
        self._stop = threading.Event()
        self._keeper: threading.Thread | None = None

    def acquire(self, key: Hashable, factory: Callable[[], T], wait: float = 5.0) -> T:
        """An idle connection for *key*, or a new one from *factory* (which may raise).

        While the keeper is checking an idle connection of *key*, wait for it (at most
        *wait* seconds) rather than open a second one.
        """
        deadline = time.monotonic() + wait
        with self._lock:
            while True:
                idle = self._idle.get(key)
                if idle:
                    connection: T = idle.pop()
                    return connection
                left = deadline - time.monotonic()
                if not self._checking[key] or left <= 0:
                    break
                self._lock.wait(timeout=left)
        return factory()

    def release(self, key: Hashable, connection: Any) -> None:
        """Give *connection* back; a broken one, or one too many, is closed."""
        self._release(key, connection, checked=False)

    def _release(self, key: Hashable, connection: Any, *, checked: bool) -> None:
        keep = False
        with self._lock:
            if checked:
                self._checking[key] -= 1
            if not self._closed and not getattr(connection, "broken", False):
                idle = self._idle.setdefault(key, [])
                if len(idle) < self.max_idle:
                    idle.append(connection)
                    keep = True
            if keep:
                self._start_keeper()
            self._lock.notify_all()
        if not keep:
            _close_quietly(connection)

    def discard(self, connection: Any) -> None:
        """Close a connection that was lent out and is not coming back."""
        _close_quietly(connection)

    def idle_count(self, key: Hashable | None = None) -> int:
        with self._lock:
            if key is not None:
                return len(self._idle.get(key, []))
            return sum(len(idle) for idle in self._idle.values())

    def keepalive(self) -> None:
        """One round of the keeper: let every idle connection prove it is alive."""
        with self._lock:
            taken = [(key, conn) for key, idle in self._idle.items() for conn in idle]
            self._idle = {}
            self._checking.update(key for key, _ in taken)
        for key, connection in taken:
            alive = False
            check = getattr(connection, "keepalive", None)
            try:
                alive = True if check is None else bool(check())
            except Exception:  # noqa: S110 - a dead connection is closed below, not reported
                alive = False
            if alive:
                self._release(key, connection, checked=True)
            else:
                log.info("a pooled SMS connection stopped answering; it was closed")
                with self._lock:
                    self._checking[key] -= 1
                    self._lock.notify_all()
                _close_quietly(connection)

    def close(self) -> None:
        """Stop the keeper and close every idle connection; the pool keeps no more."""
        with self._lock:
            self._closed = True
            idle = [conn for conns in self._idle.values() for conn in conns]
            self._idle = {}
            keeper, self._keeper = self._keeper, None
        self._stop.set()
        if keeper is not None and keeper is not threading.current_thread():
            keeper.join(timeout=5)
        for connection in idle:
            _close_quietly(connection)

    # -- the keeper thread ----------------------------------------------------------------

    def _start_keeper(self) -> None:
        """Start the keeper thread if it is not running (the lock is held)."""
        if self._keeper is not None or self.keeper_interval <= 0:
            return
        self._keeper = threading.Thread(target=self._keep, name="sms-pool-keeper", daemon=True)
        self._keeper.start()

    def _keep(self) -> None:
        while not self._stop.wait(self.keeper_interval):
            try:
                self.keepalive()
            except Exception:  # the keeper must outlive any one connection's fault
                log.exception("the SMS connection keeper failed a round")
