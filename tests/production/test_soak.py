"""Soak: 1,500 SMS sign-ins against `poort serve` (2 workers) on PostgreSQL, no Redis.

The limit counters live in the database (``limit_events``). The work per sign-in must stay
the same however many came before: the SQL statements PostgreSQL runs per sign-in (counted by
``pg_stat_statements`` in the server, the app untouched) and the rows they hand to the app do
not grow from the first rounds to the last, and the counter table holds only live events: a
backlog of expired ones is pruned away by the traffic itself. Counts, never timings.

Every round signs in the same :data:`PEOPLE` people once each (known numbers, codes read from
the console provider's outbox), so every round does the same work; limits are raised so none
trips, as an operator would with `poort limits set`.

1,500, not 3,000: a sign-in is five requests and about a hundred statements, CPU-bound on
2 cores; 3,000 took 136 s on the shared machine (about 100 s when it was otherwise idle),
1,500 take about a minute. Ten rounds still sign every person in ten times.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from idp.abuse.db_store import LONGEST
from idp.extensions import db
from idp.models import LimitEvent, User
from tests.production.driver import Driver, Load
from tests.production.server import PoortServer
from tests.production.services import PostgresCluster
from tests.production.setup import Outbox, admin_app, seed

SIGN_INS = 1500
#: People, each signing in once per round (SIGN_INS // PEOPLE rounds).
PEOPLE = 150
#: Client threads: enough to keep two workers busy, fewer than a worker sheds at (6 of 8).
THREADS = 4
#: Expired counter events left from "yesterday", which the sign-ins must prune on the way.
BACKLOG = 30_000
#: No limit trips in the soak: every counter's ceiling far above what 3,000 sign-ins reach.
LIMITS = {
    "number_cooldown_seconds": 0,
    "number_per_hour": 100_000,
    "number_per_day": 100_000,
    "ip_per_hour": 1_000_000,
    "network_per_hour": 1_000_000,
    "human_check_after": 0,
    "global_per_hour": 1_000_000,
    "global_per_day": 1_000_000,
    "verifier_per_hour": 1_000_000,
    "verifier_per_day": 1_000_000,
    "prefix_min_sends": 100_000,
    "prefix_min_verified_percent": 0,
}


@pytest.fixture
def counted_postgres() -> Iterator[PostgresCluster]:
    """A private cluster of its own that counts every statement (pg_stat_statements)."""
    cluster = PostgresCluster(
        {
            "shared_preload_libraries": "pg_stat_statements",
            # Room for every distinct statement: none evicted, so the sums are complete.
            "pg_stat_statements.max": "20000",
        }
    )
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


def people() -> list[str]:
    """Dutch mobile numbers of the people signing in (+316 and eight digits)."""
    return [f"+3162{n:07d}" for n in range(PEOPLE)]


def add_people(server: PoortServer, database_url: str) -> None:
    """The people, with verified numbers, and the expired backlog of counter events."""
    with admin_app(server, database_url, "setup-soak").app_context():
        now = datetime.now(UTC)
        db.session.add_all(
            User(nickname=f"Person {n}", phone=phone, phone_verified_at=now)
            for n, phone in enumerate(people())
        )
        # Generated in the server: one statement, not 50,000 rows through the driver.
        db.session.execute(
            text(
                "INSERT INTO limit_events (key, at) SELECT 'num-h:+3161' || (g % 500), :at "
                "FROM generate_series(1, :n) AS g"
            ),
            {"at": now - LONGEST - timedelta(hours=1), "n": BACKLOG},
        )
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


class Statements:
    """What PostgreSQL ran in one database, from pg_stat_statements (read from another one)."""

    def __init__(self, cluster: PostgresCluster, database: str) -> None:
        self.database = database
        self.engine: Engine = create_engine(
            cluster.url().replace("postgresql://", "postgresql+psycopg://"),
            isolation_level="AUTOCOMMIT",
            poolclass=NullPool,  # each read closes its connection: nothing left open after
        )
        with self.engine.connect() as conn:
            conn.execute(text("CREATE EXTENSION pg_stat_statements"))

    def totals(self) -> tuple[int, int]:
        """(statements run, rows handed to the app or written, deletes left out).

        A delete's rows are those it removed: many while the backlog is pruned, then none.
        """
        with self.engine.connect() as conn:
            calls, rows = conn.execute(
                text(
                    "SELECT coalesce(sum(calls), 0), coalesce(sum(rows) FILTER "
                    "(WHERE query NOT ILIKE 'DELETE%'), 0) FROM pg_stat_statements s "
                    "JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = :name"
                ),
                {"name": self.database},
            ).one()
        return int(calls), int(rows)

    def settled(self) -> tuple[int, int]:
        """The totals once nothing runs any more (a text's last update may still be going)."""
        before = self.totals()
        for _ in range(50):
            time.sleep(0.1)
            after = self.totals()
            if after == before:
                return after
            before = after
        pytest.fail("the database did not go quiet between batches")

    def evicted(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text("SELECT dealloc FROM pg_stat_statements_info")).scalar())


