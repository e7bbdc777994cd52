"""Workers come and go while people sign in: recycled after ``--max-requests``, replaced on
``kill -HUP``. Not one sign-in may fail on our side (500) because a worker left."""

from __future__ import annotations

from collections.abc import Callable

from tests.production.driver import Driver, Load
from tests.production.server import PoortServer
from tests.production.services import RedisServer
from tests.production.setup import LOGIN, seed

SIGN_INS = 200


def _server(
    make: Callable[..., PoortServer], database: str, redis: RedisServer, **kwargs: object
) -> PoortServer:
    server = make(
        workers=2,
        env={"DATABASE_URL": database, "IDP_REDIS_URL": redis.url},
        **kwargs,
    )
    seed(server, database)
    return server.start()


def _no_server_errors(server: PoortServer, driver: Driver, load: Load) -> None:
    failed = [a for a in driver.answers if a.status >= 500]
    assert not failed, f"{failed[:3]}\n{server.output()[-4000:]}"
    assert load.errors == [], server.output()[-4000:]
    assert load.succeeded == load.done == SIGN_INS
    assert "Traceback" not in server.output(), server.output()[-4000:]


def test_workers_recycled_by_max_requests_fail_no_sign_in(
    poort_server: Callable[..., PoortServer], postgres_database: str, redis_server: RedisServer
) -> None:
    server = _server(poort_server, postgres_database, redis_server, max_requests=40)
    first = server.wait_for_workers(2)
    driver = Driver(server.url)

    load = Load(lambda: driver.password_sign_in(LOGIN), count=SIGN_INS, threads=3).start().join()

    _no_server_errors(server, driver, load)
    assert not first & server.worker_pids(), "no worker was recycled"


def test_kill_hup_during_sign_ins_fails_none(
    poort_server: Callable[..., PoortServer], postgres_database: str, redis_server: RedisServer
) -> None:
    server = _server(poort_server, postgres_database, redis_server)
    first = server.wait_for_workers(2)
    driver = Driver(server.url)

    load = Load(lambda: driver.password_sign_in(LOGIN), count=SIGN_INS, threads=3).start()
    load.wait_for(SIGN_INS // 4)
    server.hup()
    load.wait_for(SIGN_INS // 2)
    server.hup()
    load.join()

    _no_server_errors(server, driver, load)
    assert not first & server.worker_pids(), "HUP replaced no worker"
    assert server.terminate() == 0
