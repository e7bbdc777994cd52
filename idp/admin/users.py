"""Users in the admin panel: find them, switch them off, make them admin, end their sessions."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import func, or_, select
from werkzeug.wrappers import Response

from idp import state
from idp.abuse import controls
from idp.admin import bp
from idp.admin.pagination import paginate
from idp.auth.sessions import live_conditions, revoke_sessions
from idp.errors import NotFound
from idp.extensions import db
from idp.models import User, UserSession
from idp.security import audit
from idp.sms import phone
from idp.sms.phone import InvalidPhoneNumber


def _get(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(_("There is no such user."))
    return user


def _flags(user: User) -> dict[str, bool]:
    return {"active": user.active, "is_admin": user.is_admin}


@bp.get("/users")
def users() -> str:
    q = request.args.get("q", "").strip()[:100]
    stmt = select(User).order_by(User.id)
    if q:
        folded = q.casefold()
        matches = [
            func.lower(User.nickname).contains(folded, autoescape=True),
            User.username.contains(folded, autoescape=True),
            User.email.contains(folded, autoescape=True),
            User.phone.contains(q.replace(" ", "").replace("-", ""), autoescape=True),
        ]
        try:  # "06-12345678" finds +31612345678
            matches.append(User.phone == phone.normalise(q))
        except InvalidPhoneNumber:
            pass
        stmt = stmt.where(or_(*matches))
    page = paginate(stmt)
    return render_template("admin/users.html", page=page, q=q)


@bp.get("/users/<int:user_id>")
def user_detail(user_id: int) -> str:
    user = _get(user_id)
    now = state.current().clock()
    sessions = db.session.scalars(
        select(UserSession)
        .where(UserSession.user_id == user.id, *live_conditions(now))
        .order_by(UserSession.last_seen_at.desc())
    ).all()
    return render_template(
        "admin/user.html", user=user, sessions=sessions, now=now, guard=controls.guard_of(user.id)
    )


@bp.post("/users/<int:user_id>/active")
def user_set_active(user_id: int) -> Response:
    user = _get(user_id)
    active = request.form.get("active") == "1"
    if user.id == current_user.id and not active:
        flash(_("You cannot deactivate your own account."), "error")
        return redirect(url_for("admin.user_detail", user_id=user.id), code=303)
    before = _flags(user)
    user.active = active
    if not active:
        revoke_sessions(UserSession.user_id == user.id, now=state.current().clock())
    audit.record(
        "user.activate" if active else "user.deactivate",
        f"user:{user.id}",
        before=before,
        after=_flags(user),
    )
    db.session.commit()
    flash(
        _("%(name)s is now active.", name=user.display_name)
        if active
        else _("%(name)s is now deactivated.", name=user.display_name),
        "success",
    )
    return redirect(url_for("admin.user_detail", user_id=user.id), code=303)


@bp.post("/users/<int:user_id>/admin")
def user_set_admin(user_id: int) -> Response:
    user = _get(user_id)
    make_admin = request.form.get("is_admin") == "1"
    if user.id == current_user.id and not make_admin:
        flash(_("You cannot remove your own admin rights; ask another admin."), "error")
        return redirect(url_for("admin.user_detail", user_id=user.id), code=303)
    before = _flags(user)
    user.is_admin = make_admin
    audit.record(
        "user.grant_admin" if make_admin else "user.revoke_admin",
        f"user:{user.id}",
        before=before,
        after=_flags(user),
    )
    db.session.commit()
    flash(
        _("%(name)s is now an admin.", name=user.display_name)
        if make_admin
        else _("%(name)s is no longer an admin.", name=user.display_name),
        "success",
    )
    return redirect(url_for("admin.user_detail", user_id=user.id), code=303)


@bp.post("/users/<int:user_id>/revoke-sessions")
def user_revoke_sessions(user_id: int) -> Response:
    user = _get(user_id)
    count = revoke_sessions(UserSession.user_id == user.id, now=state.current().clock())
    audit.record("user.revoke_sessions", f"user:{user.id}", after={"sessions_revoked": count})
    db.session.commit()
    flash(
        ngettext(
            "Signed %(name)s out of %(num)d session.",
            "Signed %(name)s out of %(num)d sessions.",
            count,
            name=user.display_name,
        ),
        "success",
    )
    return redirect(url_for("admin.user_detail", user_id=user.id), code=303)


@bp.post("/users/<int:user_id>/unlock")
def user_unlock(user_id: int) -> Response:
    """Clear the failed sign-ins of an account, lifting its lock (also after 100 failures)."""
    user = _get(user_id)
    failures = controls.unlock_user(user)
    db.session.commit()
    flash(
        ngettext(
            "%(name)s is unlocked (%(num)d failed sign-in cleared).",
            "%(name)s is unlocked (%(num)d failed sign-ins cleared).",
            failures,
            name=user.display_name,
        ),
        "success",
    )
    return redirect(url_for("admin.user_detail", user_id=user.id), code=303)
