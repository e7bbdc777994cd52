"""The counter store contract, on the database store and on Redis alike.

Every test runs twice (``counter_backend``): the limits above the store may not tell which
one counts for them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from flask import Flask

from idp import state
from idp.abuse.db_store import DatabaseStore
from idp.abuse.failover_store import FailoverStore
from idp.abuse.store import CounterStore, Failures, Refusal, Window
from tests.abuse.support import BOTH_BACKENDS
from tests.fakes.clock import FakeClock

pytestmark = BOTH_BACKENDS

HOUR = Window("h:one", 1, 3600)


@pytest.fixture
def store(app: Flask, counter_backend: str) -> Iterator[CounterStore]:
    with app.app_context():
        counters = state.current().counters
        # With Redis the app counts through FailoverStore (Redis while it answers).
        expected = FailoverStore if counter_backend == "redis" else DatabaseStore
        assert isinstance(counters, expected)
        yield counters


def take(store: CounterStore, clock: FakeClock, *windows: Window) -> Refusal | None:
    return store.take(list(windows), clock())


# -- taking -----------------------------------------------------------------------------------


def test_nothing_to_take_is_no_refusal(store: CounterStore, clock: FakeClock) -> None:
    assert store.take([], clock()) is None


def test_a_take_counts_once_in_every_window(store: CounterStore, clock: FakeClock) -> None:
    a, b, c = Window("a", 3, 3600), Window("b", 5, 60), Window("c", 2, 86400)

    assert take(store, clock, a, b, c) is None
    assert take(store, clock, a, c) is None

    assert [store.count(w, clock()) for w in (a, b, c)] == [2, 1, 2]


def test_a_window_allows_exactly_its_limit(store: CounterStore, clock: FakeClock) -> None:
    window = Window("five", 5, 3600)
    results = []
    for _ in range(7):
        results.append(take(store, clock, window))
        clock.advance(seconds=1)

    assert results[:5] == [None] * 5
    assert [r.window for r in results[5:]] == [window, window]  # type: ignore[union-attr]
    assert store.count(window, clock()) == 5


def test_a_refused_take_counts_in_no_window(store: CounterStore, clock: FakeClock) -> None:
    roomy, full, after = Window("roomy", 10, 3600), Window("full", 1, 3600), Window("z", 10, 60)
    assert take(store, clock, full) is None

    refusal = take(store, clock, roomy, full, after)

    assert refusal is not None and refusal.window == full
    assert [store.count(w, clock()) for w in (roomy, full, after)] == [0, 1, 0]


def test_the_first_full_window_is_the_one_named(store: CounterStore, clock: FakeClock) -> None:
    first, second = Window("first", 1, 60), Window("second", 1, 3600)
    assert take(store, clock, first, second) is None
    clock.advance(seconds=30)

    refusal = take(store, clock, first, second)

    assert refusal == Refusal(first, 30)
    clock.advance(seconds=30)
    assert take(store, clock, first, second) == Refusal(second, 3540)


def test_keys_are_counted_apart(store: CounterStore, clock: FakeClock) -> None:
    assert take(store, clock, Window("x", 1, 3600)) is None

    assert take(store, clock, Window("y", 1, 3600)) is None
    assert take(store, clock, Window("x", 1, 3600)) is not None


# -- when a window has room again -------------------------------------------------------------


def test_retry_after_is_the_time_until_the_event_leaves_the_window(
    store: CounterStore, clock: FakeClock
) -> None:
    assert take(store, clock, HOUR) is None
    clock.advance(seconds=1800)

    assert take(store, clock, HOUR) == Refusal(HOUR, 1800)


def test_a_limit_lifts_at_exactly_the_right_second(store: CounterStore, clock: FakeClock) -> None:
    assert take(store, clock, HOUR) is None

    clock.advance(seconds=3599)
    assert take(store, clock, HOUR) == Refusal(HOUR, 1)
    clock.advance(seconds=1)
    assert take(store, clock, HOUR) is None
    assert take(store, clock, HOUR) == Refusal(HOUR, 3600)


def test_part_of_a_second_left_is_a_whole_second(store: CounterStore, clock: FakeClock) -> None:
    assert take(store, clock, HOUR) is None

    clock.advance(seconds=3599.5)
    assert take(store, clock, HOUR) == Refusal(HOUR, 1)
    clock.advance(seconds=0.25)
    assert take(store, clock, HOUR) == Refusal(HOUR, 1)
    clock.advance(seconds=0.25)
    assert take(store, clock, HOUR) is None


def test_a_sliding_window_makes_room_one_event_at_a_time(
    store: CounterStore, clock: FakeClock
) -> None:
    window = Window("three", 3, 3600)
    for _ in range(3):  # at 0, 600 and 1200 s
        assert take(store, clock, window) is None
        clock.advance(seconds=600)

    assert take(store, clock, window) == Refusal(window, 1800)  # at 1800 s: the first leaves
    clock.advance(seconds=1800)
    assert take(store, clock, window) is None
    assert take(store, clock, window) == Refusal(window, 600)  # now the one from 600 s


def test_a_lowered_limit_waits_until_enough_events_left(
    store: CounterStore, clock: FakeClock
) -> None:
    roomy = Window("lowered", 3, 3600)
    for _ in range(3):  # at 0, 100 and 200 s
        assert take(store, clock, roomy) is None
        clock.advance(seconds=100)

    lowered = Window("lowered", 2, 3600)
    # Two of three must leave: the one from 0 s and the one from 100 s, at 3700 s.
    assert take(store, clock, lowered) == Refusal(lowered, 3400)
    clock.advance(seconds=3399)
    assert take(store, clock, lowered) == Refusal(lowered, 1)
    clock.advance(seconds=1)
    assert take(store, clock, lowered) is None


# -- counting and forgetting ------------------------------------------------------------------


def test_count_sees_only_events_inside_the_window(store: CounterStore, clock: FakeClock) -> None:
    key = "counted"
    for _ in range(3):  # at 0, 60 and 120 s
        assert take(store, clock, Window(key, 10, 86400)) is None
        clock.advance(seconds=60)
    clock.advance(seconds=3600 - 180)  # exactly one hour after the first

    assert store.count(Window(key, 10, 3600), clock()) == 2
    assert store.count(Window(key, 10, 3601), clock()) == 3
    assert store.count(Window(key, 10, 60), clock()) == 0
    assert store.count(Window("other", 10, 3600), clock()) == 0


def test_forget_drops_every_event_of_one_key(store: CounterStore, clock: FakeClock) -> None:
    kept = Window("kept", 2, 3600)
    for window in (HOUR, kept):
        assert take(store, clock, window) is None

    store.forget(HOUR.key)

    assert store.count(HOUR, clock()) == 0
    assert take(store, clock, HOUR) is None
    assert store.count(kept, clock()) == 1
    store.forget("never-seen")  # forgetting nothing is fine


# -- consecutive failures ---------------------------------------------------------------------


def test_failures_count_on_and_remember_the_last(store: CounterStore, clock: FakeClock) -> None:
    assert store.failures("acct:1") == Failures(0, None)

    assert store.fail("acct:1", clock()) == 1
    clock.advance(minutes=5)
    assert store.fail("acct:1", clock()) == 2
    clock.advance(days=2)  # failures do not expire with a window
    assert store.fail("acct:1", clock()) == 3

    seen = store.failures("acct:1")
    assert seen.count == 3
    assert seen.last_at == clock()
    assert store.failures("acct:2") == Failures(0, None)


def test_clear_failures_starts_again_from_zero(store: CounterStore, clock: FakeClock) -> None:
    for _ in range(4):
        store.fail("acct:1", clock())
    store.fail("acct:2", clock())

    store.clear_failures("acct:1")

    assert store.failures("acct:1") == Failures(0, None)
    assert store.failures("acct:2").count == 1
    assert store.fail("acct:1", clock()) == 1
    store.clear_failures("never-failed")


# -- at the same time -------------------------------------------------------------------------


def test_concurrent_takes_never_pass_the_limit(app: Flask, clock: FakeClock) -> None:
    window = Window("burst", 5, 3600)
    results: list[Refusal | None] = []
    errors: list[BaseException] = []
    start = threading.Barrier(10, timeout=30)

    def worker() -> None:
        try:
            with app.app_context():
                start.wait()
                results.append(state.current().counters.take([window], clock()))
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    assert len(results) == 10
    assert results.count(None) == 5
    with app.app_context():
        assert state.current().counters.count(window, clock()) == 5
