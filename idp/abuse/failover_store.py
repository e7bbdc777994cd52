"""The counter store with Redis configured: Redis while it answers, a safe answer when not.

When Redis does not answer (see :mod:`idp.abuse.redis_outage`):

- counters that guard sign-ins that send nothing (consecutive failures per account, failed
  passwords per address) are counted in the database store instead, so password, app-code
  and recovery-code sign-ins keep working, still limited;
- every other counter (send limits, budgets, human-check replay) raises
  :class:`SendingUnavailable`, a 503 with Retry-After: no text goes out while its limits
  cannot be counted. The database has none of the events counted in Redis before the
  outage, so counting sends there would start every send limit and budget from zero.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from idp.abuse.db_store import DatabaseStore
from idp.abuse.errors import SendingUnavailable
from idp.abuse.redis_outage import RedisOutage
from idp.abuse.redis_store import RedisStore
from idp.abuse.store import Failures, Refusal, Window

T = TypeVar("T")

#: Window keys that fall back to the database: failed passwords per address (idp.abuse.lockout).
SIGN_IN_PREFIXES = ("pwfail-ip:",)


def _signs_in(windows: Sequence[Window]) -> bool:
    return bool(windows) and all(w.key.startswith(SIGN_IN_PREFIXES) for w in windows)


class FailoverStore:
    """Redis counters with the database (sign-in guards) or a 503 (sends) while it is down."""

    def __init__(self, redis: RedisStore, database: DatabaseStore, outage: RedisOutage) -> None:
        self.redis = redis
        self.database = database
        self.outage = outage

    def _call(self, primary: Callable[[], T], fallback: Callable[[], T] | None) -> T:
        from redis import RedisError

        if self.outage.should_try():
            try:
                result = primary()
            except (RedisError, OSError) as exc:
                self.outage.failed(exc)
            else:
                self.outage.answered()
                return result
        if fallback is None:
            raise SendingUnavailable()
        return fallback()

    def take(
        self, windows: Sequence[Window], now: datetime, token: str | None = None
    ) -> Refusal | None:
        fallback = (lambda: self.database.take(windows, now, token)) if _signs_in(windows) else None
        return self._call(lambda: self.redis.take(windows, now, token), fallback)

    def settle(self, windows: Sequence[Window], weights: Sequence[int], token: str) -> None:
        # Reservations are only ever taken in Redis (sends have no fallback).
        self._call(lambda: self.redis.settle(windows, weights, token), None)

    def count(self, window: Window, now: datetime) -> int:
        fallback = (lambda: self.database.count(window, now)) if _signs_in([window]) else None
        return self._call(lambda: self.redis.count(window, now), fallback)

    def forget(self, key: str) -> None:
        self._call(lambda: self.redis.forget(key), None)

    def fail(self, key: str, now: datetime) -> int:
        return self._call(lambda: self.redis.fail(key, now), lambda: self.database.fail(key, now))

    def failures(self, key: str) -> Failures:
        return self._call(lambda: self.redis.failures(key), lambda: self.database.failures(key))

    def clear_failures(self, key: str) -> None:
        self._call(
            lambda: self.redis.clear_failures(key), lambda: self.database.clear_failures(key)
        )
