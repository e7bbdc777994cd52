"""Authenticators in the admin panel: create, edit options, enable and disable, reorder."""

from __future__ import annotations

import logging

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from idp import state
from idp.admin import bp
from idp.auth.authenticators import (
    add,
    all_authenticators,
    check_name,
    get,
    method_for,
    public_view,
    set_enabled,
)
from idp.errors import InvalidInput
from idp.extensions import db
from idp.i18n import translated
from idp.models import Authenticator
from idp.options import OptionsInvalid, bind_form, secret_names, validate_options
from idp.security import audit

log = logging.getLogger(__name__)


@bp.get("/authenticators")
def authenticators() -> str:
    registry = state.current().registry
    rows = all_authenticators()
    return render_template(
        "admin/authenticators.html",
        rows=rows,
        methods=sorted(registry.auth_methods.values(), key=lambda p: p.id),
        loaded=set(registry.auth_methods),
        notices={row.name: _notice(row) for row in rows if row.method in registry.auth_methods},
    )


def _notice(row: Authenticator) -> str | None:
    """What the method says an admin should know about *row* (e.g. why it is unavailable)."""
    try:
        return method_for(row).admin_notice()
    except Exception:  # a plugin's bug must not take the list down
        log.exception("admin_notice of authenticator %s failed", row.name)
        return _("The plugin could not report its status; see the log.")


@bp.route("/authenticators/new", methods=["GET", "POST"])
def authenticator_new() -> Response | tuple[str, int] | str:
    registry = state.current().registry
    method = request.values.get("method", "")
    cls = registry.auth_method(method)
    if cls is None:
        abort(404)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            row = add(
                name=request.form.get("name", ""),
                method=method,
                title=request.form.get("title", ""),
                options=request.form,
            )
            db.session.commit()
        except InvalidInput as exc:
            errors[exc.field or "form"] = [exc.message]
        except OptionsInvalid as exc:
            errors.update({f"options-{k}": v for k, v in exc.errors.items()})
        else:
            flash(
                _(
                    "Authenticator %(name)s created. Enable it to show it on the login page.",
                    name=row.name,
                ),
                "success",
            )
            return redirect(url_for("admin.authenticators"), code=303)
    form = bind_form(cls.options_form, formdata=request.form if request.method == "POST" else None)
    page = render_template(
        "admin/authenticator_form.html",
        row=None,
        method=registry.auth_methods[method],
        options=form,
        errors=errors,
        values=request.form,
        secrets=secret_names(cls.options_form),
        stored={},
    )
    return (page, 400) if errors else page


@bp.route("/authenticators/<name>", methods=["GET", "POST"])
def authenticator_edit(name: str) -> Response | tuple[str, int] | str:
    s = state.current()
    row = get(name)
    cls = s.registry.auth_method(row.method)
    if cls is None:
        flash(
            _(
                "The plugin %(plugin)s is not loaded; its options cannot be edited.",
                plugin=repr(row.method),
            ),
            "error",
        )
        return redirect(url_for("admin.authenticators"))
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        before = public_view(row)
        try:
            title = request.form.get("title", "").strip() or cls.title
            if len(title) > 80:
                raise InvalidInput(_("Use at most 80 characters."), field="title")
            options = validate_options(cls.options_form, request.form, s.secret_box, row.options)
            new_name = check_name(request.form.get("name", row.name), existing=row)
        except InvalidInput as exc:
            errors[exc.field or "form"] = [exc.message]
        except OptionsInvalid as exc:
            errors.update({f"options-{k}": v for k, v in exc.errors.items()})
        else:
            row.title, row.options, row.name = title, options, new_name
            audit.record(
                "authenticator.update",
                f"authenticator:{row.name}",
                before=before,
                after=public_view(row),
            )
            db.session.commit()
            flash(_("Authenticator %(name)s saved.", name=row.name), "success")
            return redirect(url_for("admin.authenticators"), code=303)
    form = bind_form(
        cls.options_form, row.options, formdata=request.form if request.method == "POST" else None
    )
    page = render_template(
        "admin/authenticator_form.html",
        row=row,
        method=s.registry.auth_methods[row.method],
        options=form,
        errors=errors,
        values=request.form if request.method == "POST" else {"name": row.name, "title": row.title},
        secrets=secret_names(cls.options_form),
        stored=row.options,
    )
    return (page, 400) if errors else page


@bp.post("/authenticators/<name>/enabled")
def authenticator_set_enabled(name: str) -> Response:
    row = get(name)
    enable = request.form.get("enabled") == "1"
    try:
        changed = set_enabled(row, enable)
    except InvalidInput as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.authenticators"), code=303)
    if changed:
        db.session.commit()
    title = translated(row.title)
    flash(
        _("%(name)s is now enabled.", name=title)
        if enable
        else _("%(name)s is now disabled.", name=title),
        "success",
    )
    return redirect(url_for("admin.authenticators"), code=303)


@bp.post("/authenticators/<name>/move")
def authenticator_move(name: str) -> Response:
    rows = all_authenticators()
    row = get(name)
    index = rows.index(row)
    step = -1 if request.form.get("direction") == "up" else 1
    other = index + step
    if 0 <= other < len(rows):
        before = {"order": [item.name for item in rows]}
        rows[index], rows[other] = rows[other], rows[index]
        # Renumber all, so equal or missing positions from older data cannot stick.
        for position, item in enumerate(rows, start=1):
            item.position = position
        audit.record(
            "authenticator.reorder",
            f"authenticator:{row.name}",
            before=before,
            after={"order": [item.name for item in rows]},
        )
        db.session.commit()
    return redirect(url_for("admin.authenticators"), code=303)


@bp.post("/authenticators/<name>/delete")
def authenticator_delete(name: str) -> Response:
    row = get(name)
    audit.record("authenticator.delete", f"authenticator:{row.name}", before=public_view(row))
    db.session.delete(row)
    db.session.commit()
    flash(_("Authenticator %(name)s deleted.", name=name), "success")
    return redirect(url_for("admin.authenticators"), code=303)
