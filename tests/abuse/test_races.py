"""Requests racing each other: one prefix block however many race, no budget overshoot.

The races need a database that serves many connections at once: they run on PostgreSQL
(threads against one app), and the budget race also on the Redis store.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.extensions import db
from idp.models import BlockedPrefix
from tests.abuse.support import address, ask, browser, events, outbox, set_limits
from tests.conftest import csrf_token
from tests.database import is_postgres
from tests.fakes.clock import FakeClock

pytestmark = pytest.mark.usefixtures("sms")

ON_POSTGRES = is_postgres(os.environ.get("DATABASE_URL"))  # read before the tests clean it
POSTGRES_ONLY = pytest.mark.skipif(not ON_POSTGRES, reason="races need PostgreSQL")
PREFIX = "+3165551"


def under(n: int) -> str:
    return f"{PREFIX}{n:04d}"


def race(clients: list[FlaskClient], post: Callable[[int, FlaskClient, str], int]) -> list[int]:
    """Run *post* once per client, all at the same moment; return the statuses."""
    tokens = [csrf_token(client) for client in clients]
    ready = threading.Barrier(len(clients), timeout=60)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            ready.wait()
            statuses.append(post(n, clients[n], tokens[n]))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return statuses


def blocks(app: Flask) -> list[BlockedPrefix]:
    with app.app_context():
        rows = list(db.session.scalars(select(BlockedPrefix).order_by(BlockedPrefix.id)))
        for row in rows:
            db.session.expunge(row)
        return rows


def pump(app: Flask, first: int, count: int) -> list[int]:
    """*count* codes to new numbers under PREFIX from new addresses, one after another."""
    return [ask(app, under(first + n), address(n % 250)).status_code for n in range(count)]


@POSTGRES_ONLY
def test_racing_requests_block_a_prefix_once(app: Flask, clock: FakeClock) -> None:
    set_limits(app, prefix_min_sends=4)
    assert pump(app, 0, 4) == [303] * 4  # the prefix is at its threshold, nothing verified

    clients = [browser(app, address(100 + n)) for n in range(8)]
    statuses = race(
        clients,
        lambda n, client, token: (
            client.post(
                "/m/sms/sms/login", data={"csrf_token": token, "phone": under(100 + n)}
            ).status_code
        ),
    )

    assert statuses == [400] * 8
    assert len(blocks(app)) == 1
    assert len(events(app, "prefix.blocked")) == 1
    assert len(outbox(app)) == 4


def test_a_lifted_prefix_stays_lifted_until_new_traffic_trips_it(
    app: Flask, clock: FakeClock, runner_for: Callable[..., object]
) -> None:
    set_limits(app, prefix_min_sends=4)
    assert pump(app, 0, 5) == [303] * 4 + [400]
    [block] = blocks(app)

    result = runner_for(app, ["idp", "limits", "lift-prefix", PREFIX])
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]

    # The same hour's unused codes do not bring the block back ...
    clock.advance(minutes=5)
    assert pump(app, 10, 3) == [303] * 3
    assert len(blocks(app)) == 1
    # ... but new traffic after the lift that trips the rule again does.
    assert pump(app, 20, 2) == [303, 400]
    assert len(blocks(app)) == 2
    assert len(events(app, "prefix.blocked")) == 2


@pytest.fixture
def runner_for() -> Callable[..., object]:
    def run(app: Flask, args: list[str]) -> object:
        return app.test_cli_runner().invoke(args=args)

    return run
