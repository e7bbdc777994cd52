"""Pruning what has stopped mattering: dead sessions, finished codes, expired tokens, and
audit events past their retention period (``audit_retention_days``). It also settles
message-log rows left "sending" by a dead worker as "unknown".

Run from cron or a systemd timer (`poort prune`); every statement is a bounded DELETE on an
indexed time column, so it is cheap to run often.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_

from idp import state
from idp.abuse import limits
from idp.extensions import db
from idp.models import (
    AuditEvent,
    AuthorizationCode,
    Challenge,
    FailureCounter,
    LimitEvent,
    OAuthToken,
    UserSession,
)
from idp.security import audit
from idp.verification import attempts

#: How long finished rows are kept for investigations before they are deleted.
KEEP_FINISHED = timedelta(days=7)
#: Failures in a row that nobody added to for this long are forgotten (as Redis expires them).
STALE_FAILURES = timedelta(days=30)


def prune(now: datetime | None = None) -> dict[str, int]:
    """Delete dead sessions, old challenges, used or expired codes, dead tokens and audit
    events older than the retention period; return how many of each kind."""
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
    counts.update(_prune_counters(now))
    # Not a deletion: texts whose sender died mid-send are written down as "unknown" (kept).
    counts["sms_interrupted"] = attempts.settle_interrupted(now, commit=False)
    counts["audit_events"] = prune_audit(settings.audit_retention_days, now=now, commit=False)
    db.session.commit()
    return counts


def _prune_counters(now: datetime) -> dict[str, int]:
    """Old limit events (every window is a day at most) and stale failure counts.

    A count that reached the recovery threshold stays: only an admin's unlock ends it.
    """
    events = db.session.execute(
        delete(LimitEvent)
        .where(LimitEvent.at < now - timedelta(days=1))
        .execution_options(synchronize_session=False)
    )
    stale = db.session.execute(
        delete(FailureCounter)
        .where(
            FailureCounter.last_failure_at < now - STALE_FAILURES,
            FailureCounter.failures < limits.value("failures_before_recovery"),
        )
        .execution_options(synchronize_session=False)
    )
    return {
        "limit_events": events.rowcount or 0,  # type: ignore[attr-defined]
        "failure_counters": stale.rowcount or 0,  # type: ignore[attr-defined]
    }


def prune_audit(older_than_days: int, *, now: datetime | None = None, commit: bool = True) -> int:
    """Delete audit events created more than *older_than_days* days ago; return how many.

    An event exactly at the cutoff stays. A deletion that removed anything is itself recorded,
    as ``audit.pruned`` with the count and the cutoff, in the same transaction.
    """
    if older_than_days < 1:
        raise ValueError("older_than_days must be 1 or more")
    now = now or state.current().clock()
    cutoff = now - timedelta(days=older_than_days)
    result = db.session.execute(
        delete(AuditEvent)
        .where(AuditEvent.created_at < cutoff)
        .execution_options(synchronize_session=False)
    )
    count: int = result.rowcount or 0  # type: ignore[attr-defined]
    if count:
        audit.record(
            "audit.pruned",
            after={
                "count": count,
                "older_than_days": older_than_days,
                "cutoff": cutoff.isoformat(),
            },
        )
    if commit:
        db.session.commit()
    return count
