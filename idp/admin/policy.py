"""The sign-in policy in the admin panel: when a second factor is asked for, or required."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from idp import site_settings
from idp.admin import bp
from idp.auth.authenticators import enabled_authenticators
from idp.auth.method import Role
from idp.auth.policy import SecondFactorPolicy, current_policy
from idp.extensions import db
from idp.security import audit


@bp.get("/policy")
def policy() -> str:
    return render_template(
        "admin/policy.html",
        policies=list(SecondFactorPolicy),
        current=current_policy(),
        second_factors=enabled_authenticators(Role.SECOND_FACTOR),
    )


@bp.post("/policy")
def policy_save() -> Response | tuple[str, int]:
    try:
        chosen = SecondFactorPolicy(request.form.get("second_factor_policy", ""))
    except ValueError:
        page = render_template(
            "admin/policy.html",
            policies=list(SecondFactorPolicy),
            current=current_policy(),
            second_factors=enabled_authenticators(Role.SECOND_FACTOR),
            error=_("Choose one of the policies."),
        )
        return page, 400
    before = current_policy()
    if chosen is not before:
        site_settings.put("second_factor_policy", chosen.value, actor_id=current_user.id)
        audit.record(
            "policy.update",
            "second_factor_policy",
            before={"second_factor_policy": before.value},
            after={"second_factor_policy": chosen.value},
        )
        db.session.commit()
        flash(_("Sign-in policy saved: %(policy)s.", policy=chosen.label), "success")
    return redirect(url_for("admin.policy"), code=303)
