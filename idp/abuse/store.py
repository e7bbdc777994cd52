"""Where limit counters live, so that every worker sees the same counts.

Two stores keep the same contract: Redis when ``redis_url`` is set, else the database. Both
count events in a sliding log (the timestamps of the events within the window), so a limit
lifts exactly when its oldest counted event leaves the window, not at the turn of an hour.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Window:
    """At most *limit* events under *key* in any *seconds* long stretch of time.

    A *weighted* window adds up the events' weights instead of counting them (a cost budget in
    micro-units); a take adds *weight* to it and is refused when that would pass the limit.
    """

    key: str
    limit: int
    seconds: int
    weight: int = 1
    weighted: bool = False


@dataclass(frozen=True)
class Refusal:
    """The window that is full, and when it has room again."""

    window: Window
    retry_after: int  # whole seconds, at least 1


@dataclass(frozen=True)
class Failures:
    count: int
    last_at: datetime | None


class CounterStore(Protocol):
    def take(
        self, windows: Sequence[Window], now: datetime, token: str | None = None
    ) -> Refusal | None:
        """Count one event under every window, or, if any window is full, under none.

        *token* tags the events so that :meth:`settle` can change or drop them later.
        """

    def settle(self, windows: Sequence[Window], weights: Sequence[int], token: str) -> None:
        """Set the weight of the events tagged *token* under *windows* (taken at each window's
        ``weight``) to *weights*; 0 drops them. Events already forgotten stay forgotten."""

    def count(self, window: Window, now: datetime) -> int:
        """Events under the window's key within it (a weighted window: their weights' sum)."""

    def forget(self, key: str) -> None:
        """Drop every event under *key* (an admin resets a limit)."""

    def fail(self, key: str, now: datetime) -> int:
        """Add one consecutive failure under *key*; return the new count."""

    def failures(self, key: str) -> Failures: ...

    def clear_failures(self, key: str) -> None: ...


def lock_id(key: str) -> int:
    """A signed 64-bit number for *key* (PostgreSQL advisory locks take one)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


def retry_after_seconds(oldest_blocking: float, window: Window, now: float) -> int:
    """Seconds until the event at *oldest_blocking* (epoch seconds) leaves the window."""
    remaining = oldest_blocking + window.seconds - now
    return max(1, int(remaining) + (0 if remaining == int(remaining) else 1))
