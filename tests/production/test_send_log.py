"""No paid text unlogged: a `poort serve` worker killed (SIGKILL) while it sends codes.

Sign-ins ask for codes through a real HTTP gateway (a fake on loopback that takes a moment
to answer) while the test kills the workers mid-send. Afterwards the message log holds at
least one row for every message the gateway received ("sending" rows included), and once
`poort prune` has settled the abandoned ones, exactly one taken or "unknown" row per message.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import create_engine, text

from idp.extensions import db
from idp.models import Authenticator
from idp.verification import attempts, verifiers
from tests.fakes.generic_gateways import GenericGatewaysFake
from tests.fakes.http_server import FakeHttpServer
from tests.production.server import PoortServer
from tests.production.setup import admin_app, seed

#: Code requests in all; each from its own browser, to its own number (limits are per number).
ASKS = 24
CSRF = 'name="csrf_token" value="'


@pytest.fixture
def gateway() -> Iterator[FakeHttpServer]:
    fake = GenericGatewaysFake()
    fake.slow_seconds = 0.4  # long enough for a kill to land while the worker waits for it
    with FakeHttpServer(fake) as server:
        server.scenario = "slow"
        yield server


def add_sms(server: PoortServer, database_url: str, gateway_url: str) -> None:
    """An SMS authenticator texting through the generic http provider to the fake gateway."""
    app = admin_app(server, database_url, "setup-sms")
    with app.app_context():
        row, _ = verifiers.save(
            None,
            {"name": "gateway", "provider": "http", "sender": "Poort", "price_per_segment": "0.05"},
            {
                "url": f"{gateway_url}/echo",
                "method": "POST",
                "parameters": "to={phone}\ntext={message}",
                "return_success": "OK",
                "check_ssl": False,
            },
        )
        row.confirmed_at = datetime.now(UTC)
        verifiers.set_enabled(row, True)
        verifiers.set_default(row)
        db.session.add(
            Authenticator(
                name="sms", method="sms", title="Text message", enabled=True, position=2,
                options={"verifier": "", "use_for": "both", "allow_signup": True,
                         "unknown_numbers": "silent", "countries": ""},
            )
        )  # fmt: skip
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def ask(base: str, n: int) -> int | None:
    """Ask for a code for a number of our own; the status, or None when the worker died."""
    browser = requests.Session()
    browser.trust_env = False
    try:
        page = browser.get(f"{base}/login", timeout=10).text
        token = page.split(CSRF, 1)[1].split('"', 1)[0]
        answer = browser.post(
            f"{base}/m/sms/sms/login",
            data={"csrf_token": token, "phone": f"+3161{n:07d}"},
            allow_redirects=False,
            timeout=10,
        )
    except (requests.RequestException, IndexError):
        return None  # the worker serving it was killed: that is the point
    return answer.status_code


def log_rows(database_url: str) -> list[tuple[str, str]]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT status, recipient_hash FROM sms_log ORDER BY id"))
            return [(status, who) for status, who in rows]
    finally:
        engine.dispose()


def test_a_worker_killed_mid_send_leaves_no_paid_text_unlogged(
    poort_server: Callable[..., PoortServer], postgres_database: str, gateway: FakeHttpServer
) -> None:
    server = poort_server(workers=2, env={"DATABASE_URL": postgres_database})
    seed(server, postgres_database)
    add_sms(server, postgres_database, gateway.url)
    server.start()
    server.wait_for_workers(2)

    statuses: list[int | None] = []
    kills = 0
    for n in range(ASKS):
        statuses.append(ask(server.url, n))
        if n % 4 == 1:  # the text of this answer is with the gateway now: kill its sender
            asked = sum(1 for status in statuses if status == 303)
            deadline = time.monotonic() + 5
            while len(gateway.requests) < asked and time.monotonic() < deadline:
                time.sleep(0.02)
            for pid in server.worker_pids():
                os.kill(pid, signal.SIGKILL)
                kills += 1
            server.wait_for_workers(2)
    time.sleep(1)  # the last texts of surviving workers finish (each takes 0.4 s)

    received = len(gateway.requests)
    rows = log_rows(postgres_database)
    assert kills and received, server.output()[-3000:]
    assert not [s for s in statuses if s is not None and s >= 500], server.output()[-3000:]
    # Every message the gateway received is in the log (some still "sending") ...
    assert len(rows) >= received, (rows, received)
    stuck = [status for status, _ in rows if status == "sending"]
    assert stuck, "no worker was killed mid-send; the test proved nothing"

    # ... and once the abandoned ones are settled (by the function `poort prune` and
    # `poort worker` run, past the two-minute bound), exactly: one row per message received.
    settle(server, postgres_database)
    rows = log_rows(postgres_database)
    taken = [status for status, _ in rows if status in ("accepted", "unknown")]
    assert {status for status, _ in rows} <= {"accepted", "unknown"}, rows
    assert len(taken) == received, (rows, received)


def settle(server: PoortServer, database_url: str) -> None:
    app = admin_app(server, database_url, "setup-settle")
    with app.app_context():
        later = datetime.now(UTC) + attempts.UNKNOWN_AFTER + timedelta(seconds=1)
        assert attempts.settle_interrupted(later) >= 1
        db.session.remove()
        db.engine.dispose()
