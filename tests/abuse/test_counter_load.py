"""The database counter store under load: flat work per sign-in, a bounded table, no locks.

Counts statements and rows, never times. The soak signs one account in again and again with
the clock moving two minutes each time, so a day's events stay in the windows and older ones
must be pruned as traffic goes on.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select

from idp.extensions import db
from idp.models import LimitEvent, User
from tests.abuse.support import KNOWN, address, ask, browser, code_in, enter, outbox, set_limits
from tests.fakes.clock import FakeClock

pytestmark = pytest.mark.usefixtures("sms")

#: Sign-ins in the soak (POORT_SOAK_SIGN_INS overrides, e.g. for a longer local run).
STEP = 1800
SIGN_INS = int(os.environ.get("POORT_SOAK_SIGN_INS", "240"))
GENEROUS = {
    "number_cooldown_seconds": 0,
    "number_per_hour": 100_000,
    "number_per_day": 1_000_000,
    "ip_per_hour": 100_000,
    "network_per_hour": 100_000,
    "human_check_after": 0,
    "global_per_hour": 100_000,
    "global_per_day": 1_000_000,
    "verifier_per_hour": 100_000,
    "verifier_per_day": 1_000_000,
    "prefix_min_sends": 100_000,
}


@contextmanager
def statements(app: Flask) -> Iterator[list[str]]:
    """Every SQL statement the app's engine runs inside the block."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def limit_rows(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(LimitEvent)) or 0


def sign_in(app: Flask, n: int) -> None:
    client = browser(app, address(n % 200))
    assert ask(app, KNOWN, client=client).status_code == 303
    response = enter(client, code_in(outbox(app)[-1]))
    assert response.status_code == 303, response.status_code


def test_a_soak_of_sms_sign_ins_keeps_statements_and_rows_flat(
    app: Flask, clock: FakeClock, known: User
) -> None:
    set_limits(app, **GENEROUS)
    per_sign_in: list[int] = []
    rows: list[int] = []
    for n in range(SIGN_INS):
        with statements(app) as seen:
            sign_in(app, n)
        per_sign_in.append(len(seen))
        clock.advance(seconds=STEP)
        rows.append(limit_rows(app))

    # The first sign-in warms caches; compare the early ones with the last ones.
    first, last = per_sign_in[10:80], per_sign_in[-70:]
    assert max(last) <= max(first), (max(first), max(last))
    assert sum(last) <= sum(first)
    # A day is 48 sign-ins here; a day and a bit later the table stops growing.
    day = 24 * 3600 // STEP
    settled = rows[2 * day :]
    assert len(settled) > day, "too few sign-ins to pass two days"
    assert max(settled) - min(settled) <= 12, (min(settled), max(settled))
    assert max(rows) <= 12 * day, max(rows)


def test_eight_clients_on_a_sqlite_file_are_never_told_the_database_is_locked(
    app: Flask, clock: FakeClock, known: User
) -> None:
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("SQLite only")
    set_limits(app, **GENEROUS)
    clients, each = 8, 25
    ready = threading.Barrier(clients, timeout=60)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            ready.wait()
            for i in range(each):
                response = ask(app, f"+3162{n:03d}{i:04d}", address(n))
                statuses.append(response.status_code)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertions below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)

    assert not errors, errors
    assert statuses == [303] * (clients * each), sorted(set(statuses))
