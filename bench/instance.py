"""A throwaway Poort instance for one database: folder, keys, schema, accounts, client.

Set up through Poort's own commands (see :mod:`bench.setup_cli`): ``init``, ``authenticator
add``, ``verifier add`` / ``test`` / ``enable`` / ``default`` (the verifier is the generic
``http`` provider pointed at the bench's fake gateway, confirmed with a real test code),
``client add``, ``keys rotate``, and ``limits set`` when this checkout has it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench.fake_sms import FakeSmsGateway
from bench.load import LOOPBACK_HOST, phone_number

ADMIN = "bench-admin"
USER = "bench-user"
SMS_AUTHENTICATOR = "sms"
PASSWORD_AUTHENTICATOR = "password"  # noqa: S105 - a name, not a secret
VERIFIER = "fake-gateway"
REDIRECT_URI = f"http://{LOOPBACK_HOST}:9/callback"
#: The number the verifier's test code goes to; load runs count up from 0 and never reach it.
TEST_NUMBER_INDEX = 9_999_999
#: Send limits raised out of the way: every login uses a new number (so the per-number
#: limits keep their defaults and are checked, never hit), but all of them come from
#: 127.0.0.1, share one verifier, one global budget and one number prefix (+3161). The
#: human check is off: the bench is one IP address asking for thousands of codes.
LIMITS = {
    "ip_per_hour": 10_000_000,
    "network_per_hour": 10_000_000,
    "human_check_after": 0,
    "global_per_hour": 10_000_000,
    "global_per_day": 100_000_000,
    "verifier_per_hour": 10_000_000,
    "verifier_per_day": 100_000_000,
    "prefix_min_sends": 100_000,
}
CHECKOUT = Path(__file__).resolve().parent.parent


@dataclass
class Instance:
    database: str  # "sqlite" or "postgresql"
    path: Path
    database_url: str
    port: int
    admin_password: str
    user_password: str
    client_id: str = ""
    client_secret: str = ""
    notes: list[str] = field(default_factory=list)
    #: The next unused phone-number index: no two logins of an instance share a number.
    next_phone: int = 0
    #: Redis for the counters of limits (else they live in the database), with a key prefix
    #: of this instance's own.
    redis_url: str | None = None
    redis_prefix: str = field(default_factory=lambda: f"poort-bench-{secrets.token_hex(4)}:")

    def take_phones(self, count: int) -> int:
        """Reserve *count* phone-number indexes; return the first."""
        start = self.next_phone
        self.next_phone += count
        return start

    @property
    def issuer(self) -> str:
        return f"http://{LOOPBACK_HOST}:{self.port}"

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The environment Poort (its commands and its server) runs with."""
        keep = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("IDP_") and key not in ("DATABASE_URL", "REDIS_URL")
        }
        return {
            **keep,
            "IDP_INSTANCE_PATH": str(self.path),
            # Plain http on 127.0.0.1 needs dev mode; nothing else in Poort depends on it.
            "IDP_DEV": "1",
            "IDP_ISSUER": self.issuer,
            "DATABASE_URL": self.database_url,
            "PYTHONUNBUFFERED": "1",
            **(
                {"REDIS_URL": self.redis_url, "IDP_REDIS_PREFIX": self.redis_prefix}
                if self.redis_url
                else {}
            ),
            **(extra or {}),
        }

    def forget_redis_keys(self) -> int:
        """Delete the keys this instance wrote to Redis; return how many."""
        if not self.redis_url:
            return 0
        import redis

        client = redis.Redis.from_url(self.redis_url)
        try:
            keys = list(client.scan_iter(match=f"{self.redis_prefix}*", count=1000))
            if keys:
                client.delete(*keys)
            return len(keys)
        finally:
            client.close()


