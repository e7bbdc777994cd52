"""Redis stops for a while under `poort serve` (2 workers, PostgreSQL) while people sign in
with passwords: not one answer is a 500, password sign-in keeps working, /readyz names Redis,
and the outage and the recovery are logged once each (not per request, not per worker)."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.production.driver import Driver, Load
from tests.production.server import PoortServer, get
from tests.production.services import RedisServer
from tests.production.setup import LOGIN, seed

SIGN_INS = 240
DOWN = "Redis is unreachable"
UP = "Redis answers again"


def test_a_redis_outage_under_load_fails_no_sign_in_and_is_logged_once(
    poort_server: Callable[..., PoortServer], postgres_database: str, redis_server: RedisServer
) -> None:
    server = poort_server(
        workers=2, env={"DATABASE_URL": postgres_database, "IDP_REDIS_URL": redis_server.url}
    )
    seed(server, postgres_database)
    server.start()
    server.wait_for_workers(2)
    driver = Driver(server.url)
    load = Load(lambda: driver.password_sign_in(LOGIN), count=SIGN_INS, threads=3).start()

    load.wait_for(SIGN_INS // 4)
    redis_server.stop()
    load.wait_for(SIGN_INS // 2)
    ready_while_down = [get(server.port, "/readyz") for _ in range(3)]
    login_page = get_status(server, "/login")
    redis_server.start()
    load.join()
    ready_after = wait_until_ready(server)

    failed = [a for a in driver.answers if a.status >= 500]
    assert not failed, f"{failed[:3]}\n{server.output()[-4000:]}"
    assert set(driver.statuses) <= {200, 303}, driver.statuses  # password sign-in never waits
    assert load.errors == [] and load.succeeded == load.done == SIGN_INS
    assert login_page == 200
    for status, body in ready_while_down:
        assert status == 503 and body["failing"] == ["redis"], body
    assert ready_after == 200
    log = server.output()
    assert "Traceback" not in log, log[-4000:]
    assert (log.count(DOWN), log.count(UP)) == (1, 1), log[-4000:]


def get_status(server: PoortServer, path: str) -> int:
    import requests

    return requests.get(server.url + path, timeout=20).status_code


def wait_until_ready(server: PoortServer, within: float = 20) -> int:
    """/readyz's status once it says ready, or its last one after *within* seconds."""
    deadline = time.monotonic() + within
    status, _ = get(server.port, "/readyz")
    while status != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
        status, _ = get(server.port, "/readyz")
    return status
