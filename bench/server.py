"""The server under test: gunicorn on 127.0.0.1, and what /proc says about its workers.

Poort is served with ``poort serve`` (its production server: gunicorn, gthread workers, the
defaults and hooks of ``idp/serving.py``); the bare app with gunicorn and the checkout's
``gunicorn.conf.py``, which takes the same defaults and hooks from ``idp/serving.py``. Both get
the same ``--bind``, ``--workers`` and ``--threads``, and the same ``GUNICORN_CMD_ARGS``, so
they differ only in the application. In a checkout without those, both fall back to plain
``gunicorn -k gthread`` with the same arguments (see :func:`command`).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bench.load import LOOPBACK_HOST
from bench.procfs import children, workers_memory

CHECKOUT = Path(__file__).resolve().parent.parent
GUNICORN_CONF = CHECKOUT / "gunicorn.conf.py"
POORT_APP = "idp:create_app()"
BARE_APP = "bench.bare_app:app"


@dataclass(frozen=True)
class Gunicorn:
    """What every server of a run gets, Poort's and the bare app's alike."""

    workers: int = 2
    threads: int = 8
    #: Extra gunicorn options for both servers, in gunicorn's spelling (GUNICORN_CMD_ARGS).
    extra: str = ""

    def describe(self) -> str:
        extra = f", GUNICORN_CMD_ARGS={self.extra!r}" if self.extra else ""
        return f"{self.workers} workers x {self.threads} threads (gthread){extra}"


def has_poort_serve() -> bool:
    """Whether this checkout has ``poort serve``."""
    try:
        from idp.cli import idp_group
    except ImportError:
        return False
    return "serve" in idp_group.commands


def same_settings_source() -> bool:
    """Whether both servers take their settings from idp/serving.py (poort serve for Poort,
    gunicorn.conf.py for the bare app); otherwise both run plain gunicorn."""
    return has_poort_serve() and GUNICORN_CONF.exists()


def describe_servers() -> str:
    if same_settings_source():
        return "Poort with `poort serve`, the bare app with `gunicorn -c gunicorn.conf.py`"
    if has_poort_serve():
        return "Poort with `poort serve`, the bare app with plain gunicorn (no gunicorn.conf.py)"
    return "both with plain `gunicorn -k gthread` (this checkout has no `poort serve`)"


def effective_settings(settings: Gunicorn) -> dict[str, Any]:
    """gunicorn's settings as the servers get them (Poort's defaults, our overrides)."""
    values: dict[str, Any] = {"worker_class": "gthread"}
    if same_settings_source():
        from idp import serving

        values = serving.gunicorn_settings(environ={"FORWARDED_ALLOW_IPS": ""})
    for key in ("bind", "proc_name", "forwarded_allow_ips", "control_socket"):
        values.pop(key, None)
    values.update(workers=settings.workers, threads=settings.threads)
    if settings.extra:
        values["GUNICORN_CMD_ARGS"] = settings.extra
    return values


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK_HOST, 0))
        return sock.getsockname()[1]


def command(app: str, port: int, settings: Gunicorn) -> list[str]:
    """The command line that serves *app* on 127.0.0.1:*port*: the one switch point."""
    bind = f"{LOOPBACK_HOST}:{port}"
    if app == POORT_APP and has_poort_serve():
        poort = Path(sys.executable).with_name("poort")
        launcher = (
            [str(poort)]
            if poort.exists()
            else [sys.executable, "-c", "from idp.cli import main; main()"]
        )
        return [
            *launcher, "serve", "--bind", bind,
            "--workers", str(settings.workers), "--threads", str(settings.threads),
        ]  # fmt: skip
    config = ["-c", str(GUNICORN_CONF)] if GUNICORN_CONF.exists() else []
    return [
        sys.executable, "-m", "gunicorn", *config, "-k", "gthread", "--bind", bind,
        "--workers", str(settings.workers), "--threads", str(settings.threads), app,
    ]  # fmt: skip


@dataclass
class Server:
    """A running gunicorn master; stop it with :meth:`stop` (or use it as a context)."""

    app: str
    port: int
    settings: Gunicorn
    env: dict[str, str]
    log_path: Path
    #: Extra GUNICORN_CMD_ARGS for this server only (the memory run turns max_requests off).
    extra: str = ""
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK_HOST}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "the server is not running"
        return self.process.pid

    def start(self, ready_path: str = "/", timeout: float = 90) -> Server:
        env = dict(self.env)
        cmd_args = " ".join(part for part in (self.settings.extra, self.extra) if part)
        if cmd_args:
            env["GUNICORN_CMD_ARGS"] = cmd_args
        else:
            env.pop("GUNICORN_CMD_ARGS", None)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log.write(f"\n$ {' '.join(command(self.app, self.port, self.settings))}\n".encode())
        self._log.flush()
        self.process = subprocess.Popen(  # noqa: S603 - our own command line
            command(self.app, self.port, self.settings),
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=CHECKOUT,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.app} exited at start-up; see {self.log_path}")
            if len(self.workers()) >= self.settings.workers and self._answers(ready_path):
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.app} did not answer in {timeout} s; see {self.log_path}")
            time.sleep(0.2)

    def _answers(self, path: str) -> bool:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as answer:  # noqa: S310
                return answer.status < 500
        except OSError:
            return False

    def workers(self) -> list[int]:
        """The worker processes: children of the master."""
        return children(self.pid)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # gunicorn: quick shutdown
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class MemoryWatch:
    """Samples every worker's peak RSS (VmHWM) a few times a second while a load runs, so
    workers that gunicorn replaces during the run are counted too."""

    def __init__(self, master: int, interval: float = 0.25) -> None:
        self.master = master
        self.interval = interval
        self.peak_kib: dict[int, int] = {}
        self.rss_kib: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def sample(self) -> None:
        for pid, memory in workers_memory(self.master).items():
            self.peak_kib[pid] = max(self.peak_kib.get(pid, 0), memory["VmHWM"])
            self.rss_kib[pid] = memory["VmRSS"]

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> MemoryWatch:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sample()
