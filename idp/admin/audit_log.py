"""The audit log in the admin panel, newest first, filterable by action, actor and target."""

from __future__ import annotations

from flask import render_template, request
from sqlalchemy import select

from idp import state
from idp.admin import bp
from idp.admin.pagination import paginate
from idp.models import AuditEvent


@bp.get("/audit")
def audit_log() -> str:
    action = request.args.get("action", "").strip()[:60]
    actor = request.args.get("actor", "").strip()[:120]
    # Exact, like the actor: "user:1" must not also show user:12 (and it uses the index).
    target = request.args.get("target", "").strip()[:120]
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc())
    if action:
        stmt = stmt.where(AuditEvent.action.startswith(action, autoescape=True))
    if actor:
        stmt = stmt.where(AuditEvent.actor == actor)
    if target:
        stmt = stmt.where(AuditEvent.target == target)
    return render_template(
        "admin/audit.html",
        page=paginate(stmt),
        action=action,
        actor=actor,
        target=target,
        retention_days=state.current().settings.audit_retention_days,
    )
