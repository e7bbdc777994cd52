"""Limit counters in Redis: one sorted set of event times per key, checked by a Lua script.

The script checks every window and only then adds the event to all of them, inside Redis,
so concurrent requests from any number of workers can never push a window past its limit.
Times come from the app's clock (not Redis's), so tests can move time.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from idp.abuse.store import Failures, Refusal, Window, retry_after_seconds
from idp.errors import ConfigError

#: KEYS: the window keys. ARGV: now (ms), a unique member, then window (ms) and limit per key.
#: Returns 0 when counted, else {index of the full window (1-based), time of the event whose
#: expiry makes room (ms)}.
_TAKE = """
local now = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local span = tonumber(ARGV[1 + 2 * i])
  local limit = tonumber(ARGV[2 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - span)
  local n = redis.call('ZCARD', key)
  if n >= limit then
    local oldest = redis.call('ZRANGE', key, n - limit, n - limit, 'WITHSCORES')
    return {i, oldest[2]}
  end
end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[2])
  redis.call('PEXPIRE', key, tonumber(ARGV[1 + 2 * i]))
end
return 0
"""

#: Failure counters expire when nobody fails for this long (so unknown names do not pile up).
FAILURE_TTL_SECONDS = 30 * 24 * 3600


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class RedisStore:
    """The counter store used when ``redis_url`` is set."""

    def __init__(self, url: str, prefix: str = "poort:") -> None:
        try:
            import redis  # the redis extra; imported only when configured
        except ImportError as exc:
            raise ConfigError(
                "redis_url is set, but the Python package redis is not installed: "
                "install the redis extra (pip install 'poort[redis]'), or unset redis_url.",
                setting="redis_url",
            ) from exc
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.client: Any = redis.Redis.from_url(
            url,
            socket_timeout=2,
            socket_connect_timeout=2,
            health_check_interval=30,
            # One quick retry: a pooled connection that died with a Redis restart reconnects,
            # while a Redis that is down fails at once (idp.abuse.failover_store decides then).
            retry=Retry(NoBackoff(), 1),
        )
        self.prefix = prefix
        self._take = self.client.register_script(_TAKE)

    def _key(self, key: str) -> str:
        return f"{self.prefix}limit:{key}"

    def take(self, windows: Sequence[Window], now: datetime) -> Refusal | None:
        if not windows:
            return None
        args: list[Any] = [_ms(now), f"{_ms(now)}:{secrets.token_hex(6)}"]
        for window in windows:
            args += [window.seconds * 1000, window.limit]
        result = self._take(keys=[self._key(w.key) for w in windows], args=args)
        if not result:
            return None
        window = windows[int(result[0]) - 1]
        blocking = float(result[1]) / 1000
        return Refusal(window, retry_after_seconds(blocking, window, now.timestamp()))

    def count(self, window: Window, now: datetime) -> int:
        low = _ms(now) - window.seconds * 1000
        return int(self.client.zcount(self._key(window.key), f"({low}", "+inf"))

    def forget(self, key: str) -> None:
        self.client.delete(self._key(key))

    def _failure_key(self, key: str) -> str:
        return f"{self.prefix}fail:{key}"

    def fail(self, key: str, now: datetime) -> int:
        name = self._failure_key(key)
        pipe = self.client.pipeline()  # MULTI/EXEC: the count and its time change together
        pipe.hincrby(name, "n", 1)
        pipe.hset(name, "at", _ms(now))
        pipe.expire(name, FAILURE_TTL_SECONDS)
        count, _, _ = pipe.execute()
        return int(count)

    def failures(self, key: str) -> Failures:
        data = self.client.hgetall(self._failure_key(key))
        if not data:
            return Failures(0, None)
        at = datetime.fromtimestamp(int(data[b"at"]) / 1000, UTC)
        return Failures(int(data[b"n"]), at)

    def clear_failures(self, key: str) -> None:
        self.client.delete(self._failure_key(key))
