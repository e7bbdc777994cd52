"""Production serving: gunicorn with threaded workers, set up in code.

``poort serve`` runs gunicorn through :class:`PoortApplication` (gunicorn's ``BaseApplication``),
so it works from an installed wheel; ``gunicorn.conf.py`` in the checkout takes the same
defaults and hooks from here for people who start gunicorn themselves. Settings, each one
overriding the one before:

1. the defaults in :data:`DEFAULTS`;
2. ``IDP_BIND``, ``IDP_WORKERS`` and ``IDP_THREADS`` (``WEB_CONCURRENCY`` is read for the
   workers too, as gunicorn itself does, below ``IDP_WORKERS``);
3. ``GUNICORN_CMD_ARGS``, any gunicorn option in gunicorn's own spelling;
4. the options of ``poort serve`` (``--bind``, ``--workers``, ``--threads``).

Workers are ``gthread`` workers: a request waiting on a slow SMS provider holds one thread,
not the whole process. SIGTERM to the master is a graceful shutdown: it stops accepting,
lets in-flight requests finish for up to ``graceful_timeout`` seconds, then exits 0.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import tempfile
from collections.abc import Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from idp.config import SECRET_KEY_FILE, Settings, instance_path_default, load_settings
from idp.errors import ConfigError
from idp.security.secret_box import KEYS_FILE

log = logging.getLogger(__name__)

#: The environment variable prometheus_client reads for multiprocess mode.
METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
#: Folder of the instance under which ``poort serve`` makes a fresh metrics folder per start.
METRICS_FOLDER = "prometheus"

DEFAULTS: dict[str, Any] = {
    "bind": ["127.0.0.1:8000"],
    "workers": 2,
    # Threads, not processes, wait on slow SMS providers and databases: 8 requests at a time
    # per worker, within SQLAlchemy's default pool of 5 + 10 connections.
    "worker_class": "gthread",
    "threads": 8,
    # A gthread worker's main loop reports in while its threads work, so `timeout` kills only
    # a worker that hangs as a whole, never a slow request.
    "timeout": 60,
    # SIGTERM: in-flight requests get this long to finish before their worker is killed.
    "graceful_timeout": 30,
    "keepalive": 5,
    # Restart a worker (gracefully) after about this many requests, so slow memory growth in
    # any library stays bounded; the jitter keeps the workers from restarting all at once.
    "max_requests": 2000,
    "max_requests_jitter": 200,
    # No preload: each worker builds its own app after the fork, so no database connection,
    # Redis client, SMS connection pool or keeper thread is ever shared between processes,
    # and `kill -HUP` picks up new code. The cost is a little memory per worker and building
    # the app once per worker; `poort serve` builds it once first in the master, so a bad
    # setting stops it with a message before any worker starts.
    "preload_app": False,
    "proc_name": "poort",
}

#: Poort's own environment variables for the settings people change most.
ENVIRONMENT = {"IDP_BIND": "bind", "IDP_WORKERS": "workers", "IDP_THREADS": "threads"}


def _positive(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a whole number", setting=name) from None
    if value < 1:
        raise ConfigError(f"{name}={raw!r}: must be 1 or more", setting=name)
    return value


def _trusted_proxies(settings: Settings | None, environ: Mapping[str, str]) -> int:
    if settings is None:
        try:
            settings = load_settings(instance_path_default(), environ=environ)
        except ConfigError:
            return 0  # the app will not start either, and says why
    return settings.trusted_proxies


def gunicorn_settings(
    environ: Mapping[str, str] | None = None, settings: Settings | None = None
) -> dict[str, Any]:
    """The defaults with ``IDP_BIND``, ``IDP_WORKERS`` and ``IDP_THREADS`` applied.

    :param settings: Poort's settings, for ``trusted_proxies``; loaded when not given.
    :raises ConfigError: when one of those variables is not a valid value.
    """
    environ = os.environ if environ is None else environ
    values = dict(DEFAULTS)
    # gunicorn 25+ opens a control socket for `gunicornc`, by default one per user account;
    # one per instance keeps two Poort instances (or Poort and another app) apart.
    values["control_socket"] = str(instance_path_default() / "gunicorn.ctl")
    if Path("/dev/shm").is_dir():  # noqa: S108 - heartbeat files in memory, not on a slow disk
        values["worker_tmp_dir"] = "/dev/shm"  # noqa: S108
    if environ.get("WEB_CONCURRENCY"):
        values["workers"] = _positive("WEB_CONCURRENCY", environ["WEB_CONCURRENCY"])
    for name, key in ENVIRONMENT.items():
        raw = environ.get(name, "").strip()
        if not raw:
            continue
        if key == "bind":
            values["bind"] = [part for part in re.split(r"[\s,]+", raw) if part]
        else:
            values[key] = _positive(name, raw)
    # Poort trusts forwarded headers in one place: ProxyFix, for `trusted_proxies` hops. So
    # gunicorn trusts nobody's X-Forwarded-Proto when Poort trusts no proxy (gunicorn's own
    # default would trust 127.0.0.1), and leaves the decision to ProxyFix when it does.
    # FORWARDED_ALLOW_IPS, gunicorn's own variable, wins when it is set.
    if "FORWARDED_ALLOW_IPS" not in environ:
        values["forwarded_allow_ips"] = "*" if _trusted_proxies(settings, environ) else ""
    return values


# -- Prometheus multiprocess mode -----------------------------------------------------------

_created_metrics_dir: Path | None = None
#: The process that made it: the gunicorn master. A worker is a fork of the master that
#: unwinds the master's stack when it exits, so it must not remove what the master made.
_created_by: int | None = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prepare_metrics_dir(
    instance_path: Path | None = None, environ: MutableMapping[str, str] | None = None
) -> Path:
    """Point ``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder, unless it is set already.

    The folder is ``<instance>/prometheus/serve-<pid>-<random>``; folders left there by
    masters that are no longer running are removed. Call it in the master before anything
    imports prometheus_client: the workers inherit the variable.
    """
    global _created_metrics_dir, _created_by
    environ = os.environ if environ is None else environ
    if environ.get(METRICS_DIR_VARIABLE):
        path = Path(environ[METRICS_DIR_VARIABLE])
        path.mkdir(parents=True, exist_ok=True)
        return path
    base = (instance_path or instance_path_default()) / METRICS_FOLDER
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    for old in base.glob("serve-*"):
        match = re.match(r"serve-(\d+)-", old.name)
        if match and not _alive(int(match.group(1))):
            shutil.rmtree(old, ignore_errors=True)
    path = Path(tempfile.mkdtemp(prefix=f"serve-{os.getpid()}-", dir=base))
    environ[METRICS_DIR_VARIABLE] = str(path)
    _created_metrics_dir = path
    _created_by = os.getpid()
    return path


def remove_metrics_dir(environ: MutableMapping[str, str] | None = None) -> None:
    """Remove the folder :func:`prepare_metrics_dir` made (never one the operator chose).

    Only in the process that made it: in a worker (a fork of the master, on its way out) this
    does nothing, as the master and the other workers still use the folder.
    """
    global _created_metrics_dir
    environ = os.environ if environ is None else environ
    if _created_metrics_dir is None or _created_by != os.getpid():
        return
    shutil.rmtree(_created_metrics_dir, ignore_errors=True)
    if environ.get(METRICS_DIR_VARIABLE) == str(_created_metrics_dir):
        del environ[METRICS_DIR_VARIABLE]
    _created_metrics_dir = None


# -- gunicorn hooks -------------------------------------------------------------------------


def close_app(app: Any) -> None:
    """Close what an app holds open: pooled SMS connections (SMPP binds), database pools."""
    if app is None or not hasattr(app, "extensions"):
        return
    idp_state = app.extensions.get("idp")
    if idp_state is not None:
        try:
            idp_state.sms_connections.close()
        except Exception:
            log.exception("closing the pooled SMS connections failed")
    if "sqlalchemy" in app.extensions:
        from idp.extensions import db

        try:
            with app.app_context():
                for engine in db.engines.values():
                    engine.dispose()
        except Exception:
            log.exception("closing the database connections failed")


def on_starting(server: Any) -> None:
    """Master, before the first worker: multiprocess metrics need their folder first."""
    prepare_metrics_dir()


def child_exit(server: Any, worker: Any) -> None:
    """Master, after a worker ended (recycled, HUP, crash): its live gauges no longer count.

    Its counter and histogram files stay: they hold totals that must not go down.
    """
    if os.environ.get(METRICS_DIR_VARIABLE):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def worker_exit(server: Any, worker: Any) -> None:
    """Worker, after its last request: unbind SMPP sessions and close database connections."""
    close_app(getattr(worker, "wsgi", None))


def on_exit(server: Any) -> None:
    """Master, at the end of a shutdown."""
    remove_metrics_dir()


HOOKS = {
    "on_starting": on_starting,
    "child_exit": child_exit,
    "worker_exit": worker_exit,
    "on_exit": on_exit,
}


# -- poort serve ----------------------------------------------------------------------------


class PoortApplication(BaseApplication):
    """Gunicorn serving ``idp.create_app()``, configured without a config file."""

    def __init__(
        self,
        options: Mapping[str, Any],
        overrides: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.options = dict(options)
        self.overrides = {k: v for k, v in (overrides or {}).items() if v not in (None, [], ())}
        self.environ = os.environ if environ is None else environ
        super().__init__(usage="poort serve [OPTIONS]", prog="poort serve")

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # as gunicorn does: older versions lack some settings
                self.cfg.set(key, value)
        for key, hook in HOOKS.items():
            self.cfg.set(key, hook)
        # GUNICORN_CMD_ARGS, as gunicorn itself reads it (a -c config file in it is ignored).
        parsed = self.cfg.parser().parse_args(
            shlex.split(self.environ.get("GUNICORN_CMD_ARGS", ""))
        )
        for key, value in vars(parsed).items():
            if value is not None and key not in ("args", "config"):
                self.cfg.set(key.lower(), value)
        for key, value in self.overrides.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from idp import shedding
        from idp.app import create_app

        # The load shedder derives its limit from the threads of this worker (gthread only).
        threaded = self.cfg.worker_class_str == "gthread"
        shedding.set_serving_threads(self.cfg.threads if threaded else None)
        return create_app()


def _warn_about_ephemeral_keys(settings: Settings) -> None:
    """Dev mode may start without key files, but then every worker makes keys of its own."""
    folder = settings.instance_path
    missing = [name for name in (SECRET_KEY_FILE, KEYS_FILE) if not (folder / name).exists()]
    if settings.dev and missing:
        log.warning(
            "Dev mode without %s in %s: unless the keys are set in the environment, each worker "
            "makes its own, and forms and stored secrets fail across workers. Run `poort demo` "
            "or `poort init` first.",
            " and ".join(missing),
            folder,
        )


def serve(bind: Sequence[str] = (), workers: int | None = None, threads: int | None = None) -> None:
    """Start gunicorn and return when it stopped (it exits the process).

    :raises ConfigError: when Poort's settings or the serving variables are invalid.
    """
    from idp.app import create_app

    prepare_metrics_dir(instance_path_default())
    try:
        app = create_app()  # check every setting once, before any worker starts
        settings = app.extensions["idp"].settings
        _warn_about_ephemeral_keys(settings)
        options = gunicorn_settings(settings=settings)
        close_app(app)
        overrides = {"bind": list(bind), "workers": workers, "threads": threads}
        PoortApplication(options, overrides).run()
    finally:
        remove_metrics_dir()
