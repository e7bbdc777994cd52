"""Server-side sessions behind Flask's ``session``.

The browser holds a random 256-bit id in a ``__Host-`` cookie; the database holds its SHA-256,
the session data, who is signed in and how, and when the session was last used. Any worker
can serve any request, and a session ends for real when its row is revoked: at logout, when
an admin or the user signs it out, or when it idles or ages past the configured lifetimes.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.datastructures import CallbackDict
from werkzeug.wrappers import Response as BaseResponse

from idp import database_outage, state
from idp.extensions import db
from idp.models import UserSession

#: last_seen_at is written at most this often, so reading a page is not a write every time.
TOUCH_EVERY = timedelta(seconds=60)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ServerSession(CallbackDict[str, Any], SessionMixin):
    """The session dict of one request, with the row it came from."""

    def __init__(
        self, initial: dict[str, Any] | None = None, row: UserSession | None = None
    ) -> None:
        def on_update(_: Any) -> None:
            self.modified = True

        super().__init__(initial or {}, on_update)
        self.row_id = row.id if row else None
        self.last_seen_at = row.last_seen_at if row else None
        self.modified = False
        self.rotate_requested = False
        self.end_requested = False

    def rotate(self) -> None:
        """Give this session a new id at the end of the request (call at every login)."""
        self.rotate_requested = True

    def end(self) -> None:
        """Revoke this session at the end of the request (logout)."""
        self.clear()
        self.end_requested = True


def _secure(app: Flask, request: Request) -> bool:
    return request.is_secure or not state.current().settings.dev


def cookie_name(app: Flask, request: Request) -> str:
    return "__Host-poort_session" if _secure(app, request) else "poort_session"


def live_session(token: str, now: datetime) -> UserSession | None:
    """The unrevoked, unexpired row for *token*, or None."""
    settings = state.current().settings
    row = db.session.scalar(
        select(UserSession).where(
            UserSession.token_hash == hash_token(token), UserSession.revoked_at.is_(None)
        )
    )
    if row is None:
        return None
    if now - row.last_seen_at > timedelta(minutes=settings.session_idle_minutes):
        return None
    if now - row.created_at > timedelta(hours=settings.session_absolute_hours):
        return None
    if row.user is not None and not row.user.active:
        return None
    return row


def live_conditions(now: datetime) -> tuple[Any, ...]:
    """SQL conditions for rows that :func:`live_session` would still accept at *now*."""
    settings = state.current().settings
    return (
        UserSession.revoked_at.is_(None),
        UserSession.last_seen_at >= now - timedelta(minutes=settings.session_idle_minutes),
        UserSession.created_at >= now - timedelta(hours=settings.session_absolute_hours),
    )


def revoke_sessions(*conditions: Any, now: datetime) -> int:
    """Revoke every live session matching *conditions*; the caller commits."""
    result = db.session.execute(
        update(UserSession)
        .where(UserSession.revoked_at.is_(None), *conditions)
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


def replace_response(response: Response, other: BaseResponse) -> None:
    """Make *response* say what *other* says: status, body and its headers (in place, as
    Flask saves the session on the response it already has)."""
    for name in ("Location", "Set-Cookie", "Content-Type", "Content-Length", "ETag"):
        del response.headers[name]
    response.status_code = other.status_code
    response.set_data(other.get_data())
    for name in ("Content-Type", "Retry-After"):
        if name in other.headers:
            response.headers[name] = other.headers[name]


class ServerSessionInterface(SessionInterface):
    def open_session(self, app: Flask, request: Request) -> ServerSession:
        token = request.cookies.get(cookie_name(app, request))
        if token and len(token) < 100:
            try:
                row = live_session(token, state.current().clock())
            except (DBAPIError, PoolTimeout) as exc:
                if not database_outage.is_unavailable(exc):
                    raise
                database_outage.note(exc)  # the request answers 503 (idp.error_pages)
                return ServerSession()
            if row is not None:
                return ServerSession(dict(row.data or {}), row)
        return ServerSession()

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        assert isinstance(session, ServerSession)
        if database_outage.seen():
            return  # the session was not read, or the request already failed for it
        try:
            self._save(app, session, response)
        except (DBAPIError, PoolTimeout) as exc:
            if not database_outage.is_unavailable(exc):
                raise
            # The database went away after the view: the answer becomes the outage's 503,
            # so nobody is told they signed in when their session was not stored.
            from idp.error_pages import unavailable_response

            replace_response(response, unavailable_response(exc))

    def _save(self, app: Flask, session: ServerSession, response: Response) -> None:
        from flask import request

        # Whatever the view did not commit is not wanted (an error page, a failed form).
        db.session.rollback()
        if response.status_code >= 500:
            # The request failed on our side: its changes to the session are not wanted either
            # (a login whose commit failed must not leave a session naming a user that does not
            # exist, and on SQLite may later belong to someone else).
            return
        now = state.current().clock()
        name = cookie_name(app, request)
        secure = _secure(app, request)

        if session.end_requested or (not session and session.row_id is not None):
            if session.row_id is not None:
                revoke_sessions(UserSession.id == session.row_id, now=now)
                db.session.commit()
            response.delete_cookie(name, path="/", secure=secure, samesite="Lax", httponly=True)
            return
        if not session:
            return

        if session.row_id is None or session.rotate_requested:
            if session.row_id is not None:
                revoke_sessions(UserSession.id == session.row_id, now=now)
            token = secrets.token_urlsafe(32)
            db.session.add(
                UserSession(
                    token_hash=hash_token(token),
                    created_at=now,
                    last_seen_at=now,
                    ip=request.remote_addr,
                    user_agent=(request.user_agent.string or "")[:255] or None,
                    **self._columns(session),
                )
            )
            db.session.commit()
            response.set_cookie(name, token, path="/", secure=secure, httponly=True, samesite="Lax")
            return

        values: dict[str, Any] = {}
        if session.modified:
            values.update(self._columns(session))
        if session.last_seen_at is None or now - session.last_seen_at >= TOUCH_EVERY:
            values["last_seen_at"] = now
        if values:
            db.session.execute(
                update(UserSession)
                .where(UserSession.id == session.row_id, UserSession.revoked_at.is_(None))
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            db.session.commit()

    @staticmethod
    def _columns(session: ServerSession) -> dict[str, Any]:
        """Session data plus the columns admins and users query (who, when, how)."""
        user_id = session.get("_user_id")
        auth_time = session.get("auth_time")
        return {
            "data": dict(session),
            "user_id": int(user_id) if user_id else None,
            "auth_time": datetime.fromisoformat(auth_time) if auth_time else None,
            "amr": " ".join(session.get("amr", [])) or None,
        }
