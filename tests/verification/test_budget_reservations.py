"""Cost budgets hold exactly under parallel sends: each send reserves its cost before it goes.

The races need a database that serves many connections at once: they run on PostgreSQL
(threads against one app), with the counters in the database and in Redis.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from idp import site_settings
from idp.abuse import controls, sending
from idp.abuse.errors import SendingPaused
from idp.extensions import db
from idp.models import SmsLogEntry
from idp.models.sms_log import ACCEPTED
from idp.sms.errors import SmsNotSent
from idp.verification import dispatch
from idp.verification.resolution import resolve
from tests.abuse.support import set_limits
from tests.database import is_postgres
from tests.verification.providers import SENT

ON_POSTGRES = is_postgres(os.environ.get("DATABASE_URL"))  # read before the tests clean it
PHONE = "+31612345678"
TEXT = "Your Poort login code is 482913. It expires in 5 minutes."
THREADS = 16
BOTH_BACKENDS = pytest.mark.parametrize("counter_backend", ["database", "redis"], indirect=True)


@pytest.fixture
def counter_backend(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "database"))


@pytest.fixture
def app_config(
    app_config: dict[str, Any], counter_backend: str, request: pytest.FixtureRequest
) -> dict[str, Any]:
    if counter_backend == "redis":  # only then does the test need a Redis (or skip)
        app_config.update(request.getfixturevalue("redis_settings"))
    return app_config


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield


def send() -> dispatch.Delivered:
    return dispatch.send(resolve("main"), recipient=PHONE, text=TEXT, purpose="login")


def send_in_parallel(app: Flask) -> list[str]:
    """Send one text from each of THREADS threads at the same moment; return the outcomes."""
    ready = threading.Barrier(THREADS, timeout=60)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with app.app_context():
                ready.wait()
                try:
                    send()
                    outcomes.append("sent")
                except SendingPaused:
                    outcomes.append("paused")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return outcomes


def logged_spend() -> Decimal:
    return Decimal(db.session.scalar(select(func.coalesce(func.sum(SmsLogEntry.cost), 0))) or 0)


@pytest.mark.skipif(not ON_POSTGRES, reason="races need PostgreSQL")
@BOTH_BACKENDS
@pytest.mark.parametrize("scope", ["global", "verifier"])
def test_parallel_sends_stop_exactly_at_the_cost_budget(
    app: Flask, ctx: None, make_verifier: Any, scope: str
) -> None:
    # 0.30 a text against 1.00: three texts fit, the fourth would pass the budget.
    make_verifier("main", price="0.30")
    if scope == "global":
        set_limits(app, global_cost_per_hour=1, global_cost_per_day=1)
    else:
        site_settings.put("verifier_budgets", {"main": {"cost_per_hour": 1}})
    db.session.commit()

    outcomes = send_in_parallel(app)

    assert sorted(outcomes) == ["paused"] * (THREADS - 3) + ["sent"] * 3
    assert len(SENT) == 3  # exactly three reached the gateway
    db.session.rollback()
    assert logged_spend() == Decimal("0.90")
    accepted = db.session.scalar(
        select(func.count()).select_from(SmsLogEntry).where(SmsLogEntry.status == ACCEPTED)
    )
    assert accepted == 3
    spend = controls.global_spend() if scope == "global" else controls.spend(1, 0, "main")
    assert spend[0].spent == Decimal("0.9")
    assert spend[0].spent <= spend[0].budget


@BOTH_BACKENDS
def test_a_failed_send_releases_its_reservation(app: Flask, ctx: None, make_verifier: Any) -> None:
    make_verifier("main", price="0.60", options={"outcome": "temporary"})
    # Room for one message and one text's cost: a send that reserved both and failed must
    # give them back, or the next send would be refused without anything having been sent.
    site_settings.put("verifier_budgets", {"main": {"per_hour": 1, "cost_per_hour": 1}})
    db.session.commit()

    for _ in range(3):
        with pytest.raises(SmsNotSent):
            send()

    assert len(SENT) == 3  # every attempt reached the gateway: none was refused by budget
    assert [u.used for u in controls.verifier_usage("main")] == [0, 0]
    assert [s.spent for s in controls.spend(1, 0, "main")] == [Decimal(0), Decimal(0)]


@BOTH_BACKENDS
def test_a_reset_clears_the_cost_counted_and_sending_resumes(
    app: Flask, ctx: None, make_verifier: Any
) -> None:
    make_verifier("main", price="0.60")
    set_limits(app, global_cost_per_hour=1, global_cost_per_day=1)

    send()
    with pytest.raises(SendingPaused):  # 0.60 more would pass 1.00
        send()
    assert [s.spent for s in controls.global_spend()] == [Decimal("0.6"), Decimal("0.6")]

    controls.reset_budget(None)
    db.session.commit()

    assert [s.spent for s in controls.global_spend()] == [Decimal(0), Decimal(0)]
    send()
    assert len(SENT) == 2


@BOTH_BACKENDS
def test_a_settled_reservation_counts_the_real_cost(
    app: Flask, ctx: None, make_verifier: Any
) -> None:
    make_verifier("main", price="0.30")
    set_limits(app, global_cost_per_hour=1, global_cost_per_day=1)

    reservation = sending.admit_channel("main", Decimal("0.30"))
    assert isinstance(reservation, sending.Reservation)
    assert [s.spent for s in controls.global_spend()] == [Decimal("0.3"), Decimal("0.3")]
    sending.settle(reservation, Decimal("0.85"))  # the provider billed more than expected

    assert [s.spent for s in controls.global_spend()] == [Decimal("0.85"), Decimal("0.85")]
    with pytest.raises(SendingPaused):  # 0.30 more would pass 1.00
        send()
    assert SENT == []
