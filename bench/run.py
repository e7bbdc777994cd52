"""The whole benchmark: instances, servers, loads, measurements, the report."""

from __future__ import annotations

import collections
import contextlib
import datetime
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench import report as md
from bench.fake_sms import FakeSmsGateway
from bench.instance import (
    REDIRECT_URI,
    USER,
    Instance,
    postgres_url_for,
    set_up,
    throwaway_postgres,
)
from bench.load import LoadConfig, run_in_subprocess
from bench.procfs import children, workers_memory
from bench.server import (
    BARE_APP,
    POORT_APP,
    Gunicorn,
    MemoryWatch,
    Server,
    describe_servers,
    effective_settings,
    free_port,
    has_poort_serve,
)
from bench.stats import summarise

#: Scenario groups, in the order they run. Each group gets a freshly started server.
GROUPS = ("sms-login", "sms-login-slow", "password-login", "token", "discovery", "memory")
DATABASES = ("sqlite", "postgresql")
SLOW_GATEWAY = 0.5


@dataclass(frozen=True)
class Step:
    """One measured load: a row of the table."""

    scenario: str
    label: str
    concurrency: int
    count: int
    duration: float
    delay: float = 0.0


@dataclass(frozen=True)
class Profile:
    """How much load each step gets: the full run, or a quick smoke run."""

    steps: dict[str, tuple[Step, ...]]
    #: The usual number of clients, and the high one (for the slow gateway).
    clients: tuple[int, int]
    bare_count: int
    bare_duration: float
    warmup: int
    memory_chunks: int
    memory_chunk: int
    memory_duration: float
    #: One server for every scenario of a database, instead of a fresh one per scenario.
    shared_server: bool = False


def _steps(
    scale: dict[str, int], duration: float, low: int, high: int
) -> dict[str, tuple[Step, ...]]:
    return {
        "sms-login": (
            Step("sms-login", "SMS login, gateway 0 ms", low, scale["sms"], duration),
            Step("sms-login", "SMS login, gateway 0 ms", high, scale["sms"], duration),
        ),
        "sms-login-slow": (
            Step(
                "sms-login",
                "SMS login, gateway 500 ms",
                high,
                scale["slow"],
                duration,
                SLOW_GATEWAY,
            ),
        ),
        "password-login": (
            Step("password-login", "Password login", low, scale["password"], duration),
        ),
        "token": (Step("token", "Code-for-token exchange", low, scale["token"], duration),),
        "discovery": (Step("discovery", "Discovery + JWKS", low, scale["discovery"], duration),),
    }


FULL = Profile(
    steps=_steps(
        {"sms": 3000, "slow": 2000, "password": 400, "token": 3000, "discovery": 5000},
        30.0,
        8,
        32,
    ),
    clients=(8, 32),
    bare_count=30000,
    bare_duration=20.0,
    warmup=40,
    memory_chunks=10,
    memory_chunk=1000,
    memory_duration=300.0,
)
#: A smoke run: a few of everything, few clients (SQLite's write lock and a busy machine
#: stay out of the way), one server per database, no warm-up.
QUICK = Profile(
    steps=_steps({"sms": 12, "slow": 8, "password": 4, "token": 8, "discovery": 16}, 10.0, 2, 4),
    clients=(2, 4),
    bare_count=100,
    bare_duration=5.0,
    warmup=0,
    memory_chunks=4,
    memory_chunk=5,
    memory_duration=30.0,
    shared_server=True,
)


@dataclass
class Options:
    command: str
    groups: tuple[str, ...]
    databases: tuple[str, ...]
    postgres_url: str
    out: Path
    quick: bool
    gunicorn: Gunicorn
    keep: bool = False
    redis_url: str | None = None
    log: Callable[[str], None] = print


