"""Database outages: 503 with ``Retry-After`` instead of a 500, and one log line per change.

A request that finds the database unreachable (refused, cut off, shutting down, the pool out
of connections) ends in :class:`~idp.errors.DatabaseUnavailable`: a page in the person's
language, or JSON for OAuth and API clients. Nothing is half-written: the transaction of the
request is rolled back with its connection, and the session row is not saved.

The log says when the database went away and when it came back, once each for all workers of
the instance: the first worker to see a failure creates ``database-down`` in the instance
folder and logs; the first new connection afterwards removes it and logs the recovery.
``pool_pre_ping`` replaces connections that died with the server, so recovery needs no restart.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from flask import Flask, g, request
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

log = logging.getLogger(__name__)

#: Endpoints that answer during an outage without the session: the probes (/readyz reports it).
OUTAGE_ENDPOINTS = frozenset({"health.healthz", "health.readyz", "static"})
#: Seconds a 503 asks the client to wait.
RETRY_AFTER = 5
#: Marker files in the instance folder, shared by the workers of one instance.
DOWN_FILE = "database-down"
UP_FILE = "database-up"
#: A failure this soon after the recovery was logged is the same outage ending, not a new one.
SETTLE_SECONDS = 3.0
_FLAG = "database_unavailable"
_SQLITE_DOWN = ("database is locked", "unable to open database file", "disk i/o error")


def is_unavailable(exc: BaseException) -> bool:
    """Whether *exc* means the database cannot be reached now, rather than a fault of ours."""
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    if type(exc.orig).__module__.startswith("psycopg"):
        return True  # PostgreSQL's operational errors are connection, shutdown, resource ones
    return any(text in str(exc.orig).lower() for text in _SQLITE_DOWN)


def _kind(exc: BaseException) -> str:
    """The kind of failure, never its text: driver messages may name hosts and users."""
    orig = getattr(exc, "orig", None)
    return type(orig if isinstance(orig, BaseException) else exc).__name__


class OutageLog:
    """The down and up lines, once per change for every worker of one instance folder."""

    def __init__(self, folder: Path) -> None:
        self.down = folder / DOWN_FILE
        self.up = folder / UP_FILE
        self._down_here = False  # when the folder cannot be written: this process only

    def went_down(self, exc: BaseException) -> None:
        try:
            if time.time() - self.up.stat().st_mtime < SETTLE_SECONDS:
                return
        except OSError:
            pass
        try:
            os.close(os.open(self.down, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            return
        except OSError:
            if self._down_here:
                return
            self._down_here = True
        log.warning("database unavailable (%s): answering 503 until it is back", _kind(exc))

    def came_up(self) -> None:
        try:
            self.down.unlink()
        except FileNotFoundError:
            if not self._down_here:
                return
        except OSError:
            if not self._down_here:
                return
        self._down_here = False
        try:
            self.up.touch()
        except OSError:
            pass
        log.warning("database reachable again")


def note(exc: BaseException) -> None:
    """Record that this request found the database unavailable (logs on the first)."""
    setattr(g, _FLAG, True)
    outage: OutageLog | None = _outage_log()
    if outage is not None:
        outage.went_down(exc)


def seen() -> bool:
    """Whether this request already found the database unavailable (then do not ask it)."""
    return bool(g.get(_FLAG, False))


def _outage_log() -> OutageLog | None:
    from flask import current_app

    outage: OutageLog | None = current_app.extensions.get("idp_outage")
    return outage


def install(app: Flask) -> None:
    """Log recoveries from the engine's new connections; keep the outage log on the app.

    Call it before the other extensions: its check must run before theirs (CSRF would call
    a form whose session could not be read expired).
    """
    from idp.errors import DatabaseUnavailable
    from idp.extensions import db

    @app.before_request
    def session_was_read() -> None:
        # The session could not be read: nothing but the probes can work without it.
        if seen() and request.endpoint not in OUTAGE_ENDPOINTS:
            raise DatabaseUnavailable(retry_after=RETRY_AFTER)

    original_log_exception = app.log_exception

    def log_exception(exc_info: Any) -> None:
        # An outage outside a view is logged once by the handler, not with a traceback.
        if not (exc_info[1] is not None and is_unavailable(exc_info[1])):
            original_log_exception(exc_info)

    app.log_exception = log_exception  # type: ignore[method-assign]

    outage = OutageLog(Path(app.instance_path))
    app.extensions["idp_outage"] = outage
    with app.app_context():
        engine = db.engine

    def connected(dbapi_connection: Any, record: Any) -> None:
        outage.came_up()

    event.listen(engine, "connect", connected)
