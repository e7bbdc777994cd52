"""Abuse protection in the admin panel: limits, budgets and their counters, where codes may
go, blocked prefixes and verify rates. The numbers themselves live in :mod:`idp.abuse`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import or_, select
from werkzeug.wrappers import Response

from idp import state
from idp.abuse import alerts, controls, limit_changes, limits, prefixes, sending
from idp.abuse.errors import SendingUnavailable
from idp.admin import bp
from idp.errors import NotFound
from idp.extensions import db
from idp.models import BlockedPrefix

#: How long ended prefix blocks stay listed under "Recently ended".
ENDED_DAYS = 7


@bp.context_processor
def _abuse_alerts() -> dict[str, Callable[[], list[alerts.Alert]]]:
    """The layout calls this to draw the banner: nothing is queried on pages that don't."""
    return {"abuse_alerts": _alerts_or_outage}


def _alerts_or_outage() -> list[alerts.Alert]:
    """The open alerts; while Redis (where the budgets are counted) is down, that one alert."""
    try:
        return alerts.open_alerts()
    except SendingUnavailable:
        message = _(
            "Redis does not answer: no codes are sent by text message until it does. Sign-ins "
            "that send nothing still work."
        )
        return [alerts.Alert("redis", message, url_for("admin.limits"))]


def _verifier_rows() -> list[dict[str, Any]]:
    own = controls.own_budgets()
    rows = []
    for channel in controls.channels():
        budget = sending.verifier_budget(channel.name)
        cost_set = bool(budget["cost_per_hour"] or budget["cost_per_day"])
        rows.append(
            {
                "channel": channel,
                "usage": controls.verifier_usage(channel.name),
                "budget": budget,
                "own": own.get(channel.name, {}),
                "spend": controls.spend(
                    budget["cost_per_hour"], budget["cost_per_day"], channel.name
                )
                if cost_set
                else [],
            }
        )
    return rows


def _ended_blocks() -> list[BlockedPrefix]:
    now = state.current().clock()
    return list(
        db.session.scalars(
            select(BlockedPrefix)
            .where(
                BlockedPrefix.blocked_at > now - timedelta(days=ENDED_DAYS),
                or_(BlockedPrefix.lifted_at.is_not(None), BlockedPrefix.until <= now),
            )
            .order_by(BlockedPrefix.blocked_at.desc())
            .limit(20)
        )
    )


def _page(
    status: int = 200,
    *,
    form: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    budget_errors: Mapping[str, Mapping[str, str]] | None = None,
    budget_form: Mapping[str, Mapping[str, Any]] | None = None,
    country_error: str | None = None,
    countries_text: str | None = None,
) -> tuple[str, int]:
    values = limits.current()
    shown = {name: (form or {}).get(name, values[name]) for name in limits.LIMITS}
    groups = [
        (key, title, [(name, lim) for name, lim in limits.LIMITS.items() if lim.group == key])
        for key, title in limits.GROUPS.items()
    ]
    chosen = controls.destination_settings()
    cost_set = bool(values["global_cost_per_hour"] or values["global_cost_per_day"])
    threshold = values["prefix_min_verified_percent"]
    page = render_template(
        "admin/limits.html",
        groups=groups,
        values=values,
        shown=shown,
        errors=errors or {},
        global_usage=controls.global_usage(),
        global_spend=controls.global_spend() if cost_set else [],
        verifiers=_verifier_rows(),
        budget_errors=budget_errors or {},
        budget_form=budget_form or {},
        countries=[(code, controls.country_name(code)) for code in chosen["countries"]],
        countries_text=countries_text
        if countries_text is not None
        else ", ".join(chosen["countries"]),
        country_error=country_error,
        default_region=state.current().settings.default_region,
        default_region_name=controls.country_name(state.current().settings.default_region),
        allow_voip=chosen["allow_voip"],
        blocked=prefixes.blocked_now(),
        ended=_ended_blocks(),
        by_region=prefixes.conversion("region"),
        by_prefix=prefixes.conversion("prefix"),
        threshold=threshold,
        min_sends=values["prefix_min_sends"],
        country_name=controls.country_name,
        redis=bool(state.current().settings.redis_url),
        now=state.current().clock(),
    )
    return page, status


def _back(anchor: str) -> Response:
    return redirect(url_for("admin.limits", _anchor=anchor), code=303)


@bp.get("/limits", endpoint="limits")
def limits_page() -> tuple[str, int]:
    return _page()


@bp.post("/limits")
def limit_save() -> Response | tuple[str, int]:
    submitted = {name: request.form[name] for name in limits.LIMITS if name in request.form}
    result = limit_changes.update(submitted, actor_id=current_user.id)
    if result.errors:
        return _page(400, form=submitted, errors=result.errors)
    changed = result.changed
    if changed:
        db.session.commit()
        flash(
            ngettext(
                "Limits saved (%(num)d changed).", "Limits saved (%(num)d changed).", len(changed)
            ),
            "success",
        )
    else:
        flash(_("Nothing changed."), "success")
    return _back("limits")


@bp.post("/limits/budget")
def limit_budget() -> Response | tuple[str, int]:
    name = request.form.get("verifier", "")
    controls.channel(name)  # NotFound for a name that isn't one
    values, errors = controls.parse_verifier_budget(name, request.form)
    if errors:
        submitted = {field: request.form.get(field, "") for field in controls.BUDGET_FIELDS}
        return _page(400, budget_errors={name: errors}, budget_form={name: submitted})
    if controls.save_verifier_budget(name, values, actor_id=current_user.id):
        db.session.commit()
        flash(_("Budget of %(name)s saved.", name=name), "success")
    else:
        flash(_("Nothing changed."), "success")
    return _back("verifiers")


@bp.post("/limits/reset")
def limit_reset() -> Response:
    name = request.form.get("verifier") or None
    before = controls.reset_budget(name)
    db.session.commit()
    if name is None:
        message = _(
            "The global budget was reset (%(hour)s codes this hour, %(day)s in 24 hours "
            "forgotten).",
            hour=before["hour"],
            day=before["day"],
        )
    else:
        message = _(
            "The budget of %(name)s was reset (%(hour)s codes this hour, %(day)s in 24 hours "
            "forgotten).",
            name=name,
            hour=before["hour"],
            day=before["day"],
        )
    flash(message, "success")
    return _back("budgets" if name is None else "verifiers")


@bp.post("/limits/destinations")
def limit_destinations() -> Response | tuple[str, int]:
    text = request.form.get("countries", "")[:2000]
    countries, error = controls.parse_countries(text)
    if error:
        return _page(400, country_error=error, countries_text=text)
    before = controls.save_destinations(
        countries, request.form.get("allow_voip") == "1", actor_id=current_user.id
    )
    if before is None:
        flash(_("Nothing changed."), "success")
    else:
        db.session.commit()
        flash(_("Where codes may go is saved."), "success")
    return _back("destinations")


@bp.post("/limits/prefixes/<int:block_id>/lift")
def limit_lift(block_id: int) -> Response:
    row = prefixes.lift(block_id, actor_id=current_user.id)
    if row is None:
        if db.session.get(BlockedPrefix, block_id) is None:
            raise NotFound(_("There is no such block."))
        flash(_("That block had ended already."), "success")
        return _back("prefixes")
    db.session.commit()
    flash(_("Numbers starting %(prefix)s get codes again.", prefix=row.prefix), "success")
    return _back("prefixes")