def _plan(instance: Instance, gateway_url: str) -> dict[str, object]:
    test_number = phone_number(TEST_NUMBER_INDEX)
    return {
        "commands": [
            ["init", "--admin-username", ADMIN, "--admin-password", instance.admin_password],
            ["authenticator", "add", PASSWORD_AUTHENTICATOR, "--method", "password", "--enable"],
            [
                "verifier",
                "add",
                VERIFIER,
                "--provider",
                "http",
                "--sender",
                "PoortBench",
                "--title",
                "Bench fake gateway",
                "--option",
                f"url={gateway_url}/send",
                "--option",
                "method=POST",
                "--option",
                "parameters=to={phone}\ncode={otp}",
                "--option",
                "return_success=OK ID:",
            ],  # fmt: skip
            ["verifier", "test", VERIFIER, test_number, "--admin", ADMIN],
            ["verifier", "enable", VERIFIER],
            ["verifier", "default", VERIFIER],
            ["authenticator", "add", SMS_AUTHENTICATOR, "--method", "sms", "--enable"],
            [
                "client",
                "add",
                "Bench app",
                "--redirect-uri",
                REDIRECT_URI,
                "--scopes",
                "openid profile phone",
                "--first-party",
            ],  # fmt: skip
            ["keys", "rotate"],
        ],
        "optional": [["limits", "set", *(f"{key}={value}" for key, value in LIMITS.items())]],
        "user": {"username": USER, "password": instance.user_password},
    }


def set_up(instance: Instance, gateway: FakeSmsGateway, log_path: Path) -> None:
    """Run the setup plan against *instance*, answering the verifier test from *gateway*."""
    plan_path = instance.path.parent / f"{instance.database}-plan.json"
    plan_path.write_text(json.dumps(_plan(instance, gateway.url)), encoding="utf-8")
    with open(log_path, "ab") as log:
        process = subprocess.Popen(  # noqa: S603 - our own module
            [sys.executable, "-m", "bench.setup_cli", str(plan_path)],
            env=instance.env(),
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=CHECKOUT,
        )
        assert process.stdin is not None
        try:
            code = _await_code(gateway, process, phone_number(TEST_NUMBER_INDEX))
            process.stdin.write(f"{code}\n".encode())
            process.stdin.close()
            returncode = process.wait(timeout=180)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    transcript = log_path.read_text(encoding="utf-8", errors="replace")
    if returncode != 0:
        raise RuntimeError(f"setting up {instance.database} failed; see {log_path}")
    instance.client_id = _field(transcript, "client_id")
    instance.client_secret = _field(transcript, "client_secret")
    if "SKIPPED: `poort limits`" in transcript:
        instance.notes.append(
            "`poort limits` does not exist in this checkout: send limits were not raised."
        )
    elif "FAILED: poort limits" in transcript:
        instance.notes.append(f"`poort limits set` failed; see {log_path}.")
    elif "$ poort limits" in transcript:
        instance.notes.append(
            "Send limits raised with `poort limits set "
            + " ".join(f"{k}={v}" for k, v in LIMITS.items())
            + "`."
        )


def _await_code(gateway: FakeSmsGateway, process: subprocess.Popen[bytes], phone: str) -> str:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        code = gateway.take(phone)
        if code is not None:
            return code
        if process.poll() is not None:
            raise RuntimeError("the setup commands stopped before the verifier test code came")
        time.sleep(0.1)
    raise TimeoutError("the verifier test code never reached the fake gateway")


def _field(transcript: str, name: str) -> str:
    match = re.search(rf"^{name}:\s+(\S+)", transcript, re.MULTILINE)
    if not match:
        raise RuntimeError(f"no {name} in the output of `poort client add`")
    return match.group(1)


@contextlib.contextmanager
def throwaway_postgres(server_url: str) -> Iterator[str]:
    """A new database on the server of *server_url* (``poort_bench_<random>``), dropped after."""
    import psycopg

    name = f"poort_bench_{secrets.token_hex(4)}"
    server = postgres_url_for(server_url, None)
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # a name we made: letters, digits, _
    try:
        yield postgres_url_for(server_url, name)
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_url_for(server_url: str, database: str | None) -> str:
    """*server_url* as a plain ``postgresql://`` URL, naming *database* (or the same one)."""
    parts = urlsplit(server_url)
    scheme = "postgresql"
    path = f"/{database}" if database else parts.path
    return urlunsplit((scheme, parts.netloc, path, parts.query, parts.fragment))
