"""Latency percentiles and the summary of one load run."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], p: float) -> float:
    """The *p*-th percentile of *values* by the nearest-rank method.

    The smallest value such that at least *p* percent of the values are at or below it:
    p50 of [1, 2, 3, 4] is 2, p99 of a hundred values is the 99th smallest. Percentiles are
    never interpolated, so every figure reported is a latency that was really measured.

    :raises ValueError: for an empty sequence or *p* outside 0..100.
    """
    if not values:
        raise ValueError("no values to take a percentile of")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100, not {p}")
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def summarise(latencies: Sequence[float]) -> dict[str, float | None]:
    """p50, p95, p99 and the maximum of *latencies* (seconds), in milliseconds."""
    if not latencies:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    return {
        "p50_ms": percentile(latencies, 50) * 1000,
        "p95_ms": percentile(latencies, 95) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies) * 1000,
    }
