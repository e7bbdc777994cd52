"""`poort init` with redis_url set but the redis extra missing: one clear line, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# sys.modules["redis"] = None makes `import redis` fail as if the extra were not installed.
SCRIPT = """
import sys
sys.modules["redis"] = None
from idp.cli import main
main.main(args=sys.argv[1:], prog_name="poort")
"""


def test_init_without_the_redis_extra_says_so_in_one_line(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("IDP_")},
        "IDP_INSTANCE_PATH": str(tmp_path / "instance"),
        "IDP_DATABASE_URL": f"sqlite:///{tmp_path / 'poort.sqlite3'}",
        "IDP_ISSUER": "https://login.example.org",
        "IDP_REDIS_URL": "redis://127.0.0.1:6379/15",
        "FLASK_RUN_FROM_CLI": "",
    }
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)

    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, "init", "--no-admin"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    error_lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(error_lines) == 1, done.stderr
    assert "redis_url is set" in error_lines[0]
    assert "poort[redis]" in error_lines[0]
