"""The account page at /account: what a signed-in user sees and changes about themselves.

Profile, second factors (each method renders its own section through
``AuthMethod.render_account``), recovery codes, active sessions and recent sign-ins. Changes
to how the account signs in need a fresh proof (:mod:`idp.auth.reauth`); every change is
audited, and every form is a CSRF-protected POST answered with a 303 redirect.
"""

from __future__ import annotations

from flask import Blueprint, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

bp = Blueprint("account", __name__)


@bp.before_request
def require_login() -> Response | None:
    """Every /account route passes here first: signed-in users only."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    return None


# The view module adds its routes to bp when imported.
from idp.account import views  # noqa: E402

__all__ = ["bp", "views"]
