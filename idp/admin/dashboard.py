"""The admin dashboard: what needs attention, today's figures, the last two weeks as charts,
how the verifiers are doing, and counts at a glance.

The figures come from :mod:`idp.admin.stats` (a few grouped queries), the charts from
:mod:`idp.admin.charts` (inline SVG drawn here, no script).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import render_template
from flask_babel import gettext, lazy_gettext
from sqlalchemy import func, select

from idp import state
from idp.abuse import alerts, controls
from idp.admin import bp, charts, stats
from idp.auth.sessions import live_conditions
from idp.extensions import db
from idp.i18n import current_language, translated
from idp.models import AuditEvent, Authenticator, User, UserSession, Verifier
from idp.verification import message_log
from idp.verification.verifiers import all_verifiers

#: Pseudo methods that have no authenticator row.
PSEUDO_METHODS = {"recovery": lazy_gettext("Recovery code")}


@dataclass(frozen=True)
class VerifierHealth:
    name: str
    #: "enabled", "disabled", or "deleted" (the log still names it).
    status: str
    health: message_log.Health | None
    delivery: message_log.DeliveryRate | None


def _method_label(method: str, titles: dict[str, str]) -> str:
    """An authenticator's title for a method name ("password+totp": both titles)."""
    if not method:
        return gettext("unknown")
    parts = []
    for name in method.split("+"):
        if name in titles:
            parts.append(translated(titles[name]))
        elif name in PSEUDO_METHODS:
            parts.append(str(PSEUDO_METHODS[name]))
        else:
            parts.append(name)
    return " + ".join(parts)


def _health(rows: list[Verifier], now: datetime) -> list[VerifierHealth]:
    """Every enabled verifier, and any other that sent in the last hour: its last hour and
    its delivery reports of the last 7 days."""
    health = message_log.health(now)
    delivery = message_log.delivery_rates(now)
    status = {row.name: "enabled" if row.enabled else "disabled" for row in rows}
    names = sorted({name for name, on in status.items() if on == "enabled"} | set(health))
    return [
        VerifierHealth(name, status.get(name, "deleted"), health.get(name), delivery.get(name))
        for name in names
    ]


@bp.get("/")
def dashboard() -> str:
    s = state.current()
    now = s.clock()
    count = lambda stmt: db.session.scalar(stmt) or 0  # noqa: E731
    verifiers = all_verifiers()
    overview = {
        "users": count(select(func.count(User.id))),
        "admins": count(select(func.count(User.id)).where(User.is_admin.is_(True))),
        "sessions": count(
            select(func.count(UserSession.id)).where(
                UserSession.user_id.is_not(None), *live_conditions(now)
            )
        ),
        "verifiers": len(verifiers),
        "verifiers_enabled": sum(1 for row in verifiers if row.enabled),
    }
    authenticators = list(
        db.session.execute(select(Authenticator.name, Authenticator.title, Authenticator.enabled))
    )
    overview["authenticators"] = sum(1 for row in authenticators if row.enabled)
    titles = {row.name: row.title for row in authenticators}

    daily = stats.daily(now)
    today = stats.today(now, verified=daily.verified_today)
    locale = current_language()
    sms_chart = charts.stacked_bars(
        daily.days,
        daily.messages,
        id_prefix="chart-sms",
        title=gettext("Text messages per day by verifier"),
        y_title=gettext("Messages"),
        locale=locale,
    )
    rate_chart = charts.rate_line(
        daily.days,
        daily.sent,
        daily.verified,
        id_prefix="chart-rate",
        title=gettext("Codes verified per day"),
        locale=locale,
    )
    open_alerts = alerts.open_alerts()
    recent = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(8)).all()
    return render_template(
        "admin/dashboard.html",
        stats=overview,
        today=today,
        method_labels={row.method: _method_label(row.method, titles) for row in today.logins},
        sms_chart=sms_chart,
        rate_chart=rate_chart,
        chart_days=len(daily.days),
        verifier_health=_health(verifiers, now),
        alerts=open_alerts,
        # The dashboard lists the alerts in its own section; the layout's banner would
        # repeat them (and query them a second time).
        abuse_alerts=lambda: [],
        recent=recent,
        failures=s.registry.failures,
        dev=s.settings.dev,
        budget=controls.global_usage(),
        blocked_prefixes=sum(1 for alert in open_alerts if alert.kind == "prefix"),
    )
