"""The load generator's own rules and arithmetic, and one tiny run of the whole bench.

Performance is never asserted here: the smoke run checks that every scenario ran and that no
request failed, not how fast anything was.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import phonenumbers
import pytest

from bench import load
from bench.fake_sms import FakeSmsGateway
from bench.load import LoadConfig, NotLoopback, check_loopback, phone_number
from bench.stats import percentile, summarise

CHECKOUT = Path(__file__).resolve().parents[2]


# -- only this machine ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/",
        "http://localhost:5000/login",
        "https://localhost/",
        "http://[::1]:8080/oauth/token",
    ],
)
def test_loopback_targets_are_accepted(url: str) -> None:
    assert check_loopback(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5:8000/",
        "http://192.168.1.10/",
        "https://login.example.org/",
        "http://127.0.0.2:8000/",  # loopback too, but not one of the three the bench allows
        "http://127.0.0.1.nip.io/",
        "http://localhost.example.org/",
        "http://127.0.0.1@example.org/",  # the host is example.org; 127.0.0.1 is a user name
        "http://0.0.0.0:8000/",
        "ftp://127.0.0.1/",
        "127.0.0.1:8000",
        "",
    ],
)
def test_other_targets_are_refused_with_a_clear_message(url: str) -> None:
    with pytest.raises(NotLoopback, match="only sends to http\\(s\\) on this machine"):
        check_loopback(url)


def test_a_run_refuses_a_remote_target_before_sending_anything(monkeypatch) -> None:
    def no_thread(*args, **kwargs):
        raise AssertionError("no client may start")

    monkeypatch.setattr(load.threading, "Thread", no_thread)
    with pytest.raises(NotLoopback):
        load.run(LoadConfig("bare", "http://203.0.113.7/"))
    with pytest.raises(NotLoopback):
        load.run_in_subprocess(LoadConfig("bare", "http://203.0.113.7/"))


def test_the_fake_gateway_must_be_local_too() -> None:
    config = LoadConfig("sms-login", "http://127.0.0.1:1/", fake_sms_url="http://sms.example/")
    with pytest.raises(NotLoopback):
        config.check()


def test_the_load_generator_process_refuses_a_remote_target() -> None:
    config = '{"scenario": "bare", "target": "http://example.org/"}'
    done = subprocess.run(  # noqa: S603 - our own module
        [sys.executable, "-m", "bench.load"],
        input=config,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=CHECKOUT,
        check=False,
    )
    assert done.returncode == 2
    assert "Refusing to load 'http://example.org/'" in done.stderr


# -- numbers ----------------------------------------------------------------------------------


def test_percentiles_use_the_nearest_rank() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 75) == 3.0  # order does not matter
    assert percentile([1.0, 2.0, 3.0, 4.0], 100) == 4.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0) == 1.0
    assert percentile([7.0], 99) == 7.0


def test_percentiles_of_a_hundred_values() -> None:
    values = [float(v) for v in range(1, 101)]
    random.shuffle(values)

    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 99.5) == 100.0


def test_a_percentile_is_always_a_measured_value() -> None:
    values = [0.003, 0.010, 0.011, 0.250]
    for p in (1, 10, 33.3, 50, 66.6, 90, 99, 99.9):
        assert percentile(values, p) in values


def test_percentile_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match="within 0..100"):
        percentile([1.0], 101)


def test_the_summary_is_in_milliseconds() -> None:
    summary = summarise([0.001 * v for v in range(1, 101)])

    assert summary["p50_ms"] == pytest.approx(50.0)
    assert summary["p95_ms"] == pytest.approx(95.0)
    assert summary["p99_ms"] == pytest.approx(99.0)
    assert summary["max_ms"] == pytest.approx(100.0)
    assert summarise([]) == {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}


def test_every_bench_number_is_a_valid_dutch_mobile_number() -> None:
    for index in (0, 1, 12_345, 9_999_999):
        number = phonenumbers.parse(phone_number(index))
        assert phonenumbers.is_valid_number(number)
        assert phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE
        assert phonenumbers.region_code_for_number(number) == "NL"
    assert phone_number(1) != phone_number(2)
    with pytest.raises(ValueError, match="outside"):
        phone_number(10_000_000)


def test_the_budget_stops_at_the_count_or_the_deadline() -> None:
    budget = load._Budget(count=3, deadline=time.monotonic() + 60)
    assert [len(budget.take()) for _ in range(5)] == [1, 1, 1, 0, 0]
    assert budget.stopped_by == "count"

    late = load._Budget(count=100, deadline=time.monotonic() - 1)
    assert not late.take()
    assert late.stopped_by == "time"


def test_the_fake_gateway_hands_each_code_out_once() -> None:
    import requests

    with FakeSmsGateway() as gateway:
        sent = requests.post(
            f"{gateway.url}/send", data={"to": "+31610000001", "code": "123456"}, timeout=5
        )
        assert sent.status_code == 200 and sent.text.startswith("OK ID:")
        first = requests.get(f"{gateway.url}/code", params={"phone": "+31610000001"}, timeout=5)
        again = requests.get(f"{gateway.url}/code", params={"phone": "+31610000001"}, timeout=5)

    assert (first.status_code, first.text) == (200, "123456")
    assert again.status_code == 404


# -- the whole bench, tiny ------------------------------------------------------------------


def _table(markdown: str) -> list[dict[str, str]]:
    lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = []
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) != len(header):
            break  # the next table
        rows.append(dict(zip(header, cells, strict=True)))
    return rows


@pytest.mark.slow
def test_a_quick_run_on_sqlite_measures_every_scenario_without_errors(tmp_path: Path) -> None:
    out = tmp_path / "latest.md"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("IDP_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    done = subprocess.run(  # noqa: S603 - our own module
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--memory-run",
            "--databases",
            "sqlite",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        # About 45 s on an idle two-core machine; the margin is for a busy one.
        timeout=300,
        cwd=CHECKOUT,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    rows = _table(out.read_text(encoding="utf-8"))

    labels = {row["Scenario"] for row in rows}
    assert {
        'Bare Flask "ok"',
        "SMS login, gateway 0 ms",
        "SMS login, gateway 500 ms",
        "Password login",
        "Code-for-token exchange",
        "Discovery + JWKS",
    } <= labels
    assert any(label.startswith("SMS login, ") and "in a row" in label for label in labels)
    assert all(row["Errors"] == "0" for row in rows), rows
    assert all(int(row["Requests"]) > 0 for row in rows), rows
    assert {row["Database"] for row in rows} == {"–", "sqlite"}


# -- the report ------------------------------------------------------------------------------


def _row(label: str, scenario: str, database: str, clients: int, rps: float, **extra):
    from bench.report import Row

    values = {
        "label": label,
        "scenario": scenario,
        "database": database,
        "concurrency": clients,
        "units": 100,
        "requests": 200,
        "failures": 0,
        "throughput": rps,
        "units_per_s": rps / 2,
        "p50_ms": 10.0,
        "p95_ms": 20.0,
        "p99_ms": 40.0,
        "cpu_ms_per_unit": 4.0,
        "peak_rss_kib": {1: 80 * 1024, 2: 70 * 1024},
        "client_cpu_ms_per_request": 1.0,
    }
    values.update(extra)
    return Row(**values)


def test_targets_are_judged_from_the_rows_of_the_run() -> None:
    from bench.report import MemoryRun, Report, render, targets

    rows = [
        _row("bare", "bare", "–", 8, 1000.0),
        _row("bare", "bare", "–", 32, 1000.0),
        _row("SMS", "sms-login", "postgresql", 8, 200.0, ratio=0.2),
        _row("SMS", "sms-login", "postgresql", 32, 200.0, ratio=0.2),
        _row("SMS slow", "sms-login", "postgresql", 32, 150.0, ratio=0.15, delay_ms=500),
        _row("Token", "token", "postgresql", 8, 200.0, ratio=0.2, timeouts=1, failures=1),
    ]
    memory = MemoryRun(
        "postgresql",
        1000,
        [{1: 80 * 1024, 2: 70 * 1024}] * 5 + [{1: 82 * 1024, 2: 70 * 1024}] * 5,
        {1: 85 * 1024, 2: 75 * 1024},
    )
    report = Report("python -m bench", rows, [memory], {}, {}, [], "now", 60.0)

    verdicts = {
        target.split(" (")[0]: (measured, verdict) for target, measured, verdict in targets(report)
    }

    assert verdicts["SMS login ≥ 15 % of bare Flask"] == ("20.0%", "met")
    assert verdicts["SMS login p99 < 50 ms"] == ("40.0 ms", "met")
    assert verdicts["SMS login ≤ 5 ms server CPU per login"] == ("4.0 ms", "met")
    assert verdicts["Gateway at 500 ms: SMS login ≥ 80 % of the 0 ms figure"] == (
        "75.0%",
        "**not met**",
    )
    assert verdicts["Code-for-token exchange ≥ 25 % of bare Flask"] == ("20.0%", "**not met**")
    assert verdicts["Peak RSS < 90 MB per worker after 10,000 logins"] == ("85 MB", "met")
    assert verdicts["No RSS growth over the last 5,000 logins"] == ("+2.0 MB", "**not met**")
    assert verdicts["No request hangs"][1] == "**not met**"

    text = render(report)
    assert "| SMS slow | postgresql | 32 | 200 | 0 | 0 | 150 | 15.0% |" in text
    assert text.count("| 1.0 |") == len(rows)  # the load generator's CPU per request
    assert "**This run had 1 failed requests**" in text


def test_an_unexpected_answer_is_described_in_a_few_words() -> None:
    class Answer:
        status_code = 500
        headers = {"Content-Type": "text/html"}
        text = "<!doctype html><html><head><title>Something went wrong</title></head>..."

    class Redirect:
        status_code = 303
        headers = {"Location": "/login"}
        text = ""

    assert load._describe(Answer()) == "HTTP 500 page 'Something went wrong'"
    assert load._describe(Redirect()) == "HTTP 303 to /login"
