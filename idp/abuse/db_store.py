"""Limit counters in the database: a sliding log of events, serialised per key.

On PostgreSQL a transaction-scoped advisory lock per key (taken in key order, so two
requests never wait on each other in a circle) makes check-then-count atomic across workers.
SQLite has one writer at a time: the first statement is a write, which takes the database's
write lock before anything is counted.

Every check is a fixed number of statements whatever the traffic: the windows are counted in
SQL over the (key, at) index, in one round trip, and each take prunes a few expired events, so
the table holds about a day of events.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Select, delete, func, select, text, update
from sqlalchemy import insert as sa_insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from idp.abuse.store import Failures, Refusal, Window, lock_id, retry_after_seconds
from idp.extensions import db
from idp.models import FailureCounter, LimitEvent

#: No window is longer than a day (limits, budgets, trip markers); older events count nowhere.
LONGEST = timedelta(days=1)
#: Oldest events looked at for pruning on each take: at least two per event added.
PRUNE_BATCH = 32


class DatabaseStore:
    """The counter store used when no Redis is configured. Every call commits."""

    def _lock(self, keys: Sequence[str]) -> None:
        if db.engine.dialect.name == "postgresql":
            ids = [lock_id(key) for key in sorted(set(keys))]
            # One round trip; the target list is evaluated left to right, in key order.
            calls = ", ".join(f"pg_advisory_xact_lock(:k{n})" for n in range(len(ids)))
            db.session.execute(
                text(f"SELECT {calls}"),  # noqa: S608 - only numbered parameters
                {f"k{n}": lock for n, lock in enumerate(ids)},
            )

    def take(
        self, windows: Sequence[Window], now: datetime, token: str | None = None
    ) -> Refusal | None:
        if not windows:
            return None
        try:
            self._lock([w.key for w in windows])
            # A write first: it takes SQLite's write lock before anything is counted.
            self._prune(now)
            counts = db.session.execute(
                select(*(self._count_query(w, now).scalar_subquery() for w in windows))
            ).one()
            for window, used in zip(windows, counts, strict=True):
                if used + window.weight > window.limit:
                    blocking = self._blocking(window, now, int(used))
                    db.session.rollback()
                    return Refusal(window, blocking)
            db.session.execute(
                sa_insert(LimitEvent),
                [{"key": w.key, "at": now, "weight": w.weight, "token": token} for w in windows],
            )
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
        return None

    def _blocking(self, window: Window, now: datetime, used: int) -> int:
        """Seconds until enough of the window's events expire to make room (read on refusals)."""
        need = used + window.weight - window.limit  # weight that must leave the window
        if need > used:  # more than the whole limit: no expiry makes room within the window
            return window.seconds
        running = (
            func.sum(LimitEvent.weight).over(order_by=(LimitEvent.at, LimitEvent.id))
            if window.weighted
            else func.row_number().over(order_by=(LimitEvent.at, LimitEvent.id))
        )
        ranked = (
            select(LimitEvent.at.label("at"), running.label("running"))
            .where(*self._in_window(window, now))
            .subquery()
        )
        blocking = db.session.scalar(
            select(ranked.c.at).where(ranked.c.running >= need).order_by(ranked.c.at).limit(1)
        )
        if blocking is None:
            return window.seconds
        return retry_after_seconds(blocking.timestamp(), window, now.timestamp())

    def settle(self, windows: Sequence[Window], weights: Sequence[int], token: str) -> None:
        try:
            for window, weight in zip(windows, weights, strict=True):
                mine = (LimitEvent.key == window.key, LimitEvent.token == token)
                change = (
                    update(LimitEvent).where(*mine).values(weight=weight)
                    if weight
                    else delete(LimitEvent).where(*mine)
                )
                db.session.execute(change.execution_options(synchronize_session=False))
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise

    @staticmethod
    def _in_window(window: Window, now: datetime) -> list:
        return [
            LimitEvent.key == window.key,
            LimitEvent.at > now - timedelta(seconds=window.seconds),
        ]

    def _count_query(self, window: Window, now: datetime) -> Select:
        total = func.coalesce(func.sum(LimitEvent.weight), 0) if window.weighted else func.count()
        return select(total).select_from(LimitEvent).where(*self._in_window(window, now))

    @staticmethod
    def _prune(now: datetime) -> None:
        """Delete the expired ones among the oldest few events: constant work per call.

        Ids grow with time, so the oldest ids are the oldest events; pruning a few on every
        take keeps the table to about a day of events without a full scan.
        """
        oldest = select(LimitEvent.id).order_by(LimitEvent.id).limit(PRUNE_BATCH)
        db.session.execute(
            delete(LimitEvent)
            .where(LimitEvent.id.in_(oldest.scalar_subquery()), LimitEvent.at <= now - LONGEST)
            .execution_options(synchronize_session=False)
        )

    def count(self, window: Window, now: datetime) -> int:
        return int(db.session.scalar(self._count_query(window, now)) or 0)

    def forget(self, key: str) -> None:
        db.session.execute(
            delete(LimitEvent)
            .where(LimitEvent.key == key)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()

    def fail(self, key: str, now: datetime) -> int:
        insert = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
        statement = insert(FailureCounter).values(key=key, failures=1, last_failure_at=now)
        upsert = statement.on_conflict_do_update(
            index_elements=[FailureCounter.key],
            set_={"failures": FailureCounter.failures + 1, "last_failure_at": now},
        ).returning(FailureCounter.failures)
        count = db.session.execute(upsert).scalar_one()
        db.session.commit()
        return int(count)

    def failures(self, key: str) -> Failures:
        row = db.session.get(FailureCounter, key, populate_existing=True)
        if row is None:
            return Failures(0, None)
        return Failures(row.failures, row.last_failure_at)

    def clear_failures(self, key: str) -> None:
        db.session.execute(
            delete(FailureCounter)
            .where(FailureCounter.key == key)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
