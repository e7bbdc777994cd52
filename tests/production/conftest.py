"""Fixtures of the production tier: private servers and `poort serve` processes.

Every test here is marked ``production`` and put in one xdist group, so under pytest-xdist
the tier runs in one worker, one server at a time (2 CPU cores would not carry more).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.production.server import PoortServer
from tests.production.services import PostgresCluster, RedisServer


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "production: starts real poort serve processes")
    # Registered by pytest-xdist too; here so the tier also runs with -p no:xdist.
    config.addinivalue_line("markers", "xdist_group(name): run these tests in one xdist worker")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.production)
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.xdist_group("production"))


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One private PostgreSQL cluster for the tier; a test that stops it starts it again."""
    cluster = PostgresCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def private_postgres(postgres_cluster: PostgresCluster) -> Iterator[PostgresCluster]:
    """The private cluster, running; started again after the test if it stopped it."""
    if not postgres_cluster.running():
        postgres_cluster.start()
    yield postgres_cluster
    if not postgres_cluster.running():
        postgres_cluster.start()


@pytest.fixture
def postgres_database(private_postgres: PostgresCluster) -> str:
    """The URL of a fresh database in the private cluster."""
    return private_postgres.create_database(f"poort_{secrets.token_hex(4)}")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private redis-server, running; stop() and start() it to make an outage."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def poort_server(tmp_path: Path) -> Iterator[Callable[..., PoortServer]]:
    """Make (not start) `poort serve` processes, each in its own folder; all killed after."""
    servers: list[PoortServer] = []

    def make(*args: str, **kwargs: Any) -> PoortServer:
        folder = tmp_path / f"poort-{len(servers)}"
        folder.mkdir()
        server = PoortServer(folder, *args, **kwargs)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.kill()
