"""`poort serve` in a subprocess, on its own instance folder and a free loopback port.

::

    server = PoortServer(tmp_path, workers=2, max_requests=30, env={"DATABASE_URL": url})
    server.start()            # waits for /healthz
    server.url, server.master_pid, server.worker_pids(), server.output()
    server.hup(); server.terminate(); server.kill()
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from idp.cli.init import ensure_instance
from tests.production.services import free_port

POORT = Path(sys.executable).parent / "poort"
#: Dev mode: plain http on loopback, so a cookie jar sends the session cookie back.
ISSUER = "http://127.0.0.1:5000"
#: Seconds any one step may take (start-up, a shutdown).
WAIT = 30
#: Variables of the shell running pytest that would change what `poort serve` does.
SERVING_VARIABLES = (
    "GUNICORN_CMD_ARGS",
    "WEB_CONCURRENCY",
    "FORWARDED_ALLOW_IPS",
    "PROMETHEUS_MULTIPROC_DIR",
    "DATABASE_URL",
    "REDIS_URL",
)


def get(port: int, path: str, timeout: float = 5) -> tuple[int, dict[str, Any]]:
    """GET *path*; the status and the JSON body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


class PoortServer:
    """One `poort serve` master and its workers; *args* go to `poort serve` as they are."""

    def __init__(
        self,
        folder: Path,
        *args: str,
        workers: int | None = None,
        threads: int | None = None,
        max_requests: int | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.folder = folder
        self.instance = folder / "instance"
        ensure_instance(self.instance)
        self.port = free_port()
        self.log = folder / "serve.log"
        self.args = list(args)
        if workers is not None:
            self.args += ["--workers", str(workers)]
        if threads is not None:
            self.args += ["--threads", str(threads)]
        self.environ = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("IDP_") and key not in SERVING_VARIABLES
        }
        self.environ.update(
            {
                "IDP_INSTANCE_PATH": str(self.instance),
                "IDP_DEV": "1",
                "IDP_ISSUER": ISSUER,
                "IDP_PASSWORD_HASH_PROFILE": "cheapest",
                "IDP_HUMAN_CHECK": "off",
            }
        )
        if max_requests is not None:  # gunicorn's own option, as an operator would set it
            self.environ["GUNICORN_CMD_ARGS"] = (
                f"--max-requests {max_requests} --max-requests-jitter {max(1, max_requests // 4)}"
            )
        self.environ.update(env or {})
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def master_pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def poort(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run another `poort` command on this instance (``db upgrade``, ``limits set``...)."""
        done = subprocess.run(
            [str(POORT), *args], env=self.environ, cwd=self.folder, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=WAIT * 2, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"poort {' '.join(args)}: {done.stdout}{done.stderr}"
        return done

    def start(self, wait: bool = True) -> PoortServer:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(POORT), "serve", "--bind", f"127.0.0.1:{self.port}", *self.args],
                env=self.environ, cwd=self.folder, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        if wait:
            self.wait_until_up()
        return self

    def output(self) -> str:
        """Everything the master and its workers logged so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def worker_pids(self) -> set[int]:
        """The pids of the master's live children (its workers)."""
        children = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.master_pid and fields[0] != "Z":
                children.add(int(stat.parent.name))
        return children

    def wait_until_up(self, within: float = WAIT) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                pytest.fail(f"poort serve exited with {self.process.returncode}:\n{self.output()}")
            try:
                if get(self.port, "/healthz", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        pytest.fail(f"poort serve did not answer /healthz within {within} s:\n{self.output()}")

    def wait_for_workers(self, count: int, within: float = WAIT) -> set[int]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            pids = self.worker_pids()
            if len(pids) == count:
                return pids
            time.sleep(0.1)
        pytest.fail(f"not {count} workers after {within} s:\n{self.output()}")

    def hup(self) -> None:
        """``kill -HUP`` the master: new workers, the old ones stop gracefully."""
        os.kill(self.master_pid, signal.SIGHUP)

    def terminate(self, within: float = WAIT) -> int:
        """SIGTERM to the master (graceful shutdown); its exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=within)
        except subprocess.TimeoutExpired:
            pytest.fail(f"poort serve did not stop within {within} s of SIGTERM:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL the master and its workers (cleanup after a test)."""
        if self.process is None or self.process.poll() is not None:
            return
        for pid in self.worker_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.kill()
        self.process.wait(timeout=WAIT)
