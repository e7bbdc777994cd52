"""The gate every code passes before it is sent: destinations, fraud signals, limits, budgets.

``admit`` either lets a send through, having counted it under every limit at once, or
raises, having counted nothing and sent nothing. Codes for numbers without an account
(withheld, never sent) pass the same gate, so limits cannot tell the two apart; they are
not counted against the budgets, which measure what is spent.

Each send through a verifier first *reserves* its expected cost (``admit_channel``): in one
all-or-nothing take it counts the message under the verifier's message budget and its cost
under the global and the verifier's cost budgets, refused when it would not fit. The reservation
is settled after the provider answers: released when nothing was sent, set to the real cost
when that differs. A worker that dies mid-send leaves its reservation counted, as the message
log counts its row. So parallel sends cannot spend past a cost budget.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any

from flask import has_request_context, session
from markupsafe import Markup
from sqlalchemy import func, select

from idp import metrics, state
from idp.abuse import destinations, limits, prefixes
from idp.abuse.errors import (
    DestinationRefused,
    HumanCheckRequired,
    SendingPaused,
    SendingUnavailable,
    SendLimited,
)
from idp.abuse.human_check import load_check
from idp.abuse.store import Refusal, Window
from idp.extensions import db
from idp.models import SmsLogEntry
from idp.security import audit
from idp.security.client_ip import client_ip
from idp.sms.phone import mask

log = logging.getLogger(__name__)

HOUR, DAY = 3600, 86400
#: Keys of the two global budget windows (the panel shows and resets them).
GLOBAL_HOUR, GLOBAL_DAY = "budget-h:all", "budget-d:all"
#: Keys of the two global cost windows.
GLOBAL_COST_HOUR, GLOBAL_COST_DAY = "cost-h:all", "cost-d:all"
#: Costs are counted in millionths of the currency unit, so that every weight is whole.
MICRO = 1_000_000
#: The limit of the other cost window when only one of hour and day has a budget.
UNLIMITED = 10**15


@dataclass(frozen=True)
class SendRequest:
    phone: str  # E.164
    ip: str | None
    #: The sign-in attempt (or other flow) asking; None outside a browser flow.
    flow: str | None = None
    #: False for withheld codes: limited like the rest, but nothing is spent.
    spends: bool = True
    #: The submitted form, for the human check; None where no check can be shown.
    form: Mapping[str, str] | None = None


def network_of(ip: str) -> str | None:
    """The /24 of an IPv4 address or the /56 of an IPv6 address, as text."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    bits = 24 if address.version == 4 else 56
    return str(ipaddress.ip_network(f"{address}/{bits}", strict=False))


def ip_window(ip: str) -> Window:
    return Window(f"ip-h:{ip}", limits.value("ip_per_hour"), HOUR)


def budget_windows() -> list[Window]:
    values = limits.current()
    return [
        Window(GLOBAL_HOUR, values["global_per_hour"], HOUR),
        Window(GLOBAL_DAY, values["global_per_day"], DAY),
    ]


def _windows(request: SendRequest) -> list[Window]:
    values = limits.current()
    phone = request.phone
    windows = [
        Window(f"num-h:{phone}", values["number_per_hour"], HOUR),
        Window(f"num-d:{phone}", values["number_per_day"], DAY),
    ]
    if values["number_cooldown_seconds"]:
        windows.insert(0, Window(f"num-c:{phone}", 1, values["number_cooldown_seconds"]))
    if request.ip:
        windows.append(ip_window(request.ip))
        network = network_of(request.ip)
        if network:
            windows.append(Window(f"net-h:{network}", values["network_per_hour"], HOUR))
    if request.flow:
        # One attempt = one number in one browser session: a person who corrects a typo in
        # their number starts a new attempt; resending to the same number does not.
        windows.append(Window(f"flow:{request.flow}:{phone}", values["sends_per_login"], HOUR))
    if request.spends:
        windows += budget_windows()
    return windows


def spent_since(since: datetime, verifier_id: int | None = None) -> Decimal:
    """What the message log says was spent since *since* (one verifier, or all)."""
    query = select(func.coalesce(func.sum(SmsLogEntry.cost), 0)).where(
        SmsLogEntry.created_at > since
    )
    if verifier_id is not None:
        query = query.where(SmsLogEntry.verifier_id == verifier_id)
    return Decimal(db.session.scalar(query) or 0)


