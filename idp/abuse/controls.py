"""What admins do with abuse protection, in one place for the admin panel and the command line.

Read the budgets' counters, reset a spent budget, set a verifier's own budget, choose where
codes may go, unlock an account. Each change writes its audit event into the caller's
transaction; the caller commits (a counter store's ``forget`` commits by itself on the
database store, which is why counters are forgotten *before* the audit event is added).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import phonenumbers
from flask_babel import get_locale, lazy_gettext
from flask_babel import gettext as _
from phonenumbers import geocoder
from sqlalchemy import select

from idp import site_settings, state
from idp.abuse import destinations, limits, lockout, sending
from idp.abuse.store import Window
from idp.errors import NotFound
from idp.extensions import db
from idp.models import User, Verifier
from idp.security import audit

#: Where the [sms] table's provider counts its budget (the name of its channel).
FILE_CHANNEL = "poort.toml"
#: The fields of a verifier's own budget, in the order forms show them.
BUDGET_FIELDS = ("per_hour", "per_day", "cost_per_hour", "cost_per_day")

#: Regions the phone-number metadata has no example number (so no name) for.
_REGION_NAMES = {
    "AC": lazy_gettext("Ascension Island"),
    "BL": lazy_gettext("Saint Barthélemy"),
    "EH": lazy_gettext("Western Sahara"),
    "MF": lazy_gettext("Saint Martin"),
    "TA": lazy_gettext("Tristan da Cunha"),
    "XK": lazy_gettext("Kosovo"),
}


def country_name(region: str | None) -> str:
    """ "Belgium" for "BE" ("België" for a Dutch page); the code itself when no name is known."""
    if not region:
        return ""
    if region in _REGION_NAMES:
        return str(_REGION_NAMES[region])
    locale = get_locale()
    language = locale.language if locale is not None else "en"
    example = phonenumbers.example_number(region)
    name = geocoder.country_name_for_number(example, language) if example is not None else ""
    return name or region


# -- budgets ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Channel:
    """Something that sends and has a budget: a verifier row, or the [sms] table."""

    name: str
    title: str
    verifier_id: int | None
    enabled: bool = True


def channels(*, enabled_only: bool = False) -> list[Channel]:
    """Every verifier (by name), then the [sms] table's provider when one is configured."""
    query = select(Verifier.name, Verifier.title, Verifier.id, Verifier.enabled).order_by(
        Verifier.name
    )
    if enabled_only:
        query = query.where(Verifier.enabled.is_(True))
    found = [Channel(*row) for row in db.session.execute(query)]
    file_channel = state.current().file_sms
    if file_channel is not None:
        found.append(Channel(file_channel.name, file_channel.title, None))
    return found


def channel(name: str) -> Channel:
    """The channel called *name*.

    :raises NotFound: no verifier has that name (and it is not the [sms] table).
    """
    for found in channels():
        if found.name == name:
            return found
    raise NotFound(_("There is no verifier called %(name)s.", name=repr(name)))


@dataclass(frozen=True)
class Usage:
    """One budget window: how much of it is used now."""

    key: str
    label: str  # "this hour", "in 24 hours"
    used: int
    limit: int

    @property
    def spent(self) -> bool:
        return self.used >= self.limit

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.used / self.limit)) if self.limit else 0

    @property
    def window(self) -> str:
        """The label in the admin's language."""
        return window_text(self.label)


_LABELS = {sending.HOUR: "this hour", sending.DAY: "in 24 hours"}


def window_text(label: str) -> str:
    """A budget window's label ("this hour", "in 24 hours") in the admin's language."""
    return {"this hour": _("this hour"), "in 24 hours": _("in 24 hours")}.get(label, label)


def _usage(windows: list[Window]) -> list[Usage]:
    s = state.current()
    now = s.clock()
    return [
        Usage(w.key, _LABELS.get(w.seconds, f"in {w.seconds} s"), s.counters.count(w, now), w.limit)
        for w in windows
    ]


def global_usage() -> list[Usage]:
    """The global message budget: codes counted this hour and in 24 hours, against its limits."""
    return _usage(sending.budget_windows())


def verifier_usage(name: str) -> list[Usage]:
    return _usage(sending.verifier_windows(name))


@dataclass(frozen=True)
class Spend:
    label: str
    spent: Decimal
    budget: int  # 0: no cost budget

    @property
    def over(self) -> bool:
        return bool(self.budget) and self.spent >= self.budget

    @property
    def window(self) -> str:
        """The label in the admin's language."""
        return window_text(self.label)


def spend(per_hour: int, per_day: int, name: str | None = None) -> list[Spend]:
    """What the cost budget of verifier *name* (None: all) counts this hour and in 24 hours:
    the cost of every text sent, and of those being sent now at their expected cost."""
    s = state.current()
    now = s.clock()
    return [
        Spend(
            _LABELS[window.seconds],
            Decimal(s.counters.count(window, now)) / sending.MICRO,
            budget,
        )
        for window, budget in zip(sending.cost_windows(name), (per_hour, per_day), strict=False)
    ]


def global_spend() -> list[Spend]:
    values = limits.current()
    return spend(values["global_cost_per_hour"], values["global_cost_per_day"])


def budget_keys(name: str | None) -> tuple[str, str]:
    """The hour and day keys of the global budget (*name* None) or of verifier *name*."""
    if name is None:
        return sending.GLOBAL_HOUR, sending.GLOBAL_DAY
    return f"vbudget-h:{name}", f"vbudget-d:{name}"


