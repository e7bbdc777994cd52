"""Where a request's time goes: SQL statements, commits and CPU per kind of request.

    python -m bench.sqlcount [--database sqlite|postgresql] [--redis-url URL] [--logins 40]

Sets up a throwaway instance exactly as ``python -m bench`` does, then drives Poort's app in
this process through Flask's test client (no gunicorn, no sockets to Poort): SMS logins,
password logins, code-for-token exchanges and discovery. SQLAlchemy's engine events count
the statements and commits of each kind of request; ``time.thread_time`` measures the CPU
the request took in the app itself. It prints a Markdown table. The figures explain the
benchmark's; they are not part of it.
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import hashlib
import os
import re
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bench.fake_sms import FakeSmsGateway
from bench.instance import (
    PASSWORD_AUTHENTICATOR,
    REDIRECT_URI,
    SMS_AUTHENTICATOR,
    USER,
    Instance,
    set_up,
    throwaway_postgres,
)
from bench.load import phone_number
from bench.server import free_port

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Counter:
    """Statements, commits and CPU per kind of request."""

    def __init__(self) -> None:
        self.current = ""
        self.requests: collections.Counter[str] = collections.Counter()
        self.statements: dict[str, collections.Counter[str]] = collections.defaultdict(
            collections.Counter
        )
        self.cpu: collections.Counter[str] = collections.Counter()

    def listen(self, engine: Any) -> None:
        from sqlalchemy import event

        def statement(conn: Any, cursor: Any, text: str, *args: Any) -> None:
            if self.current:
                self.statements[self.current][text.split(None, 1)[0].upper()] += 1

        def commit(conn: Any) -> None:
            if self.current:
                self.statements[self.current]["COMMIT"] += 1

        event.listen(engine, "before_cursor_execute", statement)
        event.listen(engine, "commit", commit)

    @contextlib.contextmanager
    def request(self, what: str, counted: bool) -> Iterator[None]:
        if not counted:
            yield
            return
        self.current = what
        started = time.thread_time()
        try:
            yield
        finally:
            self.cpu[what] += time.thread_time() - started
            self.requests[what] += 1
            self.current = ""

    def table(self) -> str:
        verbs = ["SELECT", "INSERT", "UPDATE", "DELETE", "COMMIT"]
        lines = [
            "| Request | SQL statements | " + " | ".join(verbs) + " | CPU ms in the app |",
            "| --- | --- | " + " | ".join("---" for _ in verbs) + " | --- |",
        ]
        for what, n in self.requests.items():
            counts = self.statements[what]
            total = sum(v for k, v in counts.items() if k != "COMMIT")
            cells = " | ".join(f"{counts[v] / n:.1f}" for v in verbs)
            lines.append(
                f"| {what} | {total / n:.1f} | {cells} | {self.cpu[what] / n * 1000:.1f} |"
            )
        return "\n".join(lines)


class Driver:
    def __init__(self, app: Any, instance: Instance, gateway: FakeSmsGateway) -> None:
        self.app = app
        self.client = app.test_client()
        self.instance = instance
        self.gateway = gateway
        self.counter = Counter()
        self.phone = 5_000_000

    def _call(self, what: str, counted: bool, method: str, path: str, **kw: Any) -> Any:
        with self.counter.request(what, counted):
            response = self.client.open(path, method=method, **kw)
        return response

    def _login_page(self, counted: bool) -> str:
        self.client = self.app.test_client()  # a new browser
        page = self._call("GET /login", counted, "GET", "/login")
        match = _CSRF.search(page.get_data(as_text=True))
        if page.status_code != 200 or not match:
            raise RuntimeError(f"GET /login answered {page.status_code}")
        return match.group(1)

    def sms_login(self, counted: bool) -> None:
        token = self._login_page(counted)
        self.phone += 1
        phone = phone_number(self.phone)
        sent = self._call(
            "POST phone",
            counted,
            "POST",
            f"/m/sms/{SMS_AUTHENTICATOR}/login",
            data={"csrf_token": token, "phone": phone},
        )
        if sent.status_code != 303:
            raise RuntimeError(f"POST phone answered {sent.status_code}")
        done = self._call(
            "POST code",
            counted,
            "POST",
            sent.headers["Location"],
            data={"csrf_token": token, "code": self.gateway.wait_for(phone, 10)},
        )
        if done.status_code != 303 or "/login" in done.headers.get("Location", ""):
            raise RuntimeError(f"POST code answered {done.status_code}")

    def password_login(self, counted: bool) -> None:
        token = self._login_page(counted=False)
        done = self._call(
            "POST password",
            counted,
            "POST",
            f"/login/{PASSWORD_AUTHENTICATOR}",
            data={"csrf_token": token, "login": USER, "password": self.instance.user_password},
        )
        if done.status_code != 303:
            raise RuntimeError(f"POST password answered {done.status_code}")

    def token(self, counted: bool) -> None:
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        found = self._call(
            "GET /oauth/authorize",
            counted,
            "GET",
            "/oauth/authorize",
            query_string={
                "response_type": "code",
                "client_id": self.instance.client_id,
                "redirect_uri": REDIRECT_URI,
                "scope": "openid",
                "state": "s",
                "nonce": "n",
                "code_challenge": challenge.rstrip(b"=").decode(),
                "code_challenge_method": "S256",
            },
        )
        code = parse_qs(urlsplit(found.headers.get("Location", "")).query).get("code")
        if found.status_code != 302 or not code:
            raise RuntimeError(f"GET /oauth/authorize answered {found.status_code}")
        done = self._call(
            "POST /oauth/token",
            counted,
            "POST",
            "/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": code[0],
                "redirect_uri": REDIRECT_URI,
                "code_verifier": verifier,
            },
            auth=(self.instance.client_id, self.instance.client_secret),
        )
        if done.status_code != 200:
            raise RuntimeError(f"POST /oauth/token answered {done.status_code}")

    def discovery(self, counted: bool) -> None:
        self._call("GET discovery", counted, "GET", "/.well-known/openid-configuration")
        self._call("GET jwks", counted, "GET", "/oauth/jwks")


def measure(instance: Instance, gateway: FakeSmsGateway, logins: int) -> str:
    os.environ.update(
        {
            key: value
            for key, value in instance.env().items()
            if key.startswith("IDP_") or key in ("DATABASE_URL", "REDIS_URL")
        }
    )
    from idp import create_app
    from idp.extensions import db

    app = create_app()
    with app.app_context():
        engine = db.engine
    driver = Driver(app, instance, gateway)
    driver.counter.listen(engine)
    for counted in (False, True):  # a warm-up round first
        rounds = logins if counted else 3
        for _ in range(rounds):
            driver.sms_login(counted)
        for _ in range(max(1, rounds // 4)):
            driver.password_login(counted)
        for _ in range(rounds):
            driver.token(counted)
            driver.discovery(counted)
    return driver.counter.table()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sqlcount", description=__doc__)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--logins", type=int, default=40)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="poort-sqlcount-"))
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, work, True)
        gateway = stack.enter_context(FakeSmsGateway())
        if args.database == "postgresql":
            url = stack.enter_context(throwaway_postgres(args.postgres_url))
            url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        else:
            url = f"sqlite:///{work / 'sqlite' / 'poort.sqlite3'}"
        instance = Instance(
            database=args.database,
            path=work / args.database,
            database_url=url,
            port=free_port(),
            admin_password=secrets.token_urlsafe(18),
            user_password=secrets.token_urlsafe(18),
            redis_url=args.redis_url,
        )
        stack.callback(instance.forget_redis_keys)
        set_up(instance, gateway, work / "setup.log")
        table = measure(instance, gateway, args.logins)
    store = "Redis" if args.redis_url else "the database"
    print(f"{args.database}, counters of limits in {store}, {args.logins} SMS logins:\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
