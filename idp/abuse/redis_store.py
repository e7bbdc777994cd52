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

#: KEYS: the window keys. ARGV: now (ms), the reservation token, then per key its window (ms),
#: limit, weight and whether it is weighted (1/0). A weighted window's members are
#: "w<weight>:<token>" and its use is the sum of those weights; elsewhere members count one each.
#: Returns 0 when counted, else {index of the full window (1-based), time of the event whose
#: expiry makes room (ms), or -1 when no expiry does}.
_TAKE = """
local now = tonumber(ARGV[1])
local function weight_of(member)
  local w = string.match(member, '^w(%-?%d+):')
  if w then return tonumber(w) end
  return 1
end
for i, key in ipairs(KEYS) do
  local base = 4 * i - 1
  local span = tonumber(ARGV[base])
  local limit = tonumber(ARGV[base + 1])
  local weight = tonumber(ARGV[base + 2])
  local weighted = ARGV[base + 3] == '1'
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - span)
  if weighted then
    local members = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
    local used = 0
    for j = 1, #members, 2 do used = used + weight_of(members[j]) end
    if used + weight > limit then
      local need = used + weight - limit
      if need > used then return {i, -1} end
      local running = 0
      for j = 1, #members, 2 do
        running = running + weight_of(members[j])
        if running >= need then return {i, members[j + 1]} end
      end
      return {i, -1}
    end
  else
    local n = redis.call('ZCARD', key)
    if n + weight > limit then
      if n + weight - limit > n then return {i, -1} end
      local oldest = redis.call('ZRANGE', key, n - limit, n - limit, 'WITHSCORES')
      return {i, oldest[2]}
    end
  end
end
for i, key in ipairs(KEYS) do
  local base = 4 * i - 1
  local member = ARGV[2]
  if ARGV[base + 3] == '1' then member = 'w' .. ARGV[base + 2] .. ':' .. ARGV[2] end
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, tonumber(ARGV[base]))
end
return 0
"""

#: KEYS: window keys. ARGV: the token, then per key the weight taken, the new weight (0: drop)
#: and whether it is weighted. The event keeps its time; a forgotten key stays forgotten.
_SETTLE = """
local token = ARGV[1]
for i, key in ipairs(KEYS) do
  local base = 3 * i - 1
  local old, new = token, nil
  if ARGV[base + 2] == '1' then
    old = 'w' .. ARGV[base] .. ':' .. token
    new = 'w' .. ARGV[base + 1] .. ':' .. token
  end
  local at = redis.call('ZSCORE', key, old)
  if at then
    redis.call('ZREM', key, old)
    if ARGV[base + 1] ~= '0' then redis.call('ZADD', key, at, new or old) end
  end
end
return 0
"""

#: Failure counters expire when nobody fails for this long (so unknown names do not pile up).
FAILURE_TTL_SECONDS = 30 * 24 * 3600


def _weight_of(member: bytes) -> int:
    """The weight a weighted window's member carries ("w<weight>:<token>"), else 1."""
    text = member.decode()
    if text.startswith("w") and ":" in text:
        return int(text[1:].split(":", 1)[0])
    return 1


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
        self._settle = self.client.register_script(_SETTLE)

    def _key(self, key: str) -> str:
        return f"{self.prefix}limit:{key}"

    def take(
        self, windows: Sequence[Window], now: datetime, token: str | None = None
    ) -> Refusal | None:
        if not windows:
            return None
        args: list[Any] = [_ms(now), token or f"{_ms(now)}:{secrets.token_hex(6)}"]
        for window in windows:
            args += [window.seconds * 1000, window.limit, window.weight, int(window.weighted)]
        result = self._take(keys=[self._key(w.key) for w in windows], args=args)
        if not result:
            return None
        window = windows[int(result[0]) - 1]
        blocking = float(result[1]) / 1000
        if blocking < 0:
            return Refusal(window, window.seconds)
        return Refusal(window, retry_after_seconds(blocking, window, now.timestamp()))

    def settle(self, windows: Sequence[Window], weights: Sequence[int], token: str) -> None:
        args: list[Any] = [token]
        for window, weight in zip(windows, weights, strict=True):
            args += [window.weight, weight, int(window.weighted)]
        self._settle(keys=[self._key(w.key) for w in windows], args=args)

    def count(self, window: Window, now: datetime) -> int:
        low = _ms(now) - window.seconds * 1000
        if not window.weighted:
            return int(self.client.zcount(self._key(window.key), f"({low}", "+inf"))
        members = self.client.zrangebyscore(self._key(window.key), f"({low}", "+inf")
        return sum(_weight_of(member) for member in members)

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
