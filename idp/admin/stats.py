"""The dashboard's figures: today's sign-ins and codes, and the last days per day.

"Today" is the UTC day of the app's clock. Every figure is one grouped query (the database
counts, never Python over rows), and each query is bounded by a time column:

- sign-ins: ``audit_events`` by ``created_at`` (``ix_audit_events_created_at``), grouped by
  action and the ``method`` of the event (``login.success`` and ``login.failure`` record the
  authenticator's name there, ``password+totp`` for two factors);
- text messages, failures and spend: ``sms_log`` by ``created_at``
  (``ix_sms_log_created_at``), through :func:`idp.verification.message_log.today`;
- messages per day and verifier: ``sms_log`` by ``created_at``, grouped by day and verifier;
- codes sent and verified per day: ``challenges`` by ``created_at``, grouped by day, the
  same rows the fraud signals count (:mod:`idp.abuse.prefixes`): no withheld code (a number
  without an account gets none), none that failed to go out, no admin's test code. The
  challenges table has no index on ``created_at`` alone, so this reads the table, which
  ``poort prune`` keeps to about a week; days older than that have no challenges left and
  show no verify rate.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import case, func, select

from idp.extensions import db
from idp.models import AuditEvent, Challenge, SmsLogEntry
from idp.models.sms_log import FAILED
from idp.verification import message_log
from idp.verification.message_log import day_start, utc_day

#: Days the charts cover, today included.
CHART_DAYS = 14
#: The audit actions of a sign-in, and what they count as.
LOGIN_SUCCESS = "login.success"
LOGIN_FAILURE = "login.failure"
#: Challenges that are not counted as sent: never sent, or never reached a provider.
NOT_SENT = ("withheld", "failed")
ADMIN_TEST = "admin_test"


def utc_today(now: datetime) -> date:
    return now.astimezone(UTC).date()


@dataclass(frozen=True)
class MethodLogins:
    """Sign-ins of one method (an authenticator's name, or names joined by "+") today."""

    method: str
    succeeded: int
    failed: int

    @property
    def total(self) -> int:
        return self.succeeded + self.failed


@dataclass(frozen=True)
class Spend:
    currency: str
    amount: Decimal


@dataclass(frozen=True)
class Today:
    """What happened on one UTC day."""

    day: date
    logins: list[MethodLogins]
    #: Text messages a provider accepted (every message-log row but the failed ones).
    sent: int
    #: Attempts that failed at a provider.
    failed_sends: int
    #: Codes typed in correctly today (admins' test codes left out).
    verified: int
    spend: list[Spend]

    @property
    def succeeded(self) -> int:
        return sum(row.succeeded for row in self.logins)

    @property
    def failed(self) -> int:
        return sum(row.failed for row in self.logins)


@dataclass(frozen=True)
class Daily:
    """Per day, oldest first: messages per verifier, and codes sent and verified."""

    days: list[date]
    #: Verifier name -> text messages accepted per day (in name order).
    messages: dict[str, list[int]]
    #: Codes sent per day (challenges created that day that reached a provider).
    sent: list[int]
    #: Of those, the ones typed in correctly (whenever that was).
    verified: list[int]
    #: Codes consumed today, whichever day they were sent.
    verified_today: int = 0

    @property
    def rates(self) -> list[float | None]:
        """Verified over sent per day, 0..1; None for a day without codes."""
        return [v / s if s else None for s, v in zip(self.sent, self.verified, strict=True)]


def logins_by_method(now: datetime) -> list[MethodLogins]:
    """Today's successful and failed sign-ins per method, most used first."""
    start = day_start(utc_today(now))
    method = AuditEvent.after["method"].as_string().label("method")
    stmt = (
        select(method, AuditEvent.action, func.count(AuditEvent.id))
        .where(
            AuditEvent.created_at >= start,
            AuditEvent.created_at < start + timedelta(days=1),
            AuditEvent.action.in_((LOGIN_SUCCESS, LOGIN_FAILURE)),
        )
        .group_by(method, AuditEvent.action)
    )
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for name, action, count in db.session.execute(stmt):
        counts[name or ""][0 if action == LOGIN_SUCCESS else 1] += int(count)
    rows = [MethodLogins(name, ok, bad) for name, (ok, bad) in counts.items()]
    return sorted(rows, key=lambda row: (-row.total, row.method))


def days_up_to(today: date, count: int = CHART_DAYS) -> list[date]:
    return [today - timedelta(days=n) for n in range(count - 1, -1, -1)]


def messages_per_day(now: datetime, count: int = CHART_DAYS) -> dict[str, dict[date, int]]:
    """Verifier name -> day -> text messages accepted, for the last *count* UTC days."""
    since = day_start(utc_today(now) - timedelta(days=count - 1))
    day = utc_day(SmsLogEntry.created_at).label("day")
    stmt = (
        select(day, SmsLogEntry.verifier_name, func.count(SmsLogEntry.id))
        .where(SmsLogEntry.created_at >= since, SmsLogEntry.status != FAILED)
        .group_by(day, SmsLogEntry.verifier_name)
    )
    found: dict[str, dict[date, int]] = defaultdict(dict)
    for key, name, number in db.session.execute(stmt):
        found[name][_as_date(key)] = int(number)
    return found


def codes_per_day(
    now: datetime, count: int = CHART_DAYS
) -> tuple[dict[date, tuple[int, int]], int]:
    """Day -> (codes sent, verified) for the last *count* UTC days, and the codes verified
    today (a code sent just before midnight and typed just after counts for today)."""
    today_start = day_start(utc_today(now))
    since = today_start - timedelta(days=count - 1)
    day = utc_day(Challenge.created_at).label("day")
    consumed = Challenge.consumed_at.is_not(None)
    stmt = (
        select(
            day,
            func.count(Challenge.id),
            func.coalesce(func.sum(case((consumed, 1), else_=0)), 0),
            func.coalesce(func.sum(case((Challenge.consumed_at >= today_start, 1), else_=0)), 0),
        )
        .where(
            Challenge.created_at >= since,
            Challenge.delivery.not_in(NOT_SENT),
            Challenge.purpose != ADMIN_TEST,
        )
        .group_by(day)
    )
    per_day: dict[date, tuple[int, int]] = {}
    verified_today = 0
    for key, sent, verified, today in db.session.execute(stmt):
        per_day[_as_date(key)] = (int(sent), int(verified))
        verified_today += int(today)
    return per_day, verified_today


def daily(now: datetime, count: int = CHART_DAYS) -> Daily:
    """The chart series: the last *count* UTC days, oldest first, every day present."""
    days = days_up_to(utc_today(now), count)
    by_verifier = messages_per_day(now, count)
    codes, verified_today = codes_per_day(now, count)
    return Daily(
        days=days,
        messages={
            name: [per_day.get(day, 0) for day in days]
            for name, per_day in sorted(by_verifier.items())
        },
        sent=[codes.get(day, (0, 0))[0] for day in days],
        verified=[codes.get(day, (0, 0))[1] for day in days],
        verified_today=verified_today,
    )


def today(now: datetime, verified: int) -> Today:
    """Today's sign-ins by method and the message log's totals; *verified* comes from
    :func:`daily` (its one query over the challenges answers both)."""
    totals = message_log.today(now)
    return Today(
        day=utc_today(now),
        logins=logins_by_method(now),
        sent=sum(total.messages for total in totals),
        failed_sends=sum(total.attempts - total.messages for total in totals),
        verified=verified,
        spend=[Spend(total.currency, total.cost) for total in totals],
    )


def _as_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
