"""PostgreSQL stops under load and comes back: 503 with Retry-After meanwhile, never a 500,
one log line when it goes and one when it returns, and sign-ins work again without a restart.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import requests

from tests.production.driver import Driver, Load
from tests.production.server import PoortServer
from tests.production.services import PostgresCluster
from tests.production.setup import LOGIN, seed

DOWN_LINE = re.compile(r"database unavailable \(\w+\): answering 503")
UP_LINE = re.compile(r"database reachable again")
#: Seconds the database stays away, and sign-ins to try while it does (bounded both ways).
OUTAGE_SECONDS = 4
SIGN_INS = 2000


def test_a_database_outage_gives_503s_logs_once_and_recovers(
    poort_server: Callable[..., PoortServer],
    private_postgres: PostgresCluster,
    postgres_database: str,
) -> None:
    server = poort_server(workers=2, env={"DATABASE_URL": postgres_database})
    seed(server, postgres_database)
    server.start()
    driver = Driver(server.url)
    load = Load(lambda: driver.password_sign_in(LOGIN), count=SIGN_INS, threads=3, pause=0.02)

    load.start()
    load.wait_for(20)
    private_postgres.stop()
    before = load.done
    time.sleep(OUTAGE_SECONDS)
    during = load.done - before
    private_postgres.start()
    back = load.succeeded
    deadline = time.monotonic() + 30
    while load.succeeded < back + 20 and time.monotonic() < deadline:
        time.sleep(0.1)
    load.stop().join()

    output = server.output()
    assert load.succeeded >= back + 20, "sign-ins did not work again after the outage"
    server_errors = [a for a in driver.answers if a.status >= 500]
    assert during > 0, "no sign-in was tried during the outage"
    assert server_errors, "the outage went unnoticed"
    assert {a.status for a in server_errors} == {503}, (server_errors[:3], output[-4000:])
    assert all(a.retry_after and int(a.retry_after) > 0 for a in server_errors)
    assert "Traceback" not in output, output[-6000:]
    assert len(DOWN_LINE.findall(output)) == 1, output[-6000:]
    assert len(UP_LINE.findall(output)) == 1, output[-6000:]
    assert output.index("database unavailable") < output.index("database reachable again")

    # Back without a restart: the next sign-ins all work, and nothing more is logged.
    after = Driver(server.url)
    assert all(after.password_sign_in(LOGIN) for _ in range(10)), after.answers[-3:]
    assert max(after.statuses) < 500
    assert server.output().count("database") == output.count("database")


def test_the_outage_page_is_in_the_persons_language_and_json_for_clients(
    poort_server: Callable[..., PoortServer],
    private_postgres: PostgresCluster,
    postgres_database: str,
) -> None:
    server = poort_server(workers=1, env={"DATABASE_URL": postgres_database})
    seed(server, postgres_database)
    server.start()
    private_postgres.stop()

    page = requests.get(f"{server.url}/login", headers={"Accept-Language": "nl"}, timeout=20)
    token = requests.post(
        f"{server.url}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": "x",
            "redirect_uri": "https://app.example.org/cb",
        },
        auth=("an-app", "its-secret"),
        timeout=20,
    )
    probe = requests.get(f"{server.url}/healthz", timeout=20)

    assert page.status_code == 503 and int(page.headers["Retry-After"]) > 0
    assert page.headers["Content-Type"].startswith("text/html")
    assert "Even niet beschikbaar" in page.text and "Nothing was changed" not in page.text
    assert token.status_code == 503 and int(token.headers["Retry-After"]) > 0
    assert token.json()["error"] == "database_unavailable"
    assert probe.status_code == 200  # liveness: no restart for an outage elsewhere
    assert "Traceback" not in server.output(), server.output()[-4000:]
