"""The results of a run as a Markdown document: table, targets, memory, machine, settings."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

#: What one "op" is in the CPU column, per scenario.
OPS = {
    "bare": "request",
    "sms-login": "login",
    "password-login": "login",
    "token": "exchange",
    "discovery": "discovery + JWKS pair",
}


@dataclass
class Row:
    label: str
    scenario: str
    database: str
    concurrency: int
    units: int
    requests: int
    failures: int
    throughput: float
    units_per_s: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    cpu_ms_per_unit: float | None
    peak_rss_kib: dict[int, int]
    client_cpu_ms_per_request: float | None
    timeouts: int = 0
    shed: int = 0
    delay_ms: int = 0
    stopped_by: str = "count"
    ratio: float | None = None
    problems: list[str] = field(default_factory=list)
    #: Latency by kind of request (timed or not): what -> count, p50_ms, p95_ms, p99_ms.
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_result(
        cls,
        label: str,
        database: str,
        result: dict[str, Any],
        *,
        cpu_s: float | None,
        peak_rss_kib: dict[int, int],
        delay_ms: int = 0,
    ) -> Row:
        failures = result["errors"] + result["timeouts"]
        problems = []
        if failures:
            problems.append(
                f"{result['errors']} errors, {result['timeouts']} timeouts: "
                + "; ".join(
                    f"{message} (×{count})" for message, count in result["error_samples"].items()
                )
            )
        units = result["units"]
        return cls(
            label=label,
            scenario=result["scenario"],
            database=database,
            concurrency=result["concurrency"],
            units=units,
            requests=result["requests"],
            failures=failures,
            throughput=result["throughput"],
            units_per_s=result["units_per_s"],
            p50_ms=result["p50_ms"],
            p95_ms=result["p95_ms"],
            p99_ms=result["p99_ms"],
            cpu_ms_per_unit=cpu_s * 1000 / units if cpu_s is not None and units else None,
            peak_rss_kib=peak_rss_kib,
            client_cpu_ms_per_request=(
                result["client_cpu_s"] * 1000 / result["requests"] if result["requests"] else None
            ),
            timeouts=result["timeouts"],
            shed=result["shed"],
            delay_ms=delay_ms,
            stopped_by=result["stopped_by"],
            problems=problems,
            steps=result.get("steps") or {},
        )


@dataclass
class MemoryRun:
    database: str
    logins_per_sample: int
    #: One dict per sample: worker pid -> VmRSS in KiB, after every ``logins_per_sample``.
    samples: list[dict[int, int]]
    peak_kib: dict[int, int]
    row: Row | None = None

    @property
    def logins(self) -> int:
        return self.logins_per_sample * len(self.samples)

    def growth_kib(self) -> dict[int, int] | None:
        """RSS growth per worker over the second half of the run (the last 5,000 of 10,000)."""
        if len(self.samples) < 2:
            return None
        half, last = self.samples[len(self.samples) // 2 - 1], self.samples[-1]
        return {pid: last[pid] - half[pid] for pid in last if pid in half}


@dataclass
class Report:
    command: str
    rows: list[Row]
    memory: list[MemoryRun]
    machine: dict[str, str]
    settings: dict[str, str]
    notes: list[str]
    started: str
    seconds: float
    #: The usual and the high number of clients of the run (8 and 32 in a full run).
    clients: tuple[int, int] = (8, 32)

    @property
    def failures(self) -> int:
        return sum(row.failures for row in self.rows) + sum(
            m.row.failures for m in self.memory if m.row is not None
        )


def _ms(value: float | None) -> str:
    return "–" if value is None else (f"{value:.1f}" if value < 100 else f"{value:.0f}")


def _mb(kib: int) -> str:
    return f"{kib / 1024:.0f}"


def _rss(peaks: dict[int, int]) -> str:
    if not peaks:
        return "–"
    values = sorted(peaks.values(), reverse=True)
    if len(values) <= 2:
        return " / ".join(_mb(v) for v in values)
    return f"max {_mb(values[0])} ({len(values)} workers)"


def table(rows: list[Row]) -> str:
    head = (
        "| Scenario | Database | Clients | Requests | Errors | Shed | Req/s | × bare | Logins/s "
        "| p50 ms | p95 ms | p99 ms | Server CPU ms/op | Peak RSS/worker MB "
        "| Load gen CPU ms/req |"
    )
    lines = [head, "| " + " | ".join(["---"] * (head.count("|") - 1)) + " |"]
    for row in rows:
        logins = f"{row.units_per_s:.1f}" if row.scenario.endswith("login") else "–"
        ratio = "–" if row.ratio is None else f"{row.ratio:.1%}"
        errors = str(row.failures) + (" (!)" if row.failures else "")
        cpu = "–" if row.cpu_ms_per_unit is None else f"{row.cpu_ms_per_unit:.1f}"
        lines.append(
            f"| {row.label} | {row.database} | {row.concurrency} | {row.requests} | {errors} "
            f"| {row.shed} "
            f"| {row.throughput:.0f} | {ratio} | {logins} | {_ms(row.p50_ms)} "
            f"| {_ms(row.p95_ms)} | {_ms(row.p99_ms)} | {cpu} | {_rss(row.peak_rss_kib)} "
            f"| {_ms(row.client_cpu_ms_per_request)} |"
        )
    return "\n".join(lines)


# -- targets -----------------------------------------------------------------------------------


def _find(
    rows: list[Row], scenario: str, database: str, clients: int, delay: int = 0
) -> Row | None:
    for row in rows:
        if (
            row.scenario == scenario
            and row.database == database
            and row.concurrency == clients
            and row.delay_ms == delay
        ):
            return row
    return None


def targets(report: Report, database: str = "postgresql") -> list[tuple[str, str, str]]:
    """(target, measured, verdict) for each target of issue 8, on *database*."""
    rows = report.rows
    out: list[tuple[str, str, str]] = []

    def verdict(ok: bool | None) -> str:
        return "not measured" if ok is None else ("met" if ok else "**not met**")

    low, high = report.clients
    sms8 = _find(rows, "sms-login", database, low)
    sms32 = _find(rows, "sms-login", database, high)
    slow32 = _find(rows, "sms-login", database, high, delay=500)
    token = _find(rows, "token", database, low)
    ratio = sms8.ratio if sms8 else None
    out.append(
        (
            f"SMS login ≥ 15 % of bare Flask ({low} clients)",
            "–" if ratio is None else f"{ratio:.1%}",
            verdict(None if ratio is None else ratio >= 0.15),
        )
    )
    p99 = sms8.p99_ms if sms8 else None
    out.append(
        (
            f"SMS login p99 < 50 ms ({low} clients)",
            "–" if p99 is None else f"{p99:.1f} ms",
            verdict(None if p99 is None else p99 < 50),
        )
    )
    cpu = sms8.cpu_ms_per_unit if sms8 else None
    out.append(
        (
            "SMS login ≤ 5 ms server CPU per login",
            "–" if cpu is None else f"{cpu:.1f} ms",
            verdict(None if cpu is None else cpu <= 5),
        )
    )
    share = slow32.throughput / sms32.throughput if slow32 and sms32 and sms32.throughput else None
    out.append(
        (
            f"Gateway at 500 ms: SMS login ≥ 80 % of the 0 ms figure ({high} clients)",
            "–" if share is None else f"{share:.1%}",
            verdict(None if share is None else share >= 0.80),
        )
    )
    tratio = token.ratio if token else None
    out.append(
        (
            "Code-for-token exchange ≥ 25 % of bare Flask",
            "–" if tratio is None else f"{tratio:.1%}",
            verdict(None if tratio is None else tratio >= 0.25),
        )
    )
    memory = next((m for m in report.memory if m.database == database), None)
    if memory is None:
        out.append(("Peak RSS < 90 MB per worker after 10,000 logins", "–", verdict(None)))
        out.append(("No RSS growth over the last 5,000 logins", "–", verdict(None)))
    else:
        peak = max(memory.peak_kib.values()) if memory.peak_kib else None
        out.append(
            (
                f"Peak RSS < 90 MB per worker after {memory.logins:,} logins",
                "–" if peak is None else f"{peak / 1024:.0f} MB",
                verdict(None if peak is None else peak < 90 * 1024),
            )
        )
        growth = memory.growth_kib()
        worst = max(growth.values()) if growth else None
        half = memory.logins - memory.logins // 2
        out.append(
            (
                f"No RSS growth over the last {half:,} logins (≤ 1 MB counts as none)",
                "–" if worst is None else f"{worst / 1024:+.1f} MB",
                verdict(None if worst is None else worst <= 1024),
            )
        )
    measured = [row for row in rows if row.database == database]
    measured += [m.row for m in report.memory if m.database == database and m.row is not None]
    timeouts = sum(row.timeouts for row in measured)
    shed = sum(row.shed for row in measured)
    out.append(
        (
            "No request hangs (a request that times out counts; 503 + Retry-After is shedding)",
            f"{timeouts} timed out, {shed} shed",
            "met" if not timeouts else "**not met**",
        )
    )
    return out


# -- the document ------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["CPU"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info["Cores available"] = str(cores)
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["RAM"] = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    info["OS"] = f"{platform.system()} {platform.release()}"
    info["Python"] = sys.version.split()[0]
    for package in ("gunicorn", "Flask", "SQLAlchemy", "psycopg", "requests", "Authlib"):
        try:
            info[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    import sqlite3

    info["SQLite"] = sqlite3.sqlite_version
    info["Poort"] = poort_revision()
    return info


def poort_revision() -> str:
    """The commit of the checkout, and whether it had uncommitted changes."""
    import subprocess

    checkout = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git from PATH, no input
            cwd=checkout,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],  # noqa: S607
            cwd=checkout,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return f"git {head}" + (" with uncommitted changes" if dirty else "")


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def render(report: Report) -> str:
    out = [
        "# Poort benchmark",
        "",
        f"Run {report.started}, {report.seconds / 60:.1f} minutes, with:",
        "",
        "```sh",
        report.command,
        "```",
        "",
    ]
    if report.failures:
        out += [
            f"**This run had {report.failures} failed requests**, in the rows marked (!); "
            "see Problems below. Those rows' figures count the requests that succeeded.",
            "",
        ]
    out += [
        table(report.rows),
        "",
        "Req/s counts the timed requests: the two POSTs of an SMS login (phone, then code), "
        "the POST of a password login, the token POST, the two GETs of discovery + JWKS. "
        "Each login also opens the login page with a new session first (untimed, but inside "
        "the wall time). Errors are failed or unexpected answers and timeouts (a run with "
        "any is flagged); Shed counts 503 answers with Retry-After, after which the client "
        "waited as asked and tried again. × bare is Req/s over the bare Flask endpoint's at "
        "the same number "
        "of clients, in this run. Server CPU is the workers' user + system time from "
        "/proc (including workers gunicorn restarted) per op: per login, per token exchange, "
        "per discovery + JWKS pair, per bare request. Peak RSS is VmHWM per worker process. "
        "Load gen CPU is the load generator's own CPU per timed request: it shares the "
        "machine's cores with the server, so where it comes near the server's figure (the "
        "bare app) the ceiling is partly the client's.",
        "",
    ]
    breakdown = [row for row in report.rows if row.steps and row.scenario != "bare"]
    if breakdown:
        out += [
            "## Each kind of request",
            "",
            "Latency of every answered request by kind, the untimed ones included (the login "
            "page, and the sign-in and authorize requests that prepare token exchanges).",
            "",
            "| Scenario | Database | Clients | Request | Count | p50 ms | p95 ms | p99 ms |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for row in breakdown:
            for what, step in row.steps.items():
                out.append(
                    f"| {row.label} | {row.database} | {row.concurrency} | {what} "
                    f"| {step['count']} | {_ms(step['p50_ms'])} | {_ms(step['p95_ms'])} "
                    f"| {_ms(step['p99_ms'])} |"
                )
        out.append("")
    if report.memory:
        out += ["## Memory", ""]
        for run in report.memory:
            out.append(
                f"{run.database}: {run.logins:,} SMS logins with "
                f"{run.row.concurrency if run.row else '?'} clients, gunicorn "
                "`--max-requests 0` (workers never recycled, so growth would show). "
                f"VmRSS per worker every {run.logins_per_sample:,} logins, MB:"
            )
            out.append("")
            pids = sorted(run.peak_kib)
            out.append(
                "| Logins | " + " | ".join(f"worker {i + 1}" for i in range(len(pids))) + " |"
            )
            out.append("| --- | " + " | ".join("---" for _ in pids) + " |")
            for index, sample in enumerate(run.samples, start=1):
                cells = " | ".join(_mb(sample[pid]) if pid in sample else "–" for pid in pids)
                out.append(f"| {index * run.logins_per_sample:,} | {cells} |")
            peaks = " | ".join(_mb(run.peak_kib[pid]) for pid in pids)
            out.append(f"| peak (VmHWM) | {peaks} |")
            growth = run.growth_kib()
            if growth:
                cells = " | ".join(f"{growth[pid] / 1024:+.1f}" for pid in pids if pid in growth)
                out.append(f"| growth, second half | {cells} |")
            out.append("")
    for database in sorted({row.database for row in report.rows if row.database != "–"}):
        out += [
            f"## Targets ({database})",
            "",
            "| Target | Measured | Verdict |",
            "| --- | --- | --- |",
        ]
        for target, measured, verdict in targets(report, database):
            out.append(f"| {target} | {measured} | {verdict} |")
        out.append("")
    out += ["## Machine and settings", ""]
    out += [f"- {key}: {value}" for key, value in report.machine.items()]
    out += [f"- {key}: {value}" for key, value in report.settings.items()]
    out.append("")
    if report.notes:
        out += ["## Notes", ""] + [f"- {note}" for note in report.notes] + [""]
    problems = [(row, p) for row in report.rows for p in row.problems]
    problems += [(m.row, p) for m in report.memory if m.row for p in m.row.problems]
    if problems:
        out += ["## Problems", ""]
        out += [
            f"- {row.label}, {row.database}, {row.concurrency} clients: {p}" for row, p in problems
        ]
        out.append("")
    return "\n".join(out)
