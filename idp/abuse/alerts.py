"""What admins must know about abuse protection now: a spent budget, a blocked prefix.

The admin panel shows these as a banner on every page, so this stays a handful of cheap
queries: two counts for the global budget, two per enabled verifier, the spend queries only
where a cost budget is set, and one query for the blocked prefixes.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import url_for
from flask_babel import gettext as _

from idp.abuse import controls, limits, prefixes, sending

#: At this share of a budget admins get a warning before anything is refused.
WARN_PERCENT = 80


@dataclass(frozen=True)
class Alert:
    kind: str  # "budget", "verifier_budget", "cost_budget", "prefix"
    message: str
    link: str
    #: "error": codes are being refused; "warning": they soon will be.
    level: str = "error"


def _spent_message(window: controls.Usage, verifier: str | None) -> str:
    values = {"used": window.used, "limit": window.limit, "window": window.window}
    if verifier is None:
        return _(
            "The global budget is spent: %(used)s of %(limit)s codes %(window)s. New codes are "
            "refused until it has room again or an admin resets it.",
            **values,
        )
    return _(
        "The budget of verifier %(name)s is spent: %(used)s of %(limit)s codes %(window)s. New "
        "codes are refused until it has room again or an admin resets it.",
        name=verifier,
        **values,
    )


def _nearly_spent_message(window: controls.Usage, verifier: str | None) -> str:
    values = {"used": window.used, "limit": window.limit, "window": window.window}
    if verifier is None:
        return _(
            "The global budget is nearly spent: %(used)s of %(limit)s codes %(window)s.", **values
        )
    return _(
        "The budget of verifier %(name)s is nearly spent: %(used)s of %(limit)s codes %(window)s.",
        name=verifier,
        **values,
    )


def _budget_alerts(
    usage: list[controls.Usage], verifier: str | None, kind: str, anchor: str
) -> list[Alert]:
    """Alerts of the global budget (*verifier* None) or of a verifier's."""
    link = url_for("admin.limits", _anchor=anchor)
    for window in usage:  # the hour first: when both are spent, one alert is enough
        if window.spent:
            return [Alert(kind, _spent_message(window, verifier), link)]
    return [
        Alert(kind, _nearly_spent_message(window, verifier), link, "warning")
        for window in usage
        if window.percent >= WARN_PERCENT
    ][:1]


def _spend_alerts(spend: list[controls.Spend], verifier: str | None) -> list[Alert]:
    """Alerts of the global cost budget (*verifier* None) or of a verifier's."""
    for window in spend:
        if window.over:
            values = {
                "spent": f"{window.spent:.2f}",
                "budget": window.budget,
                "window": window.window,
            }
            if verifier is None:
                message = _(
                    "The global cost budget is spent: %(spent)s of %(budget)s %(window)s. New "
                    "codes are refused until the spend leaves the window.",
                    **values,
                )
            else:
                message = _(
                    "Verifier %(name)s's cost budget is spent: %(spent)s of %(budget)s "
                    "%(window)s. New codes are refused until the spend leaves the window.",
                    name=verifier,
                    **values,
                )
            return [Alert("cost_budget", message, url_for("admin.limits", _anchor="budgets"))]
    return []


def open_alerts() -> list[Alert]:
    """Spent (or nearly spent) budgets, then every prefix blocked now."""
    found = _budget_alerts(controls.global_usage(), None, "budget", "budgets")
    global_limits = limits.current()
    if global_limits["global_cost_per_hour"] or global_limits["global_cost_per_day"]:
        found += _spend_alerts(controls.global_spend(), None)
    for channel in controls.channels(enabled_only=True):
        found += _budget_alerts(
            controls.verifier_usage(channel.name), channel.name, "verifier_budget", "verifiers"
        )
        budget = sending.verifier_budget(channel.name)
        if budget["cost_per_hour"] or budget["cost_per_day"]:
            found += _spend_alerts(
                controls.spend(budget["cost_per_hour"], budget["cost_per_day"], channel.name),
                channel.name,
            )
    for block in prefixes.blocked_now():
        values = {
            "prefix": block.prefix,
            "until": f"{block.until:%Y-%m-%d %H:%M}",
            "verified": block.verified,
            "sent": block.sent,
        }
        if block.region:
            message = _(
                "Numbers starting %(prefix)s (%(country)s) get no codes until %(until)s UTC: "
                "%(verified)s of %(sent)s codes sent there in an hour were used.",
                country=controls.country_name(block.region),
                **values,
            )
        else:
            message = _(
                "Numbers starting %(prefix)s get no codes until %(until)s UTC: %(verified)s of "
                "%(sent)s codes sent there in an hour were used.",
                **values,
            )
        found.append(Alert("prefix", message, url_for("admin.limits", _anchor="prefixes")))
    return found
