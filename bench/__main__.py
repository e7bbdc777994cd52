"""``python -m bench``: run the benchmark and write its Markdown table.

    python -m bench                       # everything, on SQLite and PostgreSQL (~15 min)
    python -m bench --quick               # a smoke run with tiny counts
    python -m bench --scenarios token,discovery --databases postgresql
    python -m bench --quick --memory-run  # add the memory run to a quick or picked run

See docs/PERFORMANCE.md for what it measures and the latest figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import signal
import sys
from pathlib import Path

from bench.run import DATABASES, GROUPS, Bench, Options
from bench.server import Gunicorn

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latest.md"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def _names(raw: str, allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in raw.split(",") if part.strip())
    unknown = [name for name in names if name not in allowed]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown {what}: {', '.join(unknown) or '(none)'}; choose from {', '.join(allowed)}"
        )
    return names


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Benchmark Poort against a bare Flask ceiling."
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny counts: a smoke run (no memory run)"
    )
    parser.add_argument(
        "--scenarios",
        type=lambda raw: _names(raw, GROUPS, "scenario"),
        help=f"comma-separated, from: {', '.join(GROUPS)} (default: all; the bare Flask "
        "ceiling always runs)",
    )
    parser.add_argument(
        "--memory-run",
        action="store_true",
        help="add the memory run (10,000 SMS logins; part of the full run anyway)",
    )
    parser.add_argument(
        "--databases",
        type=lambda raw: _names(raw, DATABASES, "database"),
        default=DATABASES,
        help="comma-separated: sqlite, postgresql (default: both)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES),
        help="a PostgreSQL server the bench may create (and drop) a poort_bench_* database "
        f"on (default: $BENCH_POSTGRES_URL or {DEFAULT_POSTGRES})",
    )
    parser.add_argument(
        "--redis-url",
        default=None,
        help="keep the counters of limits in this Redis (as a production Poort would), under "
        "a key prefix of the bench's own, deleted afterwards; default: in the database",
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker (default 8)")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"the Markdown file (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the work folder with logs and instances"
    )
    return parser.parse_args(argv)


def _stop(signum: int, frame: object) -> None:
    # Unwind like Ctrl-C, so servers stop and the throwaway database and Redis keys go.
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGTERM, _stop)
    args = parse(argv)
    if args.scenarios:
        groups = args.scenarios
    else:
        groups = tuple(g for g in GROUPS if g != "memory" or not args.quick)
    if args.memory_run and "memory" not in groups:
        groups = (*groups, "memory")
    options = Options(
        command=" ".join(["python -m bench", *map(shlex.quote, argv)]),
        groups=groups,
        databases=args.databases,
        postgres_url=args.postgres_url,
        out=args.out,
        quick=args.quick,
        gunicorn=Gunicorn(workers=args.workers, threads=args.threads),
        keep=args.keep,
        redis_url=args.redis_url,
        log=lambda line: print(line, file=sys.stderr, flush=True),
    )
    from bench.report import render

    result = Bench(options).run()
    text = render(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")
    raw = args.out.with_suffix(".json")
    raw.write_text(json.dumps(dataclasses.asdict(result), indent=1) + "\n", encoding="utf-8")
    print(text)
    print(f"\nWritten to {args.out} (and the figures as JSON to {raw})", file=sys.stderr)
    return 3 if result.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
