"""Installed plugins: what is loaded, from which distribution, and what failed to load."""

from __future__ import annotations

from flask import render_template

from idp import state
from idp.admin import bp


@bp.get("/plugins")
def plugins() -> str:
    registry = state.current().registry
    return render_template(
        "admin/plugins.html",
        auth_methods=sorted(registry.auth_methods.values(), key=lambda p: p.id),
        sms_providers=sorted(registry.sms_providers.values(), key=lambda p: p.id),
        failures=registry.failures,
    )
