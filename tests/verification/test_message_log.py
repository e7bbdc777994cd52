"""The message-log queries: filters, totals per verifier, purpose and UTC day, health."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from idp.verification import message_log
from idp.verification.message_log import LogFilter, Total, percentile
from tests.admin.sms_support import PHONE, add_entry

OTHER = "+31687654321"


def at(day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, second, tzinfo=UTC)


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


def test_days_are_utc_days_on_every_database(app, ctx):
    add_entry(app, created_at=at(4, 23, 59, 59), segments=2, cost=Decimal("0.1"))
    add_entry(app, created_at=at(5, 0, 0, 0), cost=Decimal("0.05"))
    add_entry(app, created_at=at(5, 8, 30), cost=Decimal("0.05"))

    per_day = message_log.totals(LogFilter(), by="day")

    assert per_day == [
        Total(date(2026, 1, 5), "EUR", 2, 2, 2, Decimal("0.1000")),
        Total(date(2026, 1, 4), "EUR", 1, 1, 2, Decimal("0.1000")),
    ]


def test_failed_attempts_count_as_attempts_not_messages(app, ctx):
    add_entry(app, status="failed", segments=3, cost=Decimal("0"))
    add_entry(app, status="accepted", segments=2, cost=Decimal("0.112"))
    add_entry(app, status="undelivered", segments=1, cost=Decimal("0.056"))

    [total] = message_log.totals(LogFilter())

    assert (total.attempts, total.messages, total.segments, total.cost) == (
        3,
        2,
        3,
        Decimal("0.1680"),
    )


def test_totals_per_verifier_and_purpose_keep_currencies_apart(app, ctx):
    add_entry(app, verifier_name="b", purpose="login", currency="USD", cost=Decimal("0.01"))
    add_entry(app, verifier_name="a", purpose="login")
    add_entry(app, verifier_name="a", purpose="signup")

    per_verifier = [
        (t.key, t.currency, t.messages) for t in message_log.totals(LogFilter(), "verifier")
    ]
    per_purpose = [
        (t.key, t.currency, t.messages) for t in message_log.totals(LogFilter(), "purpose")
    ]

    assert per_verifier == [("a", "EUR", 2), ("b", "USD", 1)]
    assert per_purpose == [("login", "EUR", 1), ("login", "USD", 1), ("signup", "EUR", 1)]


def test_date_bounds_are_inclusive_utc_days(app, ctx):
    for day in (3, 4, 5):
        add_entry(app, created_at=at(day, 0))
        add_entry(app, created_at=at(day, 23, 59, 59))
    from idp.extensions import db

    def days(log_filter: LogFilter) -> list[datetime]:
        return [e.created_at for e in db.session.scalars(message_log.entries(log_filter))]

    assert days(LogFilter(since=date(2026, 1, 4), until=date(2026, 1, 4))) == [
        at(4, 23, 59, 59),
        at(4, 0),
    ]
    assert len(days(LogFilter(since=date(2026, 1, 4)))) == 4
    assert len(days(LogFilter(until=date(2026, 1, 3)))) == 2


def test_recipient_is_matched_by_its_hash(app, ctx):
    add_entry(app, phone=PHONE)
    add_entry(app, phone=OTHER)
    from idp.extensions import db

    found = db.session.scalars(message_log.entries(LogFilter(recipient=OTHER))).all()

    assert [e.recipient_masked for e in found] == ["+31*******21"]


def test_health_over_the_last_hour(app, ctx, clock):
    now = clock()
    latencies = [300, 100, 200, 900, 500]
    statuses = ["accepted", "delivered", "failed", "undelivered", "accepted"]
    for n, (latency, status) in enumerate(zip(latencies, statuses, strict=True)):
        add_entry(app, created_at=now - timedelta(minutes=n), status=status, latency_ms=latency)
    add_entry(app, created_at=now - timedelta(minutes=60), status="failed", latency_ms=5000)
    add_entry(app, created_at=now - timedelta(minutes=10), verifier_name="quiet", latency_ms=None)

    health = message_log.health(now)

    alpha = health["alpha"]
    assert (alpha.attempts, alpha.successes) == (5, 3)
    assert alpha.success_rate == pytest.approx(0.6)
    assert (alpha.median_ms, alpha.p95_ms) == (300.0, 900.0)
    quiet = health["quiet"]
    assert (quiet.attempts, quiet.success_rate, quiet.median_ms, quiet.p95_ms) == (
        1,
        1.0,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("values", "share", "expected"),
    [
        ([], 0.95, None),
        ([7], 0.95, 7.0),
        (list(range(1, 101)), 0.95, 95.0),
        (list(range(1, 101)), 0.5, 50.0),
        ([10, 20], 0.95, 20.0),
        ([5, 1, 3], 0.5, 3.0),
    ],
)
def test_percentile_is_nearest_rank(values, share, expected):
    assert percentile(values, share) == expected


def test_today_starts_at_utc_midnight(app, ctx, clock):
    add_entry(app, created_at=at(4, 23, 59, 59))
    add_entry(app, created_at=at(5, 0), cost=Decimal("0.2"))

    [total] = message_log.today(clock())

    assert (total.messages, total.cost) == (1, Decimal("0.2000"))


def test_export_reads_the_rows_later_without_a_context(app):
    add_entry(app, raw_meaning="=cmd")
    with app.app_context():
        rows = message_log.export_rows(LogFilter())
    add_entry(app, raw_meaning="later")  # written after the query was built: still exported
    header = next(rows)
    assert header[0] == "time_utc"
    later, first = list(rows)
    assert first[header.index("raw_meaning")] == "'=cmd"
    assert later[header.index("raw_meaning")] == "later"
    assert first[header.index("recipient")] == "+31*******78"


def test_export_reads_in_batches_without_losing_rows_that_share_a_time(app, clock):
    same = clock()
    for n in range(5):
        add_entry(app, created_at=same if n < 4 else same - timedelta(minutes=1), raw_code=str(n))
    with app.app_context():
        rows = message_log.export_rows(LogFilter(), batch=2)
    header = next(rows)
    codes = [row[header.index("raw_code")] for row in rows]
    assert codes == ["3", "2", "1", "0", "4"]
