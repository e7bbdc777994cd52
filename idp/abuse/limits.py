"""The numbers behind abuse protection: defaults, bounds, and what admins changed.

Admins change them in the panel (Limits page) or with `poort limits set`; they are stored
as one site setting, so every worker reads the same values. Sources for the defaults:
docs/security.md (NIST SP 800-63B, Twilio, Supabase, Firebase).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import g
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_babel.speaklater import LazyString

from idp import site_settings


@dataclass(frozen=True)
class Limit:
    default: int
    #: Shown in the panel in the admin's language; the command line prints it in English.
    label: LazyString | str
    low: int = 0
    high: int = 1_000_000
    group: str = "sending"
    #: 0 switches this limit off (only for limits where off is a sane choice).
    zero_is_off: bool = False


#: Every limit, in the order the panel shows them.
LIMITS: dict[str, Limit] = {
    "number_cooldown_seconds": Limit(
        60, lazy_gettext("Seconds between two codes to one number"), 0, 3600
    ),
    "number_per_hour": Limit(5, lazy_gettext("Codes to one number per hour"), 1, 10_000_000),
    "number_per_day": Limit(10, lazy_gettext("Codes to one number per 24 hours"), 1, 100_000_000),
    "ip_per_hour": Limit(
        20, lazy_gettext("Codes asked for from one IP address per hour"), 1, 10_000_000
    ),
    "network_per_hour": Limit(
        60,
        lazy_gettext("Codes asked for from one network (IPv4 /24, IPv6 /56) per hour"),
        1,
        10_000_000,
    ),
    "sends_per_login": Limit(3, lazy_gettext("Codes per sign-in attempt"), 1, 100),
    "human_check_after": Limit(
        5,
        lazy_gettext("Codes per IP address per hour before a human check (0: never)"),
        0,
        10_000_000,
        zero_is_off=True,
    ),
    "global_per_hour": Limit(100, lazy_gettext("All codes per hour"), 1, 10_000_000, "budget"),
    "global_per_day": Limit(1000, lazy_gettext("All codes per 24 hours"), 1, 100_000_000, "budget"),
    "global_cost_per_hour": Limit(
        0,
        lazy_gettext("Spend per hour, all verifiers (0: no cost budget)"),
        0,
        10_000_000,
        "budget",
        True,
    ),
    "global_cost_per_day": Limit(
        0,
        lazy_gettext("Spend per 24 hours, all verifiers (0: no cost budget)"),
        0,
        100_000_000,
        "budget",
        True,
    ),
    "verifier_per_hour": Limit(
        100, lazy_gettext("Codes per verifier per hour"), 1, 10_000_000, "budget"
    ),
    "verifier_per_day": Limit(
        1000, lazy_gettext("Codes per verifier per 24 hours"), 1, 100_000_000, "budget"
    ),
    "prefix_min_sends": Limit(
        10,
        lazy_gettext("Codes per hour to one number prefix before its verify rate is judged"),
        1,
        100_000,
        "fraud",
    ),
    "prefix_min_verified_percent": Limit(
        20,
        lazy_gettext("Least share of codes verified (%) before a prefix is blocked"),
        0,
        100,
        "fraud",
    ),
    "prefix_block_hours": Limit(
        24, lazy_gettext("Hours a prefix stays blocked"), 1, 24 * 30, "fraud"
    ),
    "failures_before_wait": Limit(
        10, lazy_gettext("Failed sign-ins in a row before an account waits"), 1, 1000, "guessing"
    ),
    "failures_before_recovery": Limit(
        100,
        lazy_gettext("Failed sign-ins in a row before an account needs an admin"),
        2,
        100_000,
        "guessing",
    ),
    "max_wait_minutes": Limit(
        15, lazy_gettext("Longest wait between attempts (minutes)"), 1, 24 * 60, "guessing"
    ),
    "ip_failures_per_hour": Limit(
        100,
        lazy_gettext("Failed password sign-ins from one IP address per hour"),
        1,
        1_000_000,
        "guessing",
    ),
}

GROUPS = {
    "sending": lazy_gettext("Sending codes"),
    "budget": lazy_gettext("Budgets"),
    "fraud": lazy_gettext("Fraud signals"),
    "guessing": lazy_gettext("Guessing"),
}

_KEY = "abuse_limits"


def current() -> dict[str, int]:
    """Every limit's value: the admin's where set, else the default (read once per request)."""
    cached = g.get("_abuse_limits")
    if cached is None:
        stored = site_settings.get(_KEY) or {}
        cached = g._abuse_limits = {
            name: int(stored[name]) if isinstance(stored.get(name), int) else limit.default
            for name, limit in LIMITS.items()
        }
    return dict(cached)


def value(name: str) -> int:
    return current()[name]


def parse(form: Mapping[str, Any]) -> tuple[dict[str, int], dict[str, str]]:
    """Read limits from a form or CLI; return (values, errors by name).

    Names missing from *form* keep their current value.
    """
    values = current()
    errors: dict[str, str] = {}
    for name, raw in form.items():
        limit = LIMITS.get(name)
        if limit is None:
            errors[name] = _("There is no limit of this name.")
            continue
        text = str(raw).strip()
        try:
            number = int(text)
        except ValueError:
            errors[name] = _("Enter a whole number.")
            continue
        if not limit.low <= number <= limit.high:
            errors[name] = _(
                "Enter a number from %(low)s to %(high)s.", low=limit.low, high=limit.high
            )
            continue
        values[name] = number
    if values["number_per_day"] < values["number_per_hour"]:
        errors.setdefault("number_per_day", _("Cannot be lower than the hourly limit."))
    if values["global_per_day"] < values["global_per_hour"]:
        errors.setdefault("global_per_day", _("Cannot be lower than the hourly budget."))
    if values["failures_before_recovery"] <= values["failures_before_wait"]:
        errors.setdefault(
            "failures_before_recovery", _("Must be more than the failures before a wait.")
        )
    return values, errors


def save(values: Mapping[str, int], *, actor_id: int | None = None) -> dict[str, int]:
    """Store *values* (already parsed); return the previous ones. The caller audits and commits."""
    before = current()
    changed = {k: v for k, v in values.items() if LIMITS[k].default != v}
    site_settings.put(_KEY, changed, actor_id=actor_id)
    g.pop("_abuse_limits", None)
    return before