def reset_budget(name: str | None) -> dict[str, int]:
    """Forget the counted messages and cost of the global budget (or verifier *name*'s);
    audit it.

    The markers that keep a trip to one audit event per window go too, so the next trip is
    recorded again. Returns what was counted before. The caller commits.

    :raises NotFound: for a verifier name that does not exist.
    """
    if name is not None:
        channel(name)
    usage = global_usage() if name is None else verifier_usage(name)
    counters = state.current().counters
    # The cost counted goes too, reservations of sends in flight included.
    for key in (*budget_keys(name), *sending.cost_keys(name)):
        counters.forget(key)
        counters.forget(f"trip:{key}")
    before = {period: u.used for period, u in zip(("hour", "day"), usage, strict=True)}
    audit.record(
        "budget.reset",
        "budget:all" if name is None else f"verifier:{name}",
        before=before,
        after={"hour": 0, "day": 0},
    )
    return before


def own_budgets() -> dict[str, dict[str, int]]:
    """Every verifier budget an admin set, by verifier name (a copy, safe to change)."""
    stored = site_settings.get("verifier_budgets") or {}
    return {name: dict(values) for name, values in stored.items() if isinstance(values, dict)}


def parse_verifier_budget(
    name: str, form: Mapping[str, Any]
) -> tuple[dict[str, int], dict[str, str]]:
    """Read a verifier's own budget from *form*; return (values, errors by field).

    An empty field means "the default for all verifiers" and is left out of the values.
    Messages per hour and per day are whole numbers from 1; cost budgets from 0 (0: none).
    """
    values: dict[str, int] = {}
    errors: dict[str, str] = {}
    for field in BUDGET_FIELDS:
        text = str(form.get(field, "") or "").strip()
        if not text:
            continue
        limit = limits.LIMITS[
            {
                "per_hour": "verifier_per_hour",
                "per_day": "verifier_per_day",
                "cost_per_hour": "global_cost_per_hour",
                "cost_per_day": "global_cost_per_day",
            }[field]
        ]
        try:
            number = int(text)
        except ValueError:
            errors[field] = _("Enter a whole number.")
            continue
        if not limit.low <= number <= limit.high:
            errors[field] = _(
                "Enter a number from %(low)s to %(high)s.", low=limit.low, high=limit.high
            )
            continue
        values[field] = number
    if not errors:
        defaults = limits.current()
        hour = values.get("per_hour", defaults["verifier_per_hour"])
        day = values.get("per_day", defaults["verifier_per_day"])
        if day < hour:
            errors["per_day"] = _("Cannot be lower than the hourly budget.")
    return values, errors


def save_verifier_budget(name: str, values: Mapping[str, int], *, actor_id: int | None) -> bool:
    """Store verifier *name*'s own budget (empty: use the defaults); audit it when it changed.

    Returns whether anything changed. The caller commits.
    """
    budgets = own_budgets()
    before = budgets.get(name, {})
    after = {k: int(values[k]) for k in BUDGET_FIELDS if k in values}
    if before == after:
        return False
    if after:
        budgets[name] = after
    else:
        budgets.pop(name, None)
    site_settings.put("verifier_budgets", budgets, actor_id=actor_id)
    audit.record("budget.update", f"verifier:{name}", before=before, after=after)
    return True


# -- where codes may go -----------------------------------------------------------------------


def parse_countries(text: str) -> tuple[list[str], str | None]:
    """ "be, NL  de" -> (["BE", "NL", "DE"], None), or ([], the error) for an unknown code."""
    chosen: list[str] = []
    unknown: list[str] = []
    for part in text.replace(",", " ").replace(";", " ").split():
        code = part.strip().upper()
        if code in phonenumbers.SUPPORTED_REGIONS:
            if code not in chosen:
                chosen.append(code)
        elif code not in unknown:
            unknown.append(code)
    if unknown:
        return [], _(
            "Not a country code: %(codes)s. Use two-letter ISO 3166 codes such as NL, BE or DE.",
            codes=", ".join(unknown[:5]),
        )
    return chosen, None


def destination_settings() -> dict[str, Any]:
    return {
        "countries": list(site_settings.get("sms_countries") or []),
        "allow_voip": destinations.voip_allowed(),
    }


def save_destinations(
    countries: list[str], allow_voip: bool, *, actor_id: int | None
) -> dict[str, Any] | None:
    """Store the country allow-list and the VoIP switch; audit what changed.

    Returns the previous settings, or None when nothing changed. The caller commits.
    """
    before = destination_settings()
    after = {"countries": list(countries), "allow_voip": bool(allow_voip)}
    if before == after:
        return None
    site_settings.put("sms_countries", after["countries"], actor_id=actor_id)
    site_settings.put("sms_allow_voip", after["allow_voip"], actor_id=actor_id)
    changed = [k for k in after if before[k] != after[k]]
    audit.record(
        "destinations.update",
        "sms_destinations",
        before={k: before[k] for k in changed},
        after={k: after[k] for k in changed},
    )
    return before


# -- guessing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignInGuard:
    """An account's consecutive failed sign-ins and the lock they put on it now."""

    failures: int
    lock: lockout.Lock | None

    @property
    def locked(self) -> bool:
        return self.lock is not None


def guard_of(user_id: int) -> SignInGuard:
    key = lockout.account_key(user_id)
    return SignInGuard(state.current().counters.failures(key).count, lockout.lock_of(key))


def unlock_user(user: User) -> int:
    """Clear *user*'s failed sign-ins (a lock goes with them); audit it; return the count.

    The caller commits.
    """
    failures = guard_of(user.id).failures
    lockout.unlock(user.id)
    audit.record(
        "user.unlock", f"user:{user.id}", before={"failures": failures}, after={"failures": 0}
    )
    return failures