class Bench:
    def __init__(self, options: Options) -> None:
        self.o = options
        self.profile = QUICK if options.quick else FULL
        self.rows: list[md.Row] = []
        self.memory: list[md.MemoryRun] = []
        self.notes: list[str] = []
        self.bare: dict[int, float] = {}
        self.work = Path(tempfile.mkdtemp(prefix="poort-bench-"))
        #: The memory run is long (10,000 logins): it runs once, on PostgreSQL when measured.
        self.memory_database = (
            "postgresql" if "postgresql" in options.databases else options.databases[0]
        )

    # -- helpers ---------------------------------------------------------------------------

    def _load(
        self, step: Step, server: Server, instance: Instance | None, **extra: Any
    ) -> dict[str, Any]:
        config = LoadConfig(
            scenario=step.scenario,
            target=server.url,
            server_pid=server.pid,
            concurrency=step.concurrency,
            count=step.count,
            duration=step.duration,
            **extra,
        )
        if instance is not None:
            config = replace(
                config,
                fake_sms_url=self.gateway.url,
                login=USER,
                password=instance.user_password,
                client_id=instance.client_id,
                client_secret=instance.client_secret,
                redirect_uri=REDIRECT_URI,
                phone_start=instance.take_phones(step.count),
            )
        return run_in_subprocess(config)

    def _measure(
        self, server: Server, step: Step, database: str, instance: Instance | None
    ) -> md.Row:
        with MemoryWatch(server.pid) as watch:
            result = self._load(step, server, instance)
        row = md.Row.from_result(
            step.label,
            database,
            result,
            cpu_s=result["server_cpu_s"],
            peak_rss_kib=watch.peak_kib,
            delay_ms=round(step.delay * 1000),
        )
        if step.scenario == "bare":
            self.bare[step.concurrency] = row.throughput
        row.ratio = (
            row.throughput / self.bare[step.concurrency]
            if self.bare.get(step.concurrency)
            else None
        )
        self.o.log(
            f"  {row.label:<28} {database:<10} c={row.concurrency:<3} {row.requests:>6} req "
            f"{row.throughput:8.1f} req/s  p99 {md._ms(row.p99_ms):>6} ms  "
            f"cpu/op {md._ms(row.cpu_ms_per_unit):>6} ms  errors {row.failures}"
        )
        return row

    def _warm(self, server: Server, step: Step, instance: Instance | None) -> None:
        if not self.profile.warmup:
            return
        warm = replace(
            step,
            count=max(self.profile.warmup, step.concurrency),
            duration=min(step.duration, 30.0),
            delay=0.0,
        )
        self._load(warm, server, instance)

    @contextlib.contextmanager
    def _server(
        self, app: str, env: dict[str, str], name: str, port: int, extra: str = ""
    ) -> Iterator[Server]:
        log = self.work / f"{name}.log"
        server = Server(app, port, self.o.gunicorn, env, log, extra=extra)
        server.start(ready_path="/login" if app == POORT_APP else "/")
        try:
            yield server
        finally:
            server.stop()
            for line in server_exceptions(log):
                self.notes.append(f"Server log of {name}: {line}")

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> md.Report:
        started = time.monotonic()
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        load_before = md.load_average()
        self.o.log(f"Work folder {self.work}; load average {load_before}")
        if not has_poort_serve():
            self.notes.append(
                "This checkout has no `poort serve`; Poort ran under plain gunicorn instead."
            )
        with FakeSmsGateway() as self.gateway:
            self._bare()
            for database in self.o.databases:
                self._database(database)
        settings = {
            "Servers": f"{self.o.gunicorn.describe()}, bound to 127.0.0.1; {describe_servers()}",
            "gunicorn settings (both servers)": ", ".join(
                f"{k}={v}" for k, v in effective_settings(self.o.gunicorn).items()
            ),
            "Poort settings": "IDP_DEV=1 (plain http on 127.0.0.1), IDP_ISSUER="
            "http://127.0.0.1:PORT, keys from `poort init`, password_hash_profile default "
            "(argon2id, RFC 9106 low-memory: 64 MiB, 3 passes), signing_alg RS256 (RSA 3072), "
            "limits raised as in the notes, "
            + (
                f"REDIS_URL={self.o.redis_url} (counters of limits in Redis)"
                if self.o.redis_url
                else "no REDIS_URL (counters of limits in the database)"
            )
            + ", SMS codes sent inline (no queue), everything else default",
            "Fake SMS gateway": "the generic `http` provider posting to a Python HTTP server on "
            "127.0.0.1 (in the bench's own process), answering after 0 or 500 ms",
            "Load generator": "its own process; one thread and one requests.Session per client",
            "Load average (1, 5, 15 min)": f"{load_before} before, {md.load_average()} after",
        }
        result = md.Report(
            command=self.o.command,
            rows=self.rows,
            memory=self.memory,
            machine=md.machine() | self._postgres_version(),
            settings=settings,
            notes=self.notes,
            started=stamp,
            seconds=time.monotonic() - started,
            clients=self.profile.clients,
        )
        if not self.o.keep and not result.failures:
            shutil.rmtree(self.work, ignore_errors=True)
        else:
            self.notes.append(f"Server and setup logs kept in {self.work}.")
        return result

    def _bare(self) -> None:
        clients = sorted(
            {step.concurrency for g in self.o.groups for step in self.profile.steps.get(g, ())}
            | ({self.profile.clients[0]} if "memory" in self.o.groups else set())
        )
        env = _base_env() | {"IDP_INSTANCE_PATH": str(self.work / "bare")}
        self.o.log("bare Flask")
        with self._server(BARE_APP, env, "bare", free_port()) as server:
            for concurrency in clients:
                step = Step(
                    "bare",
                    'Bare Flask "ok"',
                    concurrency,
                    self.profile.bare_count,
                    self.profile.bare_duration,
                )
                self._warm(server, step, None)
                self.rows.append(self._measure(server, step, "–", None))

    def _database(self, database: str) -> None:
        with contextlib.ExitStack() as stack:
            if database == "postgresql":
                url = stack.enter_context(throwaway_postgres(self.o.postgres_url))
                url = url.replace("postgresql://", "postgresql+psycopg://", 1)
            else:
                url = f"sqlite:///{self.work / database / 'poort.sqlite3'}"
            instance = Instance(
                database=database,
                path=self.work / database,
                database_url=url,
                port=free_port(),
                admin_password=secrets.token_urlsafe(18),
                user_password=secrets.token_urlsafe(18),
                redis_url=self.o.redis_url,
            )
            stack.callback(instance.forget_redis_keys)
            self.o.log(f"{database}: setting up {instance.path}")
            set_up(instance, self.gateway, self.work / f"{database}-setup.log")
            for note in instance.notes:
                if note not in self.notes:
                    self.notes.append(note)
            groups = [g for g in self.o.groups if g != "memory"]
            if self.profile.shared_server and groups:
                self.o.log(f"{database}: {', '.join(groups)} (one server)")
                with self._server(
                    POORT_APP, instance.env(), f"{database}-all", instance.port
                ) as server:
                    for group in groups:
                        self._group(server, group, database, instance)
            else:
                for group in groups:
                    self.o.log(f"{database}: {group}")
                    with self._server(
                        POORT_APP, instance.env(), f"{database}-{group}", instance.port
                    ) as server:
                        self._group(server, group, database, instance)
            if "memory" in self.o.groups and database == self.memory_database:
                self._memory(instance)

    def _group(self, server: Server, group: str, database: str, instance: Instance) -> None:
        steps = self.profile.steps[group]
        self.gateway.delay = 0.0
        self._warm(server, steps[0], instance)
        try:
            for step in steps:
                self.gateway.delay = step.delay
                self.rows.append(self._measure(server, step, database, instance))
        finally:
            self.gateway.delay = 0.0

    def _memory(self, instance: Instance) -> None:
        p = self.profile
        step = Step(
            "sms-login", "SMS login, memory run", p.clients[0], p.memory_chunk, p.memory_duration
        )
        self.o.log(f"{instance.database}: memory ({p.memory_chunks} x {p.memory_chunk} logins)")
        with self._server(
            POORT_APP,
            instance.env(),
            f"{instance.database}-memory",
            instance.port,
            extra="--max-requests 0",
        ) as server:
            self._warm(server, step, instance)
            pids = children(server.pid)
            samples: list[dict[int, int]] = []
            results: list[dict[str, Any]] = []
            for _ in range(p.memory_chunks):
                results.append(self._load(step, server, instance, return_latencies=True))
                samples.append({pid: m["VmRSS"] for pid, m in workers_memory(server.pid).items()})
            peak = {pid: m["VmHWM"] for pid, m in workers_memory(server.pid).items()}
            if children(server.pid) != pids:
                self.notes.append(
                    f"{instance.database} memory run: a worker was replaced during the run."
                )
        merged = _merge(results)
        row = md.Row.from_result(
            f"SMS login, {merged['units']:,} in a row",
            instance.database,
            merged,
            cpu_s=merged["server_cpu_s"],
            peak_rss_kib=peak,
        )
        bare = self.bare.get(step.concurrency)
        row.ratio = row.throughput / bare if bare else None
        self.memory.append(md.MemoryRun(instance.database, p.memory_chunk, samples, peak, row))
        self.rows.append(row)
        self.o.log(
            f"  memory: peak {md._rss(peak)} MB, growth "
            f"{run_growth(self.memory[-1])} MB over the second half"
        )

    def _postgres_version(self) -> dict[str, str]:
        if "postgresql" not in self.o.databases:
            return {}
        try:
            import psycopg

            with psycopg.connect(postgres_url_for(self.o.postgres_url, None)) as conn:
                row = conn.execute("SHOW server_version").fetchone()
        except Exception as exc:  # the version is a footnote; the run is what matters
            return {"PostgreSQL": f"unknown ({type(exc).__name__})"}
        return {"PostgreSQL": str(row[0]) if row else "unknown"}