def micro(amount: Decimal | int) -> int:
    """*amount* in millionths, rounded up (a budget never counts less than was spent)."""
    return int((Decimal(amount) * MICRO).to_integral_value(rounding=ROUND_CEILING))


def cost_keys(name: str | None) -> tuple[str, str]:
    """The hour and day cost keys of the global budget (*name* None) or of verifier *name*."""
    if name is None:
        return GLOBAL_COST_HOUR, GLOBAL_COST_DAY
    return f"vcost-h:{name}", f"vcost-d:{name}"


def cost_windows(name: str | None, weight: int = 0) -> list[Window]:
    """The cost windows of the global budget or verifier *name*'s, adding *weight* (micro).

    None while neither of its cost budgets is set: spend is counted only under a budget.
    """
    if name is None:
        values = limits.current()
        per_hour, per_day = values["global_cost_per_hour"], values["global_cost_per_day"]
    else:
        budget = verifier_budget(name)
        per_hour, per_day = budget["cost_per_hour"], budget["cost_per_day"]
    if not (per_hour or per_day):
        return []
    hour, day = cost_keys(name)
    return [
        Window(key, budget * MICRO if budget else UNLIMITED, seconds, weight, weighted=True)
        for key, budget, seconds in ((hour, per_hour, HOUR), (day, per_day, DAY))
    ]


def spent_refusal(windows: Sequence[Window]) -> Refusal | None:
    """The first of *windows* that is used up, and when it has room; counts nothing."""
    s = state.current()
    now = s.clock()
    full = [replace(w, weight=1) for w in windows if s.counters.count(w, now) >= w.limit]
    # A take of used-up windows is refused, so counts nothing; it finds when one has room.
    return s.counters.take(full, now) if full else None


def trip_once(kind: str, window: Window, detail: Mapping[str, object]) -> None:
    """Write one audit event per trip of *window*, not one per refused request."""
    metrics.limit_tripped(window.key)  # the metric counts every refused request
    s = state.current()
    first = s.counters.take([Window(f"trip:{window.key}", 1, window.seconds)], s.clock()) is None
    if first:
        audit.record(kind, window.key.split(":", 1)[0], after=dict(detail))
        db.session.commit()


def admit(request: SendRequest) -> None:
    """Let one code through, counting it under every limit, or raise having counted nothing.

    :raises DestinationRefused: a country, number type or prefix that does not get codes.
    :raises SendingPaused: a budget is spent.
    :raises HumanCheckRequired: this address must pass the human check first.
    :raises SendLimited: a limit is reached; carries when to try again.
    """
    s = state.current()
    now = s.clock()
    region = destinations.check(request.phone)
    if not prefixes.judge(request.phone, region):
        raise DestinationRefused()
    values = limits.current()
    # Checked for withheld codes too (they spend nothing): a spent budget must answer the
    # same whether the number has an account or not.
    spent = spent_refusal(cost_windows(None))
    if spent is not None:
        trip_once(
            "budget.tripped",
            spent.window,
            {"budget": "cost", "window_seconds": spent.window.seconds},
        )
        raise SendingPaused(spent.retry_after)
    after = values["human_check_after"]
    if request.ip and request.form is not None and after:
        check = load_check()
        if check is not None and s.counters.count(ip_window(request.ip), now) >= after:
            if not check.verify(request.form):
                raise HumanCheckRequired()
    windows = _windows(request)
    if not request.spends:
        # A withheld code is not counted against the budgets, but while one is spent it is
        # refused exactly like a real one (a refused take counts in no window).
        budgets = budget_windows()
        if any(s.counters.count(w, now) >= w.limit for w in budgets):
            windows += budgets
    refusal = s.counters.take(windows, now)
    if refusal is None:
        return
    window = refusal.window
    if window.key in (GLOBAL_HOUR, GLOBAL_DAY):
        trip_once(
            "budget.tripped",
            window,
            {"budget": "messages", "limit": window.limit, "window_seconds": window.seconds},
        )
        raise SendingPaused(refusal.retry_after)
    if window.key.startswith("num-c:"):
        metrics.limit_tripped(window.key)
        raise SendLimited(refusal.retry_after, cooldown=True)
    trip_once(
        "limit.tripped",
        window,
        {"limit": window.key.split(":", 1)[0], "phone": mask(request.phone)},
    )
    raise SendLimited(refusal.retry_after)


