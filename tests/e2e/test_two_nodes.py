"""Two Poort nodes behind one imaginary load balancer (issue 8, part 5).

Two real ``poort serve`` processes (one worker of two threads each) listen on two loopback
ports. They share one PostgreSQL database and one Redis, and nothing else but what an
operator copies to every node: the instance keys (``secret_key``, ``secret.keys``). A
browser, played by one ``requests`` session and its cookie jar, goes back and forth between
them:

- a login started on node A (the phone number) finishes on node B (the code);
- the per-number send limit holds across both nodes: the third code on either is a 429;
- wrong codes and passwords, alternating between the nodes, lock the account at the
  configured count.

Codes are read from the console provider's outbox, one file both nodes append to (each
instance folder links ``sms-outbox.jsonl`` to it), as a person reads their phone.

Needs PostgreSQL and Redis on 127.0.0.1; skipped without them unless POORT_REQUIRE_REDIS is
set (CI sets it, so there a missing service is a failure, not a skip).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from idp import create_app
from idp.cli.init import ensure_instance
from idp.config import SECRET_KEY_FILE
from idp.extensions import db
from idp.models import Authenticator, User
from idp.security.secret_box import KEYS_FILE
from idp.verification import verifiers
from tests.database import normalise, throwaway_postgres

pytestmark = pytest.mark.slow

POORT = Path(sys.executable).parent / "poort"
POSTGRES = os.environ.get("POORT_E2E_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = "redis://127.0.0.1:6379/12"
ISSUER = "http://127.0.0.1:5000"  # dev mode (plain http on loopback); one issuer, many nodes
KNOWN = "+31612345678"  # has an account (and a password)
NEWCOMER = "+31687654321"  # has none; sign-up is on, so codes go out to it
PASSWORD = "correct horse battery staple"
FAILURES_BEFORE_WAIT = 3
#: Seconds any one step may take (start-up, a request, a shutdown).
WAIT = 30
ORIGIN_LINE = re.compile(r"\n\n@(?P<host>[^\s#]+) #(?P<code>\d+)$")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
#: Variables of the shell running pytest that would change what `poort serve` does.
SERVING_VARIABLES = (
    "GUNICORN_CMD_ARGS",
    "WEB_CONCURRENCY",
    "FORWARDED_ALLOW_IPS",
    "PROMETHEUS_MULTIPROC_DIR",
)


def _reachable(url: str) -> bool:
    try:
        engine = create_engine(normalise(url), connect_args={"connect_timeout": 2})
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        finally:
            engine.dispose()
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except Exception:
        return False


@pytest.fixture(scope="module")
def services() -> None:
    if _reachable(POSTGRES):
        return
    if os.environ.get("POORT_REQUIRE_REDIS"):
        pytest.fail(f"PostgreSQL ({POSTGRES}) or Redis (127.0.0.1:6379) is not reachable")
    pytest.skip("needs PostgreSQL and Redis on 127.0.0.1 (POORT_REQUIRE_REDIS makes it fail)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# -- the cluster ------------------------------------------------------------------------------


@dataclass
class Node:
    name: str
    instance: Path
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Cluster:
    a: Node
    b: Node
    outbox: Path
    environ: dict[str, str]

    def env(self, node: Node) -> dict[str, str]:
        return {**self.environ, "IDP_INSTANCE_PATH": str(node.instance)}

    def poort(self, node: Node, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(POORT), *args],
            env=self.env(node),
            cwd=node.instance.parent,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=WAIT,
            check=False,
        )

    def codes(self, to: str, at_least: int = 0) -> list[str]:
        """The codes texted to *to*, oldest first, by either node.

        A text goes out just after the answer, as a phone gets it a moment later: wait
        (bounded) until there are *at_least* of them.
        """
        deadline = time.monotonic() + 10
        while len(found := self._texted(to)) < at_least and time.monotonic() < deadline:
            time.sleep(0.05)
        return found

    def _texted(self, to: str) -> list[str]:
        if not self.outbox.exists():
            return []
        found = []
        for line in self.outbox.read_text(encoding="utf-8").splitlines():
            message = json.loads(line)
            if message["to"] == to:
                match = ORIGIN_LINE.search(message["text"])
                assert match, message["text"]
                found.append(match.group("code"))
        return found


def _start(cluster: Cluster, node: Node) -> None:
    with node.log.open("wb") as log:
        node.process = subprocess.Popen(
            [str(POORT), "serve", "--bind", f"127.0.0.1:{node.port}", "--workers", "1",
             "--threads", "2"],
            env=cluster.env(node), cwd=node.instance.parent, stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip


def _wait_ready(node: Node) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        assert node.process is not None
        if node.process.poll() is not None:
            pytest.fail(f"node {node.name} exited with {node.process.returncode}:\n{node.output()}")
        try:
            answer = requests.get(f"{node.url}/readyz", timeout=2)
            if answer.status_code == 200:
                assert answer.json()["checks"] == {"database": "ok", "redis": "ok"}
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    pytest.fail(f"node {node.name} was not ready within {WAIT} s:\n{node.output()}")


def _stop(node: Node) -> None:
    process = node.process
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=WAIT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=WAIT)
        pytest.fail(f"node {node.name} did not stop within {WAIT} s of SIGTERM")


def _seed(cluster: Cluster, database_url: str, prefix: str) -> None:
    """What an admin would set up once: a console verifier, the password and SMS
    authenticators, and one person with a phone and a password."""
    keys = (cluster.a.instance / KEYS_FILE).read_text(encoding="utf-8").split()
    app = create_app(
        {
            "instance_path": str(cluster.a.instance.parent / "setup"),
            "dev": True,
            "issuer": ISSUER,
            "secret_key": (cluster.a.instance / SECRET_KEY_FILE).read_text().strip(),
            "secret_keys": keys,
            "database_url": database_url,
            "redis_url": REDIS_URL,
            "redis_prefix": prefix,
            "password_hash_profile": "cheapest",
        }
    )
    with app.app_context():
        from idp import state

        row, _ = verifiers.save(
            None, {"name": "console", "provider": "console", "sender": "Poort"}, {}
        )
        row.confirmed_at = datetime.now(UTC)
        verifiers.set_enabled(row, True)
        verifiers.set_default(row)
        db.session.add_all(
            [
                Authenticator(
                    name="password", method="password", title="Password", enabled=True,
                    position=1, options={},
                ),
                Authenticator(
                    name="sms", method="sms", title="Text message", enabled=True, position=2,
                    options={"verifier": "", "use_for": "both", "allow_signup": True,
                             "unknown_numbers": "silent", "countries": ""},
                ),
                User(
                    nickname="Known", username="known", email="known@example.org",
                    phone=KNOWN, phone_verified_at=datetime.now(UTC),
                    password_hash=state.current().passwords.hash(PASSWORD),
                ),
            ]
        )  # fmt: skip
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="module")
def cluster(services: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("two-nodes")
    prefix = f"poort-e2e-{secrets.token_hex(4)}:"
    outbox = root / "outbox.jsonl"
    a = Node("A", root / "a" / "instance", _free_port(), root / "a.log")
    b = Node("B", root / "b" / "instance", _free_port(), root / "b.log")
    # The keys are made once and copied to every node, as an operator does.
    ensure_instance(a.instance)
    b.instance.mkdir(parents=True)
    for name in (SECRET_KEY_FILE, KEYS_FILE):
        shutil.copy2(a.instance / name, b.instance / name)
    for node in (a, b):
        (node.instance / "sms-outbox.jsonl").symlink_to(outbox)

    with throwaway_postgres(POSTGRES) as database_url:
        environ = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("IDP_") and key not in (*SERVING_VARIABLES, "DATABASE_URL")
        }
        environ.update(
            {
                "DATABASE_URL": database_url,
                "IDP_DEV": "1",  # plain http on loopback, so the cookie jar sends the cookie
                "IDP_ISSUER": ISSUER,
                "IDP_REDIS_URL": REDIS_URL,
                "IDP_REDIS_PREFIX": prefix,
                "IDP_PASSWORD_HASH_PROFILE": "cheapest",
                "IDP_CODE_RESEND_SECONDS": "1",
                "IDP_HUMAN_CHECK": "off",
            }
        )
        cluster = Cluster(a, b, outbox, environ)
        migrated = cluster.poort(a, "db", "upgrade")
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        _seed(cluster, database_url, prefix)
        limits = cluster.poort(
            a,
            "limits",
            "set",
            "number_per_hour=2",
            "number_cooldown_seconds=0",
            f"failures_before_wait={FAILURES_BEFORE_WAIT}",
        )
        assert limits.returncode == 0, limits.stdout + limits.stderr
        try:
            _start(cluster, a)
            _start(cluster, b)
            _wait_ready(a)
            _wait_ready(b)
            yield cluster
        finally:
            try:
                for node in (a, b):
                    _stop(node)
            finally:
                for node in (a, b):
                    if node.process is not None and node.process.poll() is None:
                        node.process.kill()
                        node.process.wait(timeout=WAIT)
                _forget_redis_keys(prefix)
    for node in (a, b):
        assert node.process is not None and node.process.returncode == 0, node.output()
        assert "Traceback" not in node.output(), node.output()


def _forget_redis_keys(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


# -- a browser --------------------------------------------------------------------------------


class Browser:
    """One cookie jar, any node: cookies are per host, not per port, as in a browser behind
    a load balancer that sends each request wherever it likes."""

    def __init__(self) -> None:
        self.http = requests.Session()

    def get(self, node: Node, path: str) -> requests.Response:
        return self.http.get(node.url + path, allow_redirects=False, timeout=WAIT)

    def post(
        self, node: Node, path: str, data: dict[str, str], page: str = "/login"
    ) -> requests.Response:
        """POST *data* to *path* with the CSRF token from *page*, both on *node*."""
        shown = self.get(node, page)
        assert shown.status_code == 200, (page, shown.status_code, shown.text[:500])
        token = CSRF.search(shown.text)
        assert token, f"no CSRF token on {page}"
        return self.http.post(
            node.url + path,
            data={"csrf_token": token.group(1), **data},
            allow_redirects=False,
            timeout=WAIT,
        )

    def send_code(self, node: Node, phone: str) -> requests.Response:
        return self.post(node, "/m/sms/sms/login", {"phone": phone})

    def enter_code(self, node: Node, code: str) -> requests.Response:
        page = "/m/sms/sms/login/code"
        return self.post(node, page, {"code": code}, page=page)

    def password(self, node: Node, password: str) -> requests.Response:
        return self.post(node, "/login/password", {"login": "known", "password": password})


def _wrong(code: str) -> str:
    return "".join(str((int(digit) + 1) % 10) for digit in code)


def _after_cooldown() -> None:
    """One code per number and purpose per code_resend_seconds (1 s here)."""
    time.sleep(1.1)


# -- the story ----------------------------------------------------------------------------------
# The tests share the cluster and run in file order; each uses its own numbers or waits out
# what the one before left behind.


def test_a_login_started_on_one_node_finishes_on_the_other(cluster: Cluster) -> None:
    browser = Browser()

    sent = browser.send_code(cluster.a, KNOWN)
    assert sent.status_code == 303, sent.text[:2000]
    assert sent.headers["Location"].endswith("/m/sms/sms/login/code")
    [code] = cluster.codes(KNOWN, at_least=1)

    page = browser.get(cluster.b, "/m/sms/sms/login/code")  # B knows the pending code
    assert page.status_code == 200 and "+31*******78" in page.text

    signed_in = browser.enter_code(cluster.b, code)
    assert signed_in.status_code == 303, signed_in.text[:2000]
    assert signed_in.headers["Location"] in ("/", f"{cluster.b.url}/")
    for node in (cluster.b, cluster.a):  # one session row, good on every node
        home = browser.get(node, "/")
        assert home.status_code == 200, (node.name, home.status_code)
        assert "Known" in home.text


def test_the_per_number_send_limit_holds_across_both_nodes(cluster: Cluster) -> None:
    """number_per_hour = 2: one code from A, one from B, then neither sends a third. Each
    try is a new browser, as a pumping script would be (one browser with a code pending
    for the number would just be shown its code page again)."""
    first = Browser().send_code(cluster.a, NEWCOMER)
    assert first.status_code == 303, first.text[:2000]
    _after_cooldown()
    second = Browser().send_code(cluster.b, NEWCOMER)
    assert second.status_code == 303, second.text[:2000]
    _after_cooldown()

    for node in (cluster.a, cluster.b):
        refused = Browser().send_code(node, NEWCOMER)
        assert refused.status_code == 429, (node.name, refused.text[:2000])
        assert int(refused.headers["Retry-After"]) > 0
        assert "Too many codes" in refused.text

    assert len(cluster.codes(NEWCOMER, at_least=2)) == 2


def test_wrong_codes_and_passwords_on_both_nodes_lock_the_account(cluster: Cluster) -> None:
    """failures_before_wait = 3, counted per account in Redis: a wrong code on B, a wrong
    password on A, a wrong code on B, and the account waits, on both nodes, even for the
    right password or the right code."""
    _after_cooldown()  # KNOWN had a code in the first test
    browser = Browser()
    before = len(cluster.codes(KNOWN))
    sent = browser.send_code(cluster.a, KNOWN)
    assert sent.status_code == 303, sent.text[:2000]
    code = cluster.codes(KNOWN, at_least=before + 1)[-1]

    wrong = browser.enter_code(cluster.b, _wrong(code))
    assert wrong.status_code == 400 and "not right" in wrong.text
    wrong = Browser().password(cluster.a, "not the password")
    assert wrong.status_code == 200 and "Too many failed attempts" not in wrong.text
    wrong = browser.enter_code(cluster.b, _wrong(code))
    assert wrong.status_code == 400 and "not right" in wrong.text  # judged: the 3rd failure

    locked = Browser().password(cluster.a, PASSWORD)
    assert locked.status_code == 429, locked.text[:2000]
    assert "Too many failed attempts" in locked.text
    assert int(locked.headers["Retry-After"]) > 0
    locked = browser.enter_code(cluster.b, code)
    assert locked.status_code == 429, locked.text[:2000]
    assert "Too many failed attempts" in locked.text
    assert browser.get(cluster.a, "/").status_code == 302  # nobody signed in
