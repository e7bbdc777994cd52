"""Reading the message log: filters, totals per verifier, purpose and day, health, export.

Days are UTC days. Totals are computed by the database (GROUP BY); the day of a row is
``date(created_at)`` on SQLite and ``CAST(created_at AS DATE)`` elsewhere (a plain CAST on
SQLite would turn the text "2026-01-05 09:00:00" into the number 2026). Health figures
(success rate, median and p95 latency) are computed in Python from the rows of the last hour.

A row still "sending" after :data:`idp.verification.attempts.UNKNOWN_AFTER` reads "unknown"
everywhere here (filters, pages, export) before the reconciler writes it down; both count as
sent in the totals, at their estimated cost, because the provider may have billed them.

Nothing here reads or returns a message text or a number in clear: the log holds neither.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, Engine, Select, and_, case, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from idp import state
from idp.extensions import db
from idp.models import SmsLogEntry
from idp.models.sms_log import ACCEPTED, DELIVERED, FAILED, SENDING, UNDELIVERED, UNKNOWN
from idp.security.derived_keys import phone_hash
from idp.verification import attempts

#: Statuses that count as success in the health figures.
SUCCESS = (ACCEPTED, DELIVERED)
CENT = Decimal("0.0001")


class utc_day(FunctionElement[date]):  # noqa: N801 - reads like the SQL function it renders
    """The UTC calendar day of a UTC timestamp column, as a DATE on every database."""

    type = Date()
    inherit_cache = True


@compiles(utc_day)
def _utc_day_default(element: utc_day, compiler: Any, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS DATE)"


@compiles(utc_day, "sqlite")
def _utc_day_sqlite(element: utc_day, compiler: Any, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)})"


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


@dataclass(frozen=True)
class LogFilter:
    """What the admin narrowed the log to. Dates are inclusive UTC days."""

    since: date | None = None
    until: date | None = None
    verifier: str | None = None
    status: str | None = None
    purpose: str | None = None
    #: E.164; matched through its keyed hash, because the log never stores the number.
    recipient: str | None = None
    #: The keyed hash itself (what links carry, so a number never lands in a URL twice).
    recipient_hash: str | None = None
    #: When "sending" turns "unknown" is judged at this moment (None: the app's clock, now).
    now: datetime | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if self.since is not None:
            where.append(SmsLogEntry.created_at >= day_start(self.since))
        if self.until is not None:
            where.append(SmsLogEntry.created_at < day_start(self.until + timedelta(days=1)))
        if self.verifier:
            where.append(SmsLogEntry.verifier_name == self.verifier)
        if self.status in (SENDING, UNKNOWN):
            now = self.now or state.current().clock()
            where.append(
                attempts.unknown_now(now) if self.status == UNKNOWN else attempts.sending_now(now)
            )
        elif self.status:
            where.append(SmsLogEntry.status == self.status)
        if self.purpose:
            where.append(SmsLogEntry.purpose == self.purpose)
        if self.recipient:
            where.append(SmsLogEntry.recipient_hash == phone_hash(self.recipient))
        if self.recipient_hash:
            where.append(SmsLogEntry.recipient_hash == self.recipient_hash)
        return where


def entries(log_filter: LogFilter) -> Select[SmsLogEntry]:
    """The filtered rows, newest first."""
    return (
        select(SmsLogEntry)
        .where(*log_filter.conditions())
        .order_by(SmsLogEntry.created_at.desc(), SmsLogEntry.id.desc())
    )


@dataclass(frozen=True)
class Total:
    """Attempts, messages sent (every attempt but the failed ones), their segments and cost."""

    key: Any  # a verifier name, a purpose, a date, or None for the grand total
    currency: str
    attempts: int
    messages: int
    segments: int
    cost: Decimal


def _money(value: Any) -> Decimal:
    return Decimal(str(value or 0)).quantize(CENT)


def _aggregates() -> tuple[Any, ...]:
    sent = SmsLogEntry.status != FAILED
    return (
        func.count(SmsLogEntry.id),
        func.coalesce(func.sum(case((sent, 1), else_=0)), 0),
        func.coalesce(func.sum(case((sent, SmsLogEntry.segments), else_=0)), 0),
        func.coalesce(func.sum(SmsLogEntry.cost), 0),
    )


DIMENSIONS = {
    "verifier": lambda: SmsLogEntry.verifier_name,
    "purpose": lambda: SmsLogEntry.purpose,
    "day": lambda: utc_day(SmsLogEntry.created_at),
}


def totals(log_filter: LogFilter, by: str | None = None) -> list[Total]:
    """Totals of the filtered rows, per currency, grouped *by* "verifier", "purpose" or "day"
    (None: one total per currency). Days come newest first, the others in name order.
    """
    where = log_filter.conditions()
    columns = _aggregates()
    if by is None:
        stmt = (
            select(SmsLogEntry.currency, *columns)
            .where(*where)
            .group_by(SmsLogEntry.currency)
            .order_by(SmsLogEntry.currency)
        )
        rows = [(None, *row) for row in db.session.execute(stmt)]
    else:
        key: ColumnElement[Any] = DIMENSIONS[by]().label("key")
        stmt = (
            select(key, SmsLogEntry.currency, *columns)
            .where(*where)
            .group_by(key, SmsLogEntry.currency)
            .order_by(key.desc() if by == "day" else key, SmsLogEntry.currency)
        )
        rows = [tuple(row) for row in db.session.execute(stmt)]
    return [
        Total(
            key=_as_date(key) if by == "day" else key,
            currency=currency,
            attempts=int(attempts),
            messages=int(messages),
            segments=int(segs),
            cost=_money(cost),
        )
        for key, currency, attempts, messages, segs, cost in rows
    ]


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


@dataclass(frozen=True)
class Health:
    """How one verifier did over a window: success rate and latency of its attempts."""

    verifier: str
    attempts: int
    successes: int
    median_ms: float | None
    p95_ms: float | None

    @property
    def success_rate(self) -> float | None:
        """Accepted or delivered over all attempts, 0..1; None without attempts."""
        return self.successes / self.attempts if self.attempts else None


def percentile(values: list[int], share: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least *share* of values at or
    below it (p95 of 1..100 is 95).
    """
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return float(ordered[rank - 1])


