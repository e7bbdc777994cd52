"""Log before send: a text a provider may have taken is in the message log, whatever dies.

The fake provider's ``abort`` outcome ends the sender mid-send (SystemExit, as gunicorn's
worker timeout does): nothing after the provider call runs, as after a SIGKILL.
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import select

from idp.abuse import controls, sending
from idp.extensions import db
from idp.maintenance import prune
from idp.models import SmsLogEntry
from idp.verification import attempts, dispatch, message_log
from idp.verification.message_log import LogFilter
from idp.verification.resolution import resolve
from tests.abuse.support import set_limits
from tests.fakes.clock import FakeClock
from tests.verification.providers import SENT

PHONE = "+31612345678"
TEXT = "Your Poort login code is 482913. It expires in 5 minutes."
STALE = attempts.UNKNOWN_AFTER + timedelta(seconds=1)


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield


def send(verifier: str) -> dispatch.Delivered:
    return dispatch.send(resolve(verifier), recipient=PHONE, text=TEXT, purpose="login")


def die_mid_send(verifier: str = "dying") -> None:
    with pytest.raises(SystemExit):
        send(verifier)
    db.session.rollback()  # what the dead worker had not committed is gone


def committed_rows(app: Flask) -> list[tuple[str, str, Decimal, str]]:
    """The rows as another connection sees them: only what was committed."""
    table = SmsLogEntry.__table__
    with db.engine.connect() as conn:
        rows = conn.execute(select(table).order_by(table.c.id)).all()
    return [(r.verifier_name, r.status, Decimal(r.cost), r.reference) for r in rows]


def test_the_attempt_is_committed_as_sending_before_the_provider_is_called(
    app, ctx, make_verifier, clock: FakeClock
):
    make_verifier("dying", price="0.08", options={"outcome": "abort"})

    die_mid_send()

    [sent] = SENT  # the provider had the message ...
    # ... and the log has it, at what it costs: the spend is not short by a paid text.
    assert committed_rows(app) == [("dying", "sending", Decimal("0.0800"), sent.message.reference)]
    assert sending.spent_since(clock() - timedelta(hours=1)) == Decimal("0.08")


def test_a_completed_attempt_is_one_row_per_attempt_as_before(app, ctx, make_verifier):
    make_verifier("backup", price="0.07")
    make_verifier("main", fallback="backup", options={"outcome": "temporary"})

    send("main")

    assert [(name, status, cost) for name, status, cost, _ in committed_rows(app)] == [
        ("main", "failed", Decimal("0.0000")),  # refused: the estimate is taken back
        ("backup", "accepted", Decimal("0.0700")),
    ]


def test_an_abandoned_row_reads_unknown_everywhere_and_counts_as_spent(
    app, ctx, make_verifier, clock: FakeClock
):
    set_limits(app, global_cost_per_hour=1, global_cost_per_day=1)
    make_verifier("dying", price="0.08", options={"outcome": "abort"})
    make_verifier("main", price="0.05")
    die_mid_send()
    send("main")

    # While its provider may still answer it is "sending" ...
    assert [e.verifier_name for e in db.session.scalars(message_log.entries(sending_only()))] == [
        "dying"
    ]
    assert list(db.session.scalars(message_log.entries(LogFilter(status="unknown")))) == []

    clock.advance(seconds=STALE.total_seconds())
    # ... past the bound it is "unknown": in the filter, the export and the page.
    [unknown] = db.session.scalars(message_log.entries(LogFilter(status="unknown")))
    assert unknown.verifier_name == "dying"
    assert list(db.session.scalars(message_log.entries(sending_only()))) == []
    exported = list(csv.DictReader(io.StringIO(csv_text(LogFilter()))))
    assert {row["verifier"]: row["status"] for row in exported} == {
        "dying": "unknown",
        "main": "accepted",
    }
    # Counted as sent, at its estimated cost, in the totals and in what budgets read.
    [total] = message_log.totals(LogFilter())
    assert (total.attempts, total.messages, total.cost) == (2, 2, Decimal("0.1300"))
    assert sending.spent_since(clock() - timedelta(hours=1)) == Decimal("0.13")
    # The dead worker's reservation stays counted in the cost budget, as its row does.
    assert [s.spent for s in controls.global_spend()] == [Decimal("0.13"), Decimal("0.13")]
    dying_id = unknown.verifier_id
    assert sending.spent_since(clock() - timedelta(hours=1), dying_id) == Decimal("0.08")


def sending_only() -> LogFilter:
    return LogFilter(status="sending")


def csv_text(log_filter: LogFilter) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    for row in message_log.export_rows(log_filter):
        writer.writerow(row)
    return out.getvalue()


def test_the_admin_page_shows_and_filters_unknown(
    app, make_verifier, admin_client, clock: FakeClock
):
    with app.app_context():
        make_verifier("dying", options={"outcome": "abort"})
        die_mid_send()
    clock.advance(seconds=STALE.total_seconds())

    page = admin_client.get("/admin/sms-log", query_string={"status": "unknown"})

    assert page.status_code == 200
    text = page.get_data(as_text=True)
    row = '<code class="nowrap">dying</code>'  # a row of the log table
    assert row in text and ">unknown</span>" in text
    other = admin_client.get("/admin/sms-log", query_string={"status": "sending"})
    assert row not in other.get_data(as_text=True)


def test_prune_settles_abandoned_rows_and_leaves_fresh_ones(
    app, ctx, make_verifier, clock: FakeClock
):
    make_verifier("dying", options={"outcome": "abort"})
    die_mid_send()
    clock.advance(seconds=STALE.total_seconds())
    die_mid_send()  # a second one, still within the bound: its provider may yet answer

    counts = prune()

    assert counts["sms_interrupted"] == 1
    assert [status for _, status, _, _ in committed_rows(app)] == ["unknown", "sending"]
    old = db.session.get_one(SmsLogEntry, 1)
    assert (old.error_class, old.cost) == ("interrupted", Decimal("0.0560"))
    assert prune()["sms_interrupted"] == 0  # settled once


def test_a_late_answer_still_completes_a_row_marked_unknown(app, ctx, make_verifier, clock):
    make_verifier("dying", options={"outcome": "abort"})
    die_mid_send()
    clock.advance(seconds=STALE.total_seconds())
    assert attempts.settle_interrupted() == 1

    attempts.complete(1, status="accepted", latency_ms=130_000)

    assert [status for _, status, _, _ in committed_rows(app)] == ["accepted"]


def test_concurrent_sends_give_exactly_one_row_and_one_call_each(app, make_verifier, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("truly concurrent writers need PostgreSQL; SQLite serialises them")
    with app.app_context():
        make_verifier("main", price="0.05")
    count = 16
    start = threading.Barrier(count, timeout=30)
    errors: list[BaseException] = []

    def one() -> None:
        try:
            with app.app_context():
                start.wait()
                send("main")
        except BaseException as exc:  # reported below, a thread must not swallow it
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    with app.app_context():
        rows = committed_rows(app)
    assert len(SENT) == count
    assert len(rows) == count
    assert {status for _, status, _, _ in rows} == {"accepted"}
    assert {ref for *_, ref in rows} == {s.message.reference for s in SENT}