def counter_table(database_url: str) -> tuple[int, int]:
    """(events in limit_events, of which expired: older than any window)."""
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            expired = datetime.now(UTC) - LONGEST
            total = conn.scalar(select(func.count()).select_from(LimitEvent))
            old = conn.scalar(
                select(func.count()).select_from(LimitEvent).where(LimitEvent.at <= expired)
            )
            return int(total or 0), int(old or 0)
    finally:
        engine.dispose()


def test_statements_per_sign_in_do_not_grow_over_1500_sms_sign_ins(
    poort_server: Callable[..., PoortServer], counted_postgres: PostgresCluster
) -> None:
    name = f"soak_{secrets.token_hex(4)}"
    database_url = counted_postgres.create_database(name)
    env = {
        "DATABASE_URL": database_url,
        # A person may ask for a new code a second after the last (not a minute): each signs
        # in once a round, seconds apart.
        "IDP_CODE_RESEND_SECONDS": "1",
        # The same two workers throughout (no recycling after 2,000 requests): a worker's
        # start-up reads would land in a random round, and in-process state that grew would
        # be reset instead of showing.
        "GUNICORN_CMD_ARGS": "--max-requests 0",
    }
    server = poort_server(workers=2, env=env)
    seed(server, database_url, sms=True)
    add_people(server, database_url)
    server.poort("limits", "set", *(f"{key}={value}" for key, value in LIMITS.items()))
    server.start()
    server.wait_for_workers(2)
    statements = Statements(counted_postgres, name)
    driver = Driver(server.url)
    outbox = Outbox(server)

    rounds: list[Round] = []
    signed_in = 0
    for _ in range(SIGN_INS // PEOPLE):
        calls, rows = statements.settled()
        started = time.monotonic()
        load = sign_in_everyone(driver, outbox)
        assert load.succeeded == PEOPLE, (len(rounds), load.succeeded, load.errors, driver.statuses)
        signed_in += load.succeeded
        after_calls, after_rows = statements.settled()
        rounds.append(
            Round(
                (after_calls - calls) / PEOPLE,
                (after_rows - rows) / PEOPLE,
                *counter_table(database_url),
                time.monotonic() - started,
            )
        )
    report = "\n".join(f"round {n}: {r}" for n, r in enumerate(rounds, start=1))
    print(report)

    assert signed_in == SIGN_INS
    assert max(driver.statuses) < 500, (driver.statuses, server.output()[-3000:])
    assert "Traceback" not in server.output(), server.output()[-6000:]
    assert statements.evicted() == 0, "pg_stat_statements dropped entries: the sums are short"
    # Round 1 is everyone's first sign-in, in fresh workers: their start-up reads, and no
    # earlier code to look up (one row fewer). From round 2 on every round does the same work:
    # the last may not do more, exactly (no tolerance: nothing random runs in a request).
    first, second, last = rounds[0], rounds[1], rounds[-1]
    assert last.statements <= first.statements, report
    assert last.statements <= second.statements, report
    assert last.rows <= second.rows, report
    # Bounded: the expired backlog is gone, pruned by the sign-ins themselves (no `poort
    # prune` ran), the table never grew past where it started plus a round, and what is left
    # are live events, the same number for every sign-in.
    live_per_sign_in = (first.events - first.expired) / PEOPLE
    assert last.expired == 0, report
    assert last.events == live_per_sign_in * SIGN_INS, report
    assert max(r.events for r in rounds) <= BACKLOG + live_per_sign_in * PEOPLE, report


@dataclass
class Round:
    """One round of sign-ins: SQL per sign-in, and limit_events after it."""

    statements: float
    rows: float
    events: int
    expired: int
    seconds: float

    def __str__(self) -> str:
        return (
            f"{self.statements:.2f} statements and {self.rows:.2f} rows per sign-in; "
            f"limit_events {self.events} ({self.expired} expired); {self.seconds:.1f} s"
        )


def sign_in_everyone(driver: Driver, outbox: Outbox) -> Load:
    """Every person signs in once, by text message, over :data:`THREADS` browsers at a time."""
    queue = iter(people())
    lock = threading.Lock()

    def sign_in() -> bool:
        with lock:
            phone = next(queue)
        return driver.sms_sign_in(phone, outbox.new_code)

    return Load(sign_in, count=PEOPLE, threads=THREADS, within=60).start().join()