def health(now: datetime, window: timedelta = timedelta(hours=1)) -> dict[str, Health]:
    """Per verifier name, the attempts logged in the *window* before *now*."""
    stmt = select(SmsLogEntry.verifier_name, SmsLogEntry.status, SmsLogEntry.latency_ms).where(
        SmsLogEntry.created_at > now - window,
        SmsLogEntry.created_at <= now,
        ~attempts.sending_now(now),  # in flight: no outcome to judge yet
    )
    seen: dict[str, tuple[list[str], list[int]]] = {}
    for name, status, latency in db.session.execute(stmt):
        statuses, latencies = seen.setdefault(name, ([], []))
        statuses.append(status)
        if latency is not None:
            latencies.append(latency)
    return {
        name: Health(
            verifier=name,
            attempts=len(statuses),
            successes=sum(1 for status in statuses if status in SUCCESS),
            median_ms=float(statistics.median(latencies)) if latencies else None,
            p95_ms=percentile(latencies, 0.95),
        )
        for name, (statuses, latencies) in sorted(seen.items())
    }


@dataclass(frozen=True)
class DeliveryRate:
    """What delivery reports said about one verifier's messages over a window."""

    verifier: str
    delivered: int
    undelivered: int
    #: Accepted by the provider, no final report (yet).
    pending: int

    @property
    def reported(self) -> int:
        return self.delivered + self.undelivered

    @property
    def rate(self) -> float | None:
        """Delivered over all final reports, 0..1; None without reports."""
        return self.delivered / self.reported if self.reported else None