def human_check_due(ip: str | None) -> bool:
    """Whether a form asking for a code from *ip* should carry the human check."""
    after = limits.value("human_check_after")
    if not ip or not after or load_check() is None:
        return False
    s = state.current()
    try:
        return s.counters.count(ip_window(ip), s.clock()) >= after
    except SendingUnavailable:  # Redis is down: every send is refused, nothing to check
        return False


def verifier_budget(name: str) -> dict[str, int]:
    """A verifier's budget: its own where an admin set one, else the defaults for all."""
    from idp import site_settings

    values = limits.current()
    budget = {
        "per_hour": values["verifier_per_hour"],
        "per_day": values["verifier_per_day"],
        "cost_per_hour": 0,
        "cost_per_day": 0,
    }
    own = (site_settings.get("verifier_budgets") or {}).get(name) or {}
    budget.update({k: int(v) for k, v in own.items() if k in budget and isinstance(v, int)})
    return budget


def verifier_windows(name: str) -> list[Window]:
    budget = verifier_budget(name)
    return [
        Window(f"vbudget-h:{name}", budget["per_hour"], HOUR),
        Window(f"vbudget-d:{name}", budget["per_day"], DAY),
    ]


@dataclass(frozen=True)
class Reservation:
    """A send counted ahead under its verifier's message and cost budgets and the global one."""

    windows: tuple[Window, ...]
    token: str
    weight: int  # the expected cost, in micro-units


def admit_channel(name: str, estimate: Decimal) -> Reservation | int:
    """Reserve one message at cost *estimate* through verifier *name*: a :class:`Reservation`,
    or the seconds until the spent budget has room (then nothing was counted; skip it)."""
    s = state.current()
    weight = micro(estimate)
    windows = verifier_windows(name) + cost_windows(None, weight) + cost_windows(name, weight)
    token = secrets.token_hex(16)
    refusal = s.counters.take(windows, s.clock(), token)
    if refusal is None:
        return Reservation(tuple(windows), token, weight)
    window = refusal.window
    detail: dict[str, object] = {"verifier": name, "budget": "messages", "limit": window.limit}
    if window.weighted:
        detail = {"budget": "cost", "window_seconds": window.seconds}
        if window.key not in (GLOBAL_COST_HOUR, GLOBAL_COST_DAY):
            detail = {"verifier": name, **detail}
    trip_once("budget.tripped", window, detail)
    return refusal.retry_after


def release(reservation: Reservation) -> None:
    """Nothing was sent (or it cost nothing to fail): the reservation counts nowhere."""
    _settle(reservation, [0] * len(reservation.windows))


def settle(reservation: Reservation, cost: Decimal) -> None:
    """The provider took the message at *cost*: count that instead of the estimate."""
    actual = micro(cost)
    weighed = any(w.weighted for w in reservation.windows)  # no cost budget: nothing to set
    if weighed and actual != reservation.weight:
        _settle(reservation, [actual if w.weighted else w.weight for w in reservation.windows])


def _settle(reservation: Reservation, weights: list[int]) -> None:
    try:
        state.current().counters.settle(reservation.windows, weights, reservation.token)
    except SendingUnavailable:
        # Redis went away mid-send: the estimate stays counted, erring on the side of spend.
        log.warning("a send's budget reservation could not be settled; its estimate stays")


def channels_spent_wait(channels: Sequence[Any]) -> int:
    """0 when one of *channels* (with a ``name``) has budget left, else the seconds until one
    has room. Counts nothing: a withheld code spends nothing, but must be refused exactly like
    a real one while every verifier's budget is spent."""
    waits = []
    for channel in channels:
        refusal = spent_refusal(verifier_windows(channel.name) + cost_windows(channel.name))
        if refusal is None:
            return 0
        waits.append(refusal.retry_after)
    return min(waits, default=0)


def flow_id() -> str | None:
    """This browser's sign-in attempt: a random id in the session, gone when a login ends."""
    if not has_request_context():
        return None
    if "abuse_flow" not in session:
        session["abuse_flow"] = secrets.token_urlsafe(12)
    return str(session["abuse_flow"])


def human_check_fields() -> Markup:
    """The human check's fields for a form that asks for a code, when this address needs it."""
    check = load_check()
    if check is None or not human_check_due(client_ip()):
        return Markup("")
    return check.render()
