"""Limit counters in the database: a sliding log of events, serialised per key.

On PostgreSQL a transaction-scoped advisory lock per key (taken in key order, so two
requests never wait on each other in a circle) makes check-then-count atomic across workers.
SQLite has one writer at a time: the first statement is a write, which takes the database's
write lock before anything is counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from idp.abuse.store import Failures, Refusal, Window, lock_id, retry_after_seconds
from idp.extensions import db
from idp.models import FailureCounter, LimitEvent


class DatabaseStore:
    """The counter store used when no Redis is configured. Every call commits."""

    def _lock(self, keys: Sequence[str]) -> None:
        if db.engine.dialect.name == "postgresql":
            for key in sorted(set(keys)):
                db.session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id(key)})

    def take(self, windows: Sequence[Window], now: datetime) -> Refusal | None:
        if not windows:
            return None
        try:
            self._lock([w.key for w in windows])
            for window in windows:
                # Also takes SQLite's write lock, before anything is counted.
                db.session.execute(
                    delete(LimitEvent)
                    .where(
                        LimitEvent.key == window.key,
                        LimitEvent.at <= now - timedelta(seconds=window.seconds),
                    )
                    .execution_options(synchronize_session=False)
                )
            for window in windows:
                since = now - timedelta(seconds=window.seconds)
                times = db.session.scalars(
                    select(LimitEvent.at)
                    .where(LimitEvent.key == window.key, LimitEvent.at > since)
                    .order_by(LimitEvent.at)
                ).all()
                if len(times) >= window.limit:
                    blocking = times[len(times) - window.limit]
                    db.session.rollback()
                    return Refusal(
                        window,
                        retry_after_seconds(blocking.timestamp(), window, now.timestamp()),
                    )
            db.session.add_all(LimitEvent(key=w.key, at=now) for w in windows)
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
        return None

    def count(self, window: Window, now: datetime) -> int:
        since = now - timedelta(seconds=window.seconds)
        return (
            db.session.scalar(
                select(func.count())
                .select_from(LimitEvent)
                .where(LimitEvent.key == window.key, LimitEvent.at > since)
            )
            or 0
        )

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