def run_growth(run: md.MemoryRun) -> str:
    growth = run.growth_kib()
    if not growth:
        return "–"
    return " / ".join(f"{value / 1024:+.1f}" for value in growth.values())


def _merge(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from the chunks of a memory run."""
    latencies = [value for result in results for value in result["latencies"] or []]
    wall = sum(result["wall_s"] for result in results)
    units = sum(result["units"] for result in results)
    merged = dict(results[-1])
    merged.update(
        units=units,
        requests=len(latencies),
        wall_s=wall,
        throughput=len(latencies) / wall if wall else 0.0,
        units_per_s=units / wall if wall else 0.0,
        **summarise(latencies),
        **{key: sum(r[key] for r in results) for key in ("ok", "shed", "timeouts", "errors")},
        error_samples=_merge_samples(r["error_samples"] for r in results),
        client_cpu_s=sum(r["client_cpu_s"] for r in results),
        server_cpu_s=sum(r["server_cpu_s"] or 0.0 for r in results),
        stopped_by="time" if any(r["stopped_by"] == "time" for r in results) else "count",
        latencies=None,
        steps={},
    )
    return merged


def _merge_samples(parts: Iterable[dict[str, int]]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for part in parts:
        for message, count in part.items():
            if message in merged or len(merged) < 5:
                merged[message] = merged.get(message, 0) + count
    return merged


_EXCEPTION = re.compile(r"^[\w.]+(?:Error|Exception|Timeout)\w*: .*$", re.MULTILINE)


def server_exceptions(log: Path) -> list[str]:
    """The exceptions a server logged, each different one once with how often, most first."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    counts = collections.Counter(line[:160] for line in _EXCEPTION.findall(text))
    return [f"{line} (×{count})" for line, count in counts.most_common(5)]


def _base_env() -> dict[str, str]:
    import os

    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("IDP_") and key not in ("DATABASE_URL", "REDIS_URL")
    }
