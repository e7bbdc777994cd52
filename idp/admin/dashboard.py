"""The admin dashboard: counts at a glance and what needs attention."""

from __future__ import annotations

from datetime import timedelta

from flask import render_template
from sqlalchemy import func, select

from idp import state
from idp.abuse import controls, prefixes
from idp.admin import bp
from idp.auth.sessions import live_conditions
from idp.extensions import db
from idp.models import AuditEvent, Authenticator, User, UserSession, Verifier
from idp.verification import message_log


@bp.get("/")
def dashboard() -> str:
    s = state.current()
    now = s.clock()
    count = lambda stmt: db.session.scalar(stmt) or 0  # noqa: E731
    stats = {
        "users": count(select(func.count(User.id))),
        "admins": count(select(func.count(User.id)).where(User.is_admin.is_(True))),
        "sessions": count(
            select(func.count(UserSession.id)).where(
                UserSession.user_id.is_not(None), *live_conditions(now)
            )
        ),
        "authenticators": count(
            select(func.count(Authenticator.id)).where(Authenticator.enabled.is_(True))
        ),
        "logins_today": count(
            select(func.count(AuditEvent.id)).where(
                AuditEvent.action == "login.success",
                AuditEvent.created_at > now - timedelta(days=1),
            )
        ),
        "verifiers": count(select(func.count(Verifier.id))),
        "verifiers_enabled": count(
            select(func.count(Verifier.id)).where(Verifier.enabled.is_(True))
        ),
        "failures_today": count(
            select(func.count(AuditEvent.id)).where(
                AuditEvent.action == "login.failure",
                AuditEvent.created_at > now - timedelta(days=1),
            )
        ),
    }
    recent = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(8)).all()
    return render_template(
        "admin/dashboard.html",
        stats=stats,
        recent=recent,
        failures=s.registry.failures,
        sms_today=message_log.today(now),
        dev=s.settings.dev,
        budget=controls.global_usage(),
        blocked_prefixes=len(prefixes.blocked_now()),
    )
