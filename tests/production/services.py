"""Private Redis and PostgreSQL servers for fault tests: started by the test, on free ports.

Never the shared servers on 6379 and 5432: these can be stopped and started at will::

    redis = RedisServer(tmp_path); redis.start(); redis.url; redis.stop(); redis.start()
    pg = PostgresCluster(); pg.start(); pg.create_database("x"); pg.stop(); pg.start()

A missing ``redis-server`` or ``initdb`` skips the test, unless ``CI=true`` or
``POORT_REQUIRE_REDIS=1`` is set: then it fails.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

#: Seconds a server may take to start or stop.
WAIT = 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def require(tool: str | None, what: str) -> str:
    """The path of *tool*, or skip (fail under CI=true or POORT_REQUIRE_REDIS=1) without it."""
    if tool:
        return tool
    why = f"{what} is not installed"
    if os.environ.get("CI") == "true" or os.environ.get("POORT_REQUIRE_REDIS") == "1":
        pytest.fail(f"CI=true or POORT_REQUIRE_REDIS=1, but {why}", pytrace=False)
    pytest.skip(f"{why} (CI=true or POORT_REQUIRE_REDIS=1 make this a failure)")


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class RedisServer:
    """A private ``redis-server`` on 127.0.0.1, without persistence."""

    def __init__(self, folder: Path) -> None:
        self.binary = require(shutil.which("redis-server"), "redis-server")
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (again, on the same port) and wait until it answers."""
        log = (self.folder / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + WAIT
        while not _accepts(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"redis-server did not start: {(self.folder / 'redis.log').read_text()}"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop it (an outage); start() brings it back, empty."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=WAIT)
        self.process = None


def _postgres_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    return Path(versions[-1]).parent if versions else None


class PostgresCluster:
    """A private PostgreSQL cluster (``initdb``) on 127.0.0.1, trust authentication.

    As root, the server runs as the ``postgres`` account (PostgreSQL refuses root); its folder
    is a fresh temporary folder that account may enter, removed by :meth:`remove`. *settings*
    are extra server settings (``-c name=value``), e.g. ``shared_preload_libraries``.
    """

    def __init__(self, settings: dict[str, str] | None = None) -> None:
        self.settings = dict(settings or {})
        found = _postgres_bin()
        self.bin = Path(require(str(found) if found else None, "PostgreSQL (initdb)"))
        self.folder = Path(tempfile.mkdtemp(prefix="poort-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            self.as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.folder, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync",
                  "-E", "UTF8", "--locale=C")  # fmt: skip

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run(
            [*self.as_user, str(self.bin / tool), *args],
            cwd=self.folder, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=WAIT, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            pytest.fail(f"{tool} failed ({done.returncode}): {done.stdout}{done.stderr}")

    def start(self) -> None:
        """Start (again, on the same port) and wait until it accepts connections."""
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        options += "".join(f" -c {name}={value}" for name, value in self.settings.items())
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l",
                  str(self.folder / "postgres.log"), "-w", "-t", str(WAIT), "start")  # fmt: skip

    def stop(self) -> None:
        """Stop it at once (``-m fast``: open connections are cut), an outage."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", str(WAIT), "stop")

    def running(self) -> bool:
        return _accepts(self.port)

    def create_database(self, name: str) -> str:
        """Create the database *name*; its URL."""
        from sqlalchemy import create_engine, text

        engine = create_engine(
            self.url().replace("postgresql://", "postgresql+psycopg://"),
            isolation_level="AUTOCOMMIT",
        )
        try:
            with engine.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()
        return self.url(name)

    def remove(self) -> None:
        """Stop the server if it runs and delete its folder."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)
