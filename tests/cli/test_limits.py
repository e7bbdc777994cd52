"""``poort limits``: show and set the limits (checked as in the panel: one bad value and nothing
is saved), reset a budget, unlock an account, lift a prefix block; every change audited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from idp import site_settings, state
from idp.abuse import limits, lockout, sending
from idp.abuse.store import Window
from idp.extensions import db
from idp.models import AuditEvent, BlockedPrefix, Verifier
from tests.fakes.clock import FakeClock

#: What the benchmark sets (bench/instance.py): limits raised out of the way of a load test.
BENCH = {
    "number_per_hour": 1_000_000,
    "number_per_day": 1_000_000,
    "ip_per_hour": 10_000_000,
    "network_per_hour": 10_000_000,
    "global_per_hour": 10_000_000,
    "global_per_day": 10_000_000,
    "verifier_per_hour": 10_000_000,
    "verifier_per_day": 10_000_000,
    "human_check_after": 10_000_000,
}


def invoke(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["idp", "limits", *args])


def current(app: Flask) -> dict[str, int]:
    with app.test_request_context():
        return limits.current()


def events(app: Flask, action: str) -> list[AuditEvent]:
    with app.app_context():
        rows = list(
            db.session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )
        db.session.expunge_all()
        return rows


def count(app: Flask, key: str, seconds: int = 3600) -> int:
    with app.app_context():
        s = state.current()
        return s.counters.count(Window(key, 1, seconds), s.clock())


def fill(app: Flask, key: str, times: int) -> None:
    with app.app_context():
        s = state.current()
        for _ in range(times):
            assert s.counters.take([Window(key, 1000, 3600)], s.clock()) is None


def test_show_lists_every_limit_with_its_value_and_default(app):
    invoke(app, "set", "number_per_hour=7")

    result = invoke(app, "show")

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["NAME", "VALUE", "DEFAULT", "MEANING"]
    rows = {line[2:].split()[0]: line for line in lines[1:]}
    assert list(rows) == list(limits.LIMITS)
    assert rows["number_per_hour"].startswith("* ")
    assert rows["number_per_hour"][2:].split()[:3] == ["number_per_hour", "7", "5"]
    assert rows["global_per_day"].startswith("  ")
    assert rows["global_per_day"][2:].split()[:3] == ["global_per_day", "1000", "1000"]


def test_set_saves_and_audits_what_changed(app):
    result = invoke(app, "set", "number_per_hour=8", "global_per_day=1000", "prefix_block_hours=48")

    assert result.exit_code == 0, result.output
    assert result.output == "number_per_hour: 5 -> 8\nprefix_block_hours: 24 -> 48\n"
    assert current(app)["number_per_hour"] == 8
    [event] = events(app, "limits.update")
    assert (event.actor, event.target) == ("cli", "abuse_limits")
    assert event.before == {"number_per_hour": 5, "prefix_block_hours": 24}
    assert event.after == {"number_per_hour": 8, "prefix_block_hours": 48}

    again = invoke(app, "set", "number_per_hour=8")
    assert again.exit_code == 0 and again.output == "Nothing changed.\n"
    assert len(events(app, "limits.update")) == 1


def test_the_benchmark_can_raise_every_limit_out_of_its_way(app):
    result = invoke(app, "set", *(f"{name}={value}" for name, value in BENCH.items()))

    assert result.exit_code == 0, result.output
    values = current(app)
    assert {name: values[name] for name in BENCH} == BENCH


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["number_per_hour=many"], "number_per_hour: Enter a whole number."),
        (["prefix_min_verified_percent=101"], "prefix_min_verified_percent: Enter a number from 0"),
        (["no_such_limit=3"], "no_such_limit: There is no limit of this name."),
        (["global_per_hour=50", "global_per_day=10"], "global_per_day: Cannot be lower"),
        (["number_per_hour"], "'number_per_hour': write NAME=VALUE"),
    ],
)
def test_set_refuses_a_bad_value_naming_it_and_saves_nothing(app, args, message):
    result = invoke(app, "set", "number_cooldown_seconds=30", *args)

    assert result.exit_code == 1
    assert message in result.output
    with app.app_context():
        assert site_settings.get("abuse_limits") == {}
    assert events(app, "limits.update") == []


def test_set_needs_at_least_one_value(app):
    result = invoke(app, "set")

    assert result.exit_code == 2


def test_reset_budget_forgets_the_global_counts(app):
    fill(app, sending.GLOBAL_HOUR, 3)
    fill(app, sending.GLOBAL_DAY, 4)
    fill(app, "vbudget-h:primary", 2)

    result = invoke(app, "reset-budget")

    assert result.exit_code == 0, result.output
    assert (
        "Reset the global budget: 3 codes this hour and 4 in 24 hours forgotten." in result.output
    )
    assert count(app, sending.GLOBAL_HOUR) == count(app, sending.GLOBAL_DAY, 86400) == 0
    assert count(app, "vbudget-h:primary") == 2
    [event] = events(app, "budget.reset")
    assert (event.actor, event.target, event.before) == ("cli", "budget:all", {"hour": 3, "day": 4})


def test_reset_budget_of_one_verifier(app, clock):
    with app.app_context():
        db.session.add(
            Verifier(name="primary", title="Primary", provider="console", sender="Poort")
        )
        db.session.commit()
    fill(app, "vbudget-h:primary", 2)
    fill(app, sending.GLOBAL_HOUR, 1)

    result = invoke(app, "reset-budget", "--verifier", "primary")

    assert result.exit_code == 0, result.output
    assert count(app, "vbudget-h:primary") == 0 and count(app, sending.GLOBAL_HOUR) == 1
    [event] = events(app, "budget.reset")
    assert event.target == "verifier:primary"

    unknown = invoke(app, "reset-budget", "--verifier", "nope")
    assert unknown.exit_code == 1 and "There is no verifier called 'nope'." in unknown.output


@pytest.mark.parametrize("who", ["alice", "ALICE@example.org", "06-12345678", "+31 6 12345678"])
def test_unlock_finds_the_user_by_username_email_or_phone(app, make_user, clock, who):
    alice = make_user(username="alice", email="alice@example.org", phone="+31612345678")
    with app.app_context():
        for _ in range(100):
            state.current().counters.fail(lockout.account_key(alice.id), clock())
        assert lockout.lock_of(lockout.account_key(alice.id)).needs_recovery

    result = invoke(app, "unlock", who)

    assert result.exit_code == 0, result.output
    assert result.output == "Unlocked alice (100 failed sign-ins cleared).\n"
    with app.app_context():
        assert lockout.lock_of(lockout.account_key(alice.id)) is None
    [event] = events(app, "user.unlock")
    assert (event.actor, event.target, event.before) == (
        "cli",
        f"user:{alice.id}",
        {"failures": 100},
    )


def test_unlock_an_unknown_user_fails(app):
    result = invoke(app, "unlock", "nobody")

    assert result.exit_code == 1
    assert "No user with username, e-mail or phone 'nobody'." in result.output
    assert events(app, "user.unlock") == []


def _block(app: Flask, clock: FakeClock, prefix: str, hours: int = 24) -> int:
    with app.app_context():
        row = BlockedPrefix(
            prefix=prefix,
            region="NL",
            blocked_at=clock(),
            until=clock() + timedelta(hours=hours),
            sent=11,
            verified=0,
        )
        db.session.add(row)
        db.session.commit()
        return row.id


def test_lift_prefix(app, clock):
    block_id = _block(app, clock, "+3197010")
    _block(app, clock, "+3197011")

    result = invoke(app, "lift-prefix", "+31 970 10")

    assert result.exit_code == 0, result.output
    assert result.output == "Lifted the block on +3197010: its numbers get codes again.\n"
    with app.app_context():
        row = db.session.get(BlockedPrefix, block_id)
        assert row.lifted_at == clock() and row.lifted_by is None
    [event] = events(app, "prefix.lifted")
    assert (event.actor, event.target) == ("cli", "prefix:+3197010")

    again = invoke(app, "lift-prefix", "+3197010")
    assert again.exit_code == 1
    assert "No block on +3197010 now. Blocked now: +3197011." in again.output
