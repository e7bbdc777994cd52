"""Branding in the admin panel: the site's name, logo and accent colour (see idp.branding).

The name replaces the ``site_name`` setting wherever a page shows it; the logo is an https
URL or a path on this site; the colour must keep white button text at 4.5:1 or more, and the
page shows the measured ratio when it does not. Every change is audited as ``branding.update``
with the stored values before and after (none of them is secret).
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user
from werkzeug.wrappers import Response

from idp import branding
from idp.admin import bp
from idp.extensions import db
from idp.security import audit

TARGET = "site:branding"
FIELDS = ("name", "logo_url", "colour")


def _values(brand: branding.Brand) -> dict[str, str]:
    """What the form shows: the brand in use (the defaults until an admin saves one)."""
    return {"name": brand.name, "logo_url": brand.logo_url or "", "colour": brand.colour}


def _page(values: dict[str, str], errors: dict[str, list[str]]) -> str | tuple[str, int]:
    page = render_template(
        "admin/branding.html",
        values=values,
        errors=errors,
        name_max=branding.NAME_MAX,
        logo_max=branding.LOGO_MAX,
        minimum=branding.MIN_CONTRAST,
    )
    return (page, 400) if errors else page


def _store(value: dict[str, str]) -> bool:
    """Store *value* with its audit event; False when nothing changed."""
    before = branding.put(value, actor_id=current_user.id)
    if before == value:
        db.session.rollback()
        return False
    audit.record("branding.update", TARGET, before=before, after=value)
    db.session.commit()
    return True


@bp.get("/branding", endpoint="branding")
def branding_page() -> str | tuple[str, int]:
    return _page(_values(branding.current()), {})


@bp.post("/branding")
def branding_save() -> Response | str | tuple[str, int]:
    value, errors = branding.check(request.form)
    if errors:
        return _page({key: request.form.get(key, "") for key in FIELDS}, errors)
    if _store(value):
        flash(gettext("Branding saved."), "success")
    return redirect(url_for("admin.branding"), code=303)


@bp.post("/branding/reset")
def branding_reset() -> Response:
    """Back to the defaults: the site_name setting, no logo, Poort's blue."""
    if _store({}):
        flash(gettext("Branding reset to the defaults."), "success")
    return redirect(url_for("admin.branding"), code=303)
