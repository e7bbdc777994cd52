"""Pruning what has stopped mattering: dead sessions, finished codes, expired tokens.

Run from cron or a systemd timer (`poort prune`); every statement is a bounded DELETE on an
indexed time column, so it is cheap to run often.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_

from idp import state
from idp.extensions import db
from idp.models import AuthorizationCode, Challenge, OAuthToken, UserSession

#: How long finished rows are kept for investigations before they are deleted.
KEEP_FINISHED = timedelta(days=7)


def prune(now: datetime | None = None) -> dict[str, int]:
    """Delete dead sessions, old challenges, used or expired codes and dead tokens."""
    settings = state.current().settings
    now = now or state.current().clock()
    cutoff = now - KEEP_FINISHED
    idle = now - timedelta(minutes=settings.session_idle_minutes)
    absolute = now - timedelta(hours=settings.session_absolute_hours)
    counts = {}
    statements = {
        "sessions": delete(UserSession).where(
            or_(
                UserSession.revoked_at < cutoff,
                and_(UserSession.revoked_at.is_(None), UserSession.last_seen_at < idle),
                UserSession.created_at < absolute,
            )
        ),
        "challenges": delete(Challenge).where(Challenge.expires_at < cutoff),
        "authorization_codes": delete(AuthorizationCode).where(
            AuthorizationCode.expires_at < cutoff
        ),
        "tokens": delete(OAuthToken).where(
            or_(
                OAuthToken.revoked_at < cutoff,
                OAuthToken.refresh_expires_at < cutoff,
                and_(OAuthToken.refresh_hash.is_(None), OAuthToken.access_expires_at < cutoff),
            )
        ),
    }
    for name, statement in statements.items():
        result = db.session.execute(statement.execution_options(synchronize_session=False))
        counts[name] = result.rowcount or 0  # type: ignore[attr-defined]
    db.session.commit()
    return counts
