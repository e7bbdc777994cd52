"""What admins must know about abuse protection now: a spent budget, a blocked prefix.

The admin panel shows these as a banner on every page, so this stays a handful of cheap
queries: two counts for the global budget, two per enabled verifier, the spend queries only
where a cost budget is set, and one query for the blocked prefixes.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import url_for

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


def _budget_alerts(usage: list[controls.Usage], whose: str, kind: str, anchor: str) -> list[Alert]:
    link = url_for("admin.limits", _anchor=anchor)
    for window in usage:  # the hour first: when both are spent, one alert is enough
        if window.spent:
            return [
                Alert(
                    kind,
                    f"{whose} is spent: {window.used} of {window.limit} codes {window.label}. "
                    "New codes are refused until it has room again or an admin resets it.",
                    link,
                )
            ]
    return [
        Alert(
            kind,
            f"{whose} is nearly spent: {window.used} of {window.limit} codes {window.label}.",
            link,
            "warning",
        )
        for window in usage
        if window.percent >= WARN_PERCENT
    ][:1]


def _spend_alerts(spend: list[controls.Spend], whose: str) -> list[Alert]:
    for window in spend:
        if window.over:
            return [
                Alert(
                    "cost_budget",
                    f"{whose} cost budget is spent: {window.spent:.2f} of {window.budget} "
                    f"{window.label}. New codes are refused until the spend leaves the window.",
                    url_for("admin.limits", _anchor="budgets"),
                )
            ]
    return []


def open_alerts() -> list[Alert]:
    """Spent (or nearly spent) budgets, then every prefix blocked now."""
    found = _budget_alerts(controls.global_usage(), "The global budget", "budget", "budgets")
    values = limits.current()
    if values["global_cost_per_hour"] or values["global_cost_per_day"]:
        found += _spend_alerts(controls.global_spend(), "The global")
    for channel in controls.channels(enabled_only=True):
        whose = f"The budget of verifier {channel.name}"
        found += _budget_alerts(
            controls.verifier_usage(channel.name), whose, "verifier_budget", "verifiers"
        )
        budget = sending.verifier_budget(channel.name)
        if channel.verifier_id is not None and (budget["cost_per_hour"] or budget["cost_per_day"]):
            found += _spend_alerts(
                controls.spend(
                    budget["cost_per_hour"], budget["cost_per_day"], channel.verifier_id
                ),
                f"Verifier {channel.name}'s",
            )
    for block in prefixes.blocked_now():
        where = f" ({controls.country_name(block.region)})" if block.region else ""
        found.append(
            Alert(
                "prefix",
                f"Numbers starting {block.prefix}{where} get no codes until "
                f"{block.until:%Y-%m-%d %H:%M} UTC: {block.verified} of {block.sent} codes "
                "sent there in an hour were used.",
                url_for("admin.limits", _anchor="prefixes"),
            )
        )
    return found
