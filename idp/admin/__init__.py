"""The admin panel at /admin: one blueprint, guarded once, for admins only."""

from __future__ import annotations

from flask import Blueprint, redirect, request, url_for
from flask_babel import gettext as _
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
        raise Forbidden(_("The admin panel is for administrators only."))
    return None


# The view modules add their routes to bp when imported.
from idp.admin import (  # noqa: E402
    audit_log,
    authenticators,
    branding,
    clients,
    dashboard,
    limits,
    plugins,
    policy,
    sms_log,
    sms_templates,
    users,
    verifier_testing,
    verifiers,
)

__all__ = [
    "audit_log",
    "authenticators",
    "branding",
    "bp",
    "clients",
    "dashboard",
    "limits",
    "plugins",
    "policy",
    "sms_log",
    "sms_templates",
    "users",
    "verifier_testing",
    "verifiers",
]
