"""`poort serve`: gunicorn with threaded workers, settings from defaults, environment and
options, graceful shutdown on SIGTERM, and the hooks that clean up after workers.

The tests marked ``slow`` start the installed ``poort`` as a real server on a free loopback
port and talk HTTP to it.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

# Imported before any test sets PROMETHEUS_MULTIPROC_DIR: the client picks its mode at import,
# and the rest of the suite counts metrics in this (single) process.
import prometheus_client.multiprocess  # noqa: F401, E402
import pytest
from click.testing import CliRunner

from idp import create_app, serving
from idp.cli import main
from idp.cli.init import ensure_instance
from idp.errors import ConfigError
from idp.plugins import Registry

POORT = Path(sys.executable).parent / "poort"
ISSUER = "https://login.example.org"
#: Variables of the shell running pytest that would change what `poort serve` does.
SERVING_VARIABLES = (
    "GUNICORN_CMD_ARGS",
    "WEB_CONCURRENCY",
    "FORWARDED_ALLOW_IPS",
    serving.METRICS_DIR_VARIABLE,
)


@pytest.fixture(autouse=True)
def _no_serving_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SERVING_VARIABLES:
        monkeypatch.delenv(name, raising=False)


# -- settings: defaults < environment < GUNICORN_CMD_ARGS < options -------------------------


def _config(environ: dict[str, str], **overrides: Any) -> Any:
    options = serving.gunicorn_settings(environ, settings=SimpleNamespace(trusted_proxies=0))  # type: ignore[arg-type]
    return serving.PoortApplication(options, overrides, environ=environ).cfg


def test_defaults_are_threaded_workers_on_loopback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDP_INSTANCE_PATH", str(tmp_path))
    cfg = _config({})

    assert cfg.bind == ["127.0.0.1:8000"]
    assert (cfg.workers, cfg.threads, cfg.worker_class_str) == (2, 8, "gthread")
    assert (cfg.timeout, cfg.graceful_timeout, cfg.keepalive) == (60, 30, 5)
    assert cfg.max_requests > 0 and 0 < cfg.max_requests_jitter < cfg.max_requests
    assert cfg.preload_app is False
    assert cfg.control_socket == str(tmp_path / "gunicorn.ctl")  # one per instance
    for hook in serving.HOOKS:
        assert getattr(cfg, hook) is serving.HOOKS[hook]


def test_the_environment_overrides_the_defaults() -> None:
    cfg = _config(
        {"IDP_BIND": "0.0.0.0:9000, unix:/tmp/poort.sock", "IDP_WORKERS": "3", "IDP_THREADS": "4"}
    )

    assert cfg.bind == ["0.0.0.0:9000", "unix:/tmp/poort.sock"]  # noqa: S104
    assert (cfg.workers, cfg.threads) == (3, 4)


def test_web_concurrency_counts_below_idp_workers() -> None:
    assert _config({"WEB_CONCURRENCY": "5"}).workers == 5
    assert _config({"WEB_CONCURRENCY": "5", "IDP_WORKERS": "3"}).workers == 3


def test_gunicorn_cmd_args_override_the_environment() -> None:
    cfg = _config(
        {
            "IDP_WORKERS": "3",
            "IDP_THREADS": "4",
            "GUNICORN_CMD_ARGS": "--workers 5 --timeout 90 --access-logfile -",
        }
    )

    assert (cfg.workers, cfg.threads, cfg.timeout, cfg.accesslog) == (5, 4, 90, "-")


def test_options_of_poort_serve_override_everything() -> None:
    environ = {"IDP_WORKERS": "3", "IDP_BIND": "127.0.0.1:7000", "GUNICORN_CMD_ARGS": "-w 5"}
    cfg = _config(environ, bind=["127.0.0.1:7001"], workers=7, threads=None)

    assert (cfg.bind, cfg.workers, cfg.threads) == (["127.0.0.1:7001"], 7, 8)


@pytest.mark.parametrize("value", ["many", "0", "-2"])
def test_a_bad_number_in_the_environment_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match=f"IDP_WORKERS={value!r}"):
        serving.gunicorn_settings({"IDP_WORKERS": value}, settings=None)


def test_forwarded_headers_are_trusted_exactly_when_poort_trusts_proxies() -> None:
    def allowed(proxies: int, environ: dict[str, str] | None = None) -> Any:
        settings = SimpleNamespace(trusted_proxies=proxies)
        return serving.gunicorn_settings(environ or {}, settings=settings)["forwarded_allow_ips"]  # type: ignore[arg-type]

    assert allowed(0) == ""  # gunicorn's own default would trust 127.0.0.1
    assert allowed(2) == "*"  # ProxyFix counts the hops
    assert "forwarded_allow_ips" not in serving.gunicorn_settings(
        {"FORWARDED_ALLOW_IPS": "10.0.0.0/8"},
        settings=SimpleNamespace(trusted_proxies=0),  # type: ignore[arg-type]
    )


def test_the_checkout_gunicorn_conf_uses_the_same_settings_and_hooks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gunicorn.app.base import Application

    monkeypatch.setenv("IDP_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("IDP_THREADS", "3")

    class Conf(Application):  # type: ignore[misc]
        def init(self, parser: Any, opts: Any, args: Any) -> None:
            return None

        def load(self) -> None:
            return None

    conf = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"
    monkeypatch.setattr(sys, "argv", ["gunicorn", "-c", str(conf), "idp:create_app()"])
    try:
        cfg = Conf().cfg
        assert (cfg.worker_class_str, cfg.workers, cfg.threads) == ("gthread", 2, 3)
        assert cfg.worker_exit is serving.worker_exit and cfg.child_exit is serving.child_exit
        assert Path(os.environ[serving.METRICS_DIR_VARIABLE]).is_relative_to(tmp_path)
    finally:
        serving.remove_metrics_dir()
    assert serving.METRICS_DIR_VARIABLE not in os.environ


# -- hooks ----------------------------------------------------------------------------------


def test_a_fresh_metrics_folder_per_start_and_stale_ones_removed(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", ""])
    gone.wait()
    stale = tmp_path / serving.METRICS_FOLDER / f"serve-{gone.pid}-old"
    stale.mkdir(parents=True)
    environ: dict[str, str] = {}

    path = serving.prepare_metrics_dir(tmp_path, environ)

    assert environ[serving.METRICS_DIR_VARIABLE] == str(path)
    assert path.is_dir() and path.parent == tmp_path / serving.METRICS_FOLDER
    assert not stale.exists()
    serving.remove_metrics_dir(environ)
    assert not path.exists() and environ == {}


def test_a_metrics_folder_the_operator_chose_is_kept(tmp_path: Path) -> None:
    chosen = tmp_path / "metrics"
    environ = {serving.METRICS_DIR_VARIABLE: str(chosen)}

    assert serving.prepare_metrics_dir(tmp_path, environ) == chosen
    serving.remove_metrics_dir(environ)

    assert chosen.is_dir() and environ[serving.METRICS_DIR_VARIABLE] == str(chosen)


def test_child_exit_marks_the_worker_dead_for_prometheus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(serving.METRICS_DIR_VARIABLE, str(tmp_path))
    live = tmp_path / "gauge_livesum_4242.db"
    other = tmp_path / "gauge_livesum_4343.db"
    live.touch()
    other.touch()

    serving.child_exit(None, SimpleNamespace(pid=4242))

    assert not live.exists() and other.exists()


class FakeConnection:
    closed = False

    def close(self) -> None:
        self.closed = True


def test_worker_exit_closes_pooled_sms_connections(
    app_config: dict[str, Any], registry: Registry
) -> None:
    app = create_app(app_config, registry=registry)
    connection = FakeConnection()
    pool = app.extensions["idp"].sms_connections
    pool.keeper_interval = 0  # no keeper thread in this test
    pool.release("smpp", connection)

    serving.worker_exit(None, SimpleNamespace(wsgi=app))

    assert connection.closed and pool.idle_count() == 0
    serving.worker_exit(None, SimpleNamespace())  # a worker that never loaded the app


def test_poort_serve_refuses_invalid_settings_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDP_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "")

    result = CliRunner().invoke(main, ["serve"])

    assert result.exit_code == 1, result.output
    assert "Error: " in result.output and "IDP_" in result.output
    assert "Traceback" not in result.output
    assert serving.METRICS_DIR_VARIABLE not in os.environ
    assert list((tmp_path / "instance" / serving.METRICS_FOLDER).iterdir()) == []


def test_poort_serve_refuses_a_bad_worker_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDP_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("IDP_DEV", "1")
    monkeypatch.setenv("IDP_WORKERS", "lots")
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "")

    result = CliRunner().invoke(main, ["serve"])

    assert result.exit_code == 1, result.output
    assert "IDP_WORKERS='lots': expected a whole number" in result.output


# -- a real server --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _get(port: int, path: str, timeout: float = 5) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


class Server:
    """`poort serve` in a subprocess, on its own instance and port."""

    def __init__(self, tmp_path: Path, *args: str, **env: str) -> None:
        self.instance = tmp_path / "instance"
        ensure_instance(self.instance)
        self.port = _free_port()
        self.log = tmp_path / "serve.log"
        environ = {
            **os.environ,
            "IDP_INSTANCE_PATH": str(self.instance),
            "IDP_ISSUER": ISSUER,
            "IDP_PASSWORD_HASH_PROFILE": "cheapest",
            **env,
        }
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [str(POORT), "serve", "--bind", f"127.0.0.1:{self.port}", *args],
                env=environ, cwd=tmp_path, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until_up(self, within: float = 20) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"poort serve exited with {self.process.returncode}:\n{self.output()}")
            try:
                if _get(self.port, "/healthz", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        pytest.fail(f"poort serve did not answer /healthz within {within} s:\n{self.output()}")

    def terminate(self, within: float = 15) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=within)
        except subprocess.TimeoutExpired:
            pytest.fail(f"poort serve did not stop within {within} s of SIGTERM:\n{self.output()}")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Any]:
    servers: list[Server] = []

    def started(*args: str, **env: str) -> Server:
        server = Server(tmp_path, *args, **env)
        servers.append(server)
        server.wait_until_up()
        return server

    yield started
    for server in servers:
        server.kill()


@pytest.mark.slow
def test_poort_serve_answers_probes_and_stops_cleanly_on_sigterm(start: Any) -> None:
    server = start("--workers", "2", "--threads", "2")

    assert _get(server.port, "/healthz") == (200, {"status": "ok"})
    assert _get(server.port, "/readyz") == (
        200,
        {"status": "ready", "checks": {"database": "ok", "redis": "not configured"}},
    )
    metrics = server.instance / serving.METRICS_FOLDER
    [metrics_dir] = list(metrics.iterdir())
    assert metrics_dir.name.startswith(f"serve-{server.process.pid}-")

    assert server.terminate() == 0, server.output()
    assert "Traceback" not in server.output()
    assert list(metrics.iterdir()) == []  # the master removed its metrics folder


@pytest.mark.slow
def test_a_slow_request_holds_a_thread_not_the_worker_and_survives_sigterm(start: Any) -> None:
    """One worker, two threads. /readyz waits ~1 s on a 'Redis' that never answers (as a view
    would wait on a slow SMS provider); meanwhile the other thread answers /healthz. SIGTERM
    during such a request lets it finish before the server exits."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        silent.settimeout(20)
        redis_url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        server = start("--workers", "1", "--threads", "2", IDP_REDIS_URL=redis_url)
        held: list[socket.socket] = []
        try:
            answers: list[tuple[int, dict[str, Any]]] = []
            slow = threading.Thread(target=lambda: answers.append(_get(server.port, "/readyz", 20)))
            slow.start()
            held.append(silent.accept()[0])  # /readyz is now inside the worker, waiting

            assert _get(server.port, "/healthz") == (200, {"status": "ok"})
            assert slow.is_alive(), "/healthz had to wait for the slow request"
            slow.join(timeout=20)

            late = threading.Thread(target=lambda: answers.append(_get(server.port, "/readyz", 20)))
            late.start()
            held.append(silent.accept()[0])
            assert server.terminate() == 0, server.output()
            late.join(timeout=20)
        finally:
            for connection in held:
                connection.close()

    assert len(answers) == 2
    for status, body in answers:
        assert status == 503
        assert body["checks"] == {"database": "ok", "redis": "error: TimeoutError"}