def delivery_rates(now: datetime, window: timedelta = timedelta(days=7)) -> dict[str, DeliveryRate]:
    """Per verifier name, how its messages of the *window* before *now* were reported."""
    stmt = (
        select(SmsLogEntry.verifier_name, SmsLogEntry.status, func.count(SmsLogEntry.id))
        .where(
            SmsLogEntry.created_at > now - window,
            SmsLogEntry.created_at <= now,
            SmsLogEntry.status.in_((ACCEPTED, DELIVERED, UNDELIVERED)),
        )
        .group_by(SmsLogEntry.verifier_name, SmsLogEntry.status)
    )
    counts: dict[str, dict[str, int]] = {}
    for name, status, count in db.session.execute(stmt):
        counts.setdefault(name, {})[status] = int(count)
    return {
        name: DeliveryRate(
            verifier=name,
            delivered=by.get(DELIVERED, 0),
            undelivered=by.get(UNDELIVERED, 0),
            pending=by.get(ACCEPTED, 0),
        )
        for name, by in sorted(counts.items())
    }


def known_verifiers() -> list[str]:
    """Every verifier name that appears in the log (deleted verifiers included)."""
    stmt = select(SmsLogEntry.verifier_name).distinct().order_by(SmsLogEntry.verifier_name)
    return list(db.session.scalars(stmt))


def masked_recipient(recipient_hash: str) -> str | None:
    """How the log shows the number behind *recipient_hash*, if it sent to it at all."""
    stmt = (
        select(SmsLogEntry.recipient_masked)
        .where(SmsLogEntry.recipient_hash == recipient_hash)
        .limit(1)
    )
    return db.session.scalar(stmt)


def known_purposes() -> list[str]:
    stmt = select(SmsLogEntry.purpose).distinct().order_by(SmsLogEntry.purpose)
    return list(db.session.scalars(stmt))


def today(now: datetime) -> list[Total]:
    """Totals per currency since the start of *now*'s UTC day (for the dashboard)."""
    return totals(LogFilter(since=now.astimezone(UTC).date()))


# -- export -----------------------------------------------------------------------------------

EXPORT_COLUMNS = (
    "time_utc",
    "verifier",
    "provider",
    "recipient",
    "purpose",
    "status",
    "raw_code",
    "raw_meaning",
    "provider_message_id",
    "segments",
    "encoding",
    "cost",
    "currency",
    "latency_ms",
    "error_class",
    "reference",
)

#: A cell starting with one of these is a formula to a spreadsheet (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    """Text from a provider, made safe to open in a spreadsheet."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def export_rows(log_filter: LogFilter, batch: int = 500) -> Iterator[list[str]]:
    """The header, then one list of cells per filtered row, newest first.

    Only the masked recipient is exported, never a message text (the log has none) or a
    secret. Provider-supplied text is neutralised so a spreadsheet never runs it as a formula.

    The query is built now, inside the request; the rows are read later, while the response
    streams, in batches of *batch* (keyset pagination on time and id), each on a connection
    that is returned before the batch is yielded. So the iterator needs no app or request
    context, and a client that stops reading leaves no connection or transaction open.
    """
    now = log_filter.now or state.current().clock()
    return _rows(db.engine, log_filter.conditions(), batch, now)


def _rows(
    engine: Engine, where: list[ColumnElement[bool]], batch: int, now: datetime
) -> Iterator[list[str]]:
    yield list(EXPORT_COLUMNS)
    table = SmsLogEntry.__table__
    created, row_id = table.c.created_at, table.c.id
    after: tuple[datetime, int] | None = None
    while True:
        stmt = select(table).where(*where).order_by(created.desc(), row_id.desc()).limit(batch)
        if after is not None:
            stmt = stmt.where(or_(created < after[0], and_(created == after[0], row_id < after[1])))
        with engine.connect() as conn:
            rows = conn.execute(stmt).all()
        for entry in rows:
            yield [
                entry.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                entry.verifier_name,
                entry.provider,
                entry.recipient_masked,  # our own format ("+31*******78"), left as is
                entry.purpose,
                attempts.shown_status(entry.status, entry.created_at, now),
                _cell(entry.raw_code),
                _cell(entry.raw_meaning),
                _cell(entry.provider_message_id),
                str(entry.segments),
                entry.encoding,
                str(_money(entry.cost)),
                entry.currency,
                "" if entry.latency_ms is None else str(entry.latency_ms),
                entry.error_class or "",
                entry.reference,
            ]
        if len(rows) < batch:
            return
        after = (rows[-1].created_at, rows[-1].id)
