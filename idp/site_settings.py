"""Run-time settings admins change in the panel, with their defaults, read through one place."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from idp.extensions import db
from idp.models import SiteSetting
from idp.request_cache import forget, request_cache

#: Every run-time setting with its default; a key not listed here cannot be stored.
DEFAULTS: dict[str, Any] = {
    # off | optional | admins | everyone (see idp.auth.policy)
    "second_factor_policy": "optional",
    # purpose -> language -> template; empty means the built-in text (idp.verification.messages)
    "sms_templates": {},
    # most segments a rendered code text may cost; the template page refuses longer texts
    "sms_segment_budget": 2,
    # idp.abuse.limits: only the limits an admin changed; the rest keep their defaults
    "abuse_limits": {},
    # countries codes may be texted to; empty means the configured default region only
    "sms_countries": [],
    # whether numbers of VoIP services may receive codes (pumping often uses them)
    "sms_allow_voip": False,
    # verifier name -> {"per_hour", "per_day", "cost_per_hour", "cost_per_day"} overrides
    "verifier_budgets": {},
    # idp.branding: {"name", "logo_url", "colour"}; a missing key keeps its default
    "branding": {},
}


_CACHE = "site_settings"


def get(key: str) -> Any:
    """The stored value of *key*, else its default.

    In a request, the first call reads every row in one query (the table holds a handful)
    and later calls in the same request use them: a login reads five settings or more.
    """
    cache = request_cache()
    if cache is None:
        row = db.session.get(SiteSetting, key)
        return row.value if row is not None else DEFAULTS[key]
    values = cache.get(_CACHE)
    if values is None:
        values = cache[_CACHE] = {
            row.key: row.value for row in db.session.scalars(select(SiteSetting))
        }
    return values[key] if key in values else DEFAULTS[key]


def put(key: str, value: Any, *, actor_id: int | None = None) -> Any:
    """Store *value*; return the previous one (for the caller's audit event). Caller commits."""
    if key not in DEFAULTS:
        raise KeyError(f"unknown site setting {key!r}")
    row = db.session.get(SiteSetting, key)
    before = row.value if row is not None else DEFAULTS[key]
    if row is None:
        row = SiteSetting(key=key)
        db.session.add(row)
    row.value = value
    row.updated_by = actor_id
    forget(_CACHE)  # read again, from this session, by the next get()
    return before
