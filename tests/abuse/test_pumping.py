"""A simulated SMS pumping run, and a legitimate burst that must not look like one.

Pumping asks for codes to many numbers under one prefix (the number without its last four
digits), rotating addresses, and never types a code in. With the default limits the prefix
is blocked once it has had ``prefix_min_sends`` codes in an hour with too few verified.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp import state
from idp.abuse import limits, prefixes, sending
from idp.abuse.store import Window
from idp.extensions import db
from idp.models import BlockedPrefix
from tests.abuse.support import (
    address,
    ask,
    browser,
    code_in,
    enter,
    error_of,
    events,
    mobile,
    outbox,
    sent_to,
)
from tests.conftest import csrf_token
from tests.fakes.clock import FakeClock

pytestmark = pytest.mark.usefixtures("sms")

PREFIX = "+3165551"  # valid Dutch mobile numbers, +3165551 0000 to 9999
NOT_HERE = "This number cannot receive codes here. Use another number, or sign in another way."


def under(prefix: str, n: int) -> str:
    return f"{prefix}{n:04d}"


def blocks(app: Flask) -> list[BlockedPrefix]:
    with app.app_context():
        rows = list(db.session.scalars(select(BlockedPrefix).order_by(BlockedPrefix.id)))
        for row in rows:
            db.session.expunge(row)
        return rows


def global_count(app: Flask) -> tuple[int, int]:
    with app.app_context():
        s = state.current()
        values = limits.current()
        hour = s.counters.count(Window(sending.GLOBAL_HOUR, 1, sending.HOUR), s.clock())
        return hour, values["global_per_hour"]


def test_a_pumping_run_is_stopped_at_its_prefix(app: Flask, clock: FakeClock) -> None:
    with app.app_context():
        least = limits.value("prefix_min_sends")
    pumpers: list[tuple[FlaskClient, str]] = []
    for n in range(20):  # twenty addresses, each a session that never types a code in
        client = browser(app, address(n))
        pumpers.append((client, csrf_token(client)))

    statuses, errors = [], set()
    for n in range(200):
        client, token = pumpers[n % 20]
        response = client.post(
            "/m/sms/sms/login", data={"csrf_token": token, "phone": under(PREFIX, n)}
        )
        response.close()  # the text goes out once the answer is sent
        statuses.append(response.status_code)
        if response.status_code != 303:
            errors.add(error_of(response))
        clock.advance(seconds=3)

    assert len(outbox(app)) <= least == 10
    assert statuses == [303] * 10 + [400] * 190
    assert errors == {NOT_HERE}  # neutral: the same words as any number we do not text
    [block] = blocks(app)
    assert (block.prefix, block.region, block.sent, block.verified) == (PREFIX, "NL", 10, 0)
    assert (block.until - block.blocked_at).total_seconds() == 24 * 3600
    [event] = events(app, "prefix.blocked")
    assert event.target == f"prefix:{PREFIX}"
    hour, budget = global_count(app)
    assert hour == 10 <= budget
    assert events(app, "budget.tripped") == []

    # Later, from a new address and session: still refused, with the same words.
    clock.advance(hours=2)
    refused = ask(app, under(PREFIX, 9999), address(200))
    assert (refused.status_code, error_of(refused)) == (400, NOT_HERE)
    assert ask(app, mobile(1), address(201)).status_code == 303  # other prefixes still work

    with app.app_context():
        assert [row.prefix for row in prefixes.blocked_now()] == [PREFIX]
        assert prefixes.lift(block.id, actor_id=None) is not None
        db.session.commit()

    assert ask(app, under(PREFIX, 9998), address(202)).status_code == 303
    assert sent_to(app)[-1] == under(PREFIX, 9998)
    assert len(events(app, "prefix.lifted")) == 1


def test_a_block_ends_by_itself_after_a_day(app: Flask, clock: FakeClock) -> None:
    for n in range(11):
        ask(app, under(PREFIX, n), address(n))
    [block] = blocks(app)

    clock.advance(hours=24, seconds=-1)
    assert ask(app, under(PREFIX, 100), address(100)).status_code == 400
    clock.advance(seconds=1)
    assert ask(app, under(PREFIX, 101), address(101)).status_code == 303
    assert len(blocks(app)) == 1


def test_a_legitimate_burst_under_one_prefix_is_not_blocked(app: Flask, clock: FakeClock) -> None:
    prefix = "+3164000"
    for n in range(12):  # twelve people, three of whom finish signing up: 25 % verified
        client = browser(app, address(n))
        response = ask(app, under(prefix, n), client=client)
        assert response.status_code == 303, error_of(response)
        if n in (0, 4, 8):
            assert enter(client, code_in(outbox(app)[-1])).status_code == 303
        clock.advance(seconds=30)

    assert blocks(app) == [] and events(app, "prefix.blocked") == []
    assert len(outbox(app)) == 12
    assert ask(app, under(prefix, 12), address(12)).status_code == 303
