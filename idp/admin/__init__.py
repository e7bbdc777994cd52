"""The admin panel at /admin: one blueprint, guarded once, for admins only."""

from __future__ import annotations

from flask import Blueprint, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from idp.errors import Forbidden

bp = Blueprint("admin", __name__)


@bp.before_request
def require_admin() -> Response | None:
    """Every /admin route passes here first; no view repeats the check."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if not current_user.is_admin:
        raise Forbidden("The admin panel is for administrators only.")
    return None


# The view modules add their routes to bp when imported.
from idp.admin import audit_log, authenticators, dashboard, plugins, users  # noqa: E402

__all__ = ["audit_log", "authenticators", "bp", "dashboard", "plugins", "users"]
