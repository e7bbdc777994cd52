"""The load generator: concurrent clients against a Poort (or the bare app) on loopback.

It runs in its own process (``python -m bench.load``, a JSON config on standard input, a JSON
result on standard output), so its CPU time and its GIL are not the server's or the
orchestrator's. Each client is a thread with its own ``requests.Session`` (cookie jar and
keep-alive connection). A run stops at whichever comes first: the unit count or the time limit;
every request has a timeout, so a server that hangs shows up as timeouts, never as a stuck run.

It refuses any target that is not on this machine (127.0.0.1, ::1 or localhost).

Scenarios, and what one *unit* of each is:

``bare``
    ``GET /`` of the bare Flask app: one timed request.
``sms-login``
    A full SMS login with a fresh session: ``GET /login`` (untimed, for the cookie and the CSRF
    token), the phone number posted (timed), the code read from the fake gateway, the code
    posted (timed) and answered with 303 to a signed-in page. Every login uses a new number,
    so every login also signs up a new account. Two timed requests.
``password-login``
    ``GET /login`` (untimed), then username and password posted (timed): one timed request.
``token``
    The code-for-token exchange, ``POST /oauth/token`` with PKCE and client_secret_basic,
    answered with an ID token signed by Poort's active key. Authorization codes are prepared
    beforehand in rounds (every client signs in once, then ``GET /oauth/authorize`` per code);
    only the exchanges are timed, and only the exchange phases count as wall time.
``discovery``
    ``GET /.well-known/openid-configuration`` and ``GET /oauth/jwks``: two timed requests.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

from bench.procfs import workers_cpu
from bench.stats import summarise

LOOPBACK_HOST = "127.0.0.1"
LOOPBACK_NAMES = frozenset({"127.0.0.1", "::1", "localhost"})
SCENARIOS = ("bare", "sms-login", "password-login", "token", "discovery")

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
#: Error messages kept per run, to say what went wrong without flooding the report.
SAMPLES = 5
#: Codes prepared per client and round in the token scenario (they live 60 seconds).
TOKEN_ROUND = 25


class NotLoopback(ValueError):
    """A target that is not on this machine: the load generator never sends to it."""


def check_loopback(url: str) -> str:
    """Return *url* when its host is 127.0.0.1, ::1 or localhost; raise NotLoopback otherwise."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise NotLoopback(f"Refusing to load {url!r}: not a valid URL ({exc}).") from exc
    if parts.scheme not in ("http", "https") or host not in LOOPBACK_NAMES:
        raise NotLoopback(
            f"Refusing to load {url!r}: the load generator only sends to http(s) on this "
            f"machine (127.0.0.1, ::1 or localhost), not to {host or 'no host'!r}."
        )
    return url


def phone_number(index: int) -> str:
    """The *index*-th bench number: a valid Dutch mobile number, +3161 and seven digits."""
    if not 0 <= index < 10_000_000:
        raise ValueError(f"phone index {index} is outside the 10 million bench numbers")
    return f"+3161{index:07d}"


@dataclass
class LoadConfig:
    scenario: str
    target: str
    concurrency: int = 8
    #: Units (logins, exchanges, requests; see the module docstring) at most.
    count: int = 1000
    #: Seconds at most; the run stops at whichever limit comes first.
    duration: float = 30.0
    #: Seconds a single request may take before it counts as a timeout.
    timeout: float = 10.0
    fake_sms_url: str | None = None
    sms_authenticator: str = "sms"
    password_authenticator: str = "password"  # noqa: S105 - a name, not a secret
    login: str = ""
    password: str = ""
    client_id: str = ""
    client_secret: str = ""
    redirect_uri: str = ""
    #: First phone-number index of this run; each login takes the next.
    phone_start: int = 0
    #: Return every timed latency too (for runs in chunks whose percentiles are merged).
    return_latencies: bool = False
    #: The gunicorn master on this machine: its workers' CPU time is read from /proc over
    #: exactly the measured part of the run (for the token scenario, the exchange phases).
    server_pid: int | None = None

    def check(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {self.scenario!r}; choose from {SCENARIOS}")
        check_loopback(self.target)
        if self.fake_sms_url:
            check_loopback(self.fake_sms_url)
        if self.scenario == "sms-login" and not self.fake_sms_url:
            raise ValueError("the sms-login scenario needs fake_sms_url")
        if not 1 <= self.concurrency <= 256:
            raise ValueError("concurrency must be within 1..256")
        if self.count < 1 or self.duration <= 0:
            raise ValueError("count and duration must be positive")


@dataclass
class Tally:
    """What one client saw; merged into the run's result at the end."""

    latencies: list[float] = field(default_factory=list)
    #: Every answered request's latency by what it was (timed or not), for the breakdown.
    steps: dict[str, list[float]] = field(default_factory=dict)
    units: int = 0
    ok: int = 0
    shed: int = 0
    timeouts: int = 0
    errors: int = 0
    #: What went wrong, each different message once, with how often.
    samples: dict[str, int] = field(default_factory=dict)

    def merge(self, other: Tally) -> None:
        self.latencies.extend(other.latencies)
        for what, values in other.steps.items():
            self.steps.setdefault(what, []).extend(values)
        self.units += other.units
        self.ok += other.ok
        self.shed += other.shed
        self.timeouts += other.timeouts
        self.errors += other.errors
        for message, count in other.samples.items():
            if message in self.samples or len(self.samples) < SAMPLES:
                self.samples[message] = self.samples.get(message, 0) + count


class Failed(Exception):
    """A request of a unit went wrong (already counted); the unit is abandoned."""


class Client:
    """One simulated user agent: a session, its tally, and the steps of every scenario."""

    def __init__(self, config: LoadConfig) -> None:
        import requests

        self.config = config
        self.http = requests.Session()
        self.http.headers["User-Agent"] = "poort-bench/1"
        self.tally = Tally()
        #: When the run ends (time.monotonic); shed requests are not retried past it.
        self.deadline = time.monotonic() + config.duration
        self._timeout_error = requests.Timeout
        self._request_error = requests.RequestException
        self._fake: Any = None

    # -- requests ----------------------------------------------------------------------------

    def _note(self, kind: str, message: str) -> None:
        setattr(self.tally, kind, getattr(self.tally, kind) + 1)
        message = message[:200]
        if message in self.tally.samples or len(self.tally.samples) < SAMPLES:
            self.tally.samples[message] = self.tally.samples.get(message, 0) + 1

    def request(
        self,
        method: str,
        path: str,
        *,
        timed: bool,
        expect: Callable[[Any], bool],
        what: str,
        **kwargs: Any,
    ) -> Any:
        """One request; counts it (timed ones also by latency) and returns the response.

        A 503 with Retry-After is the server shedding load: the client counts it, waits as
        asked, and sends the request again (a person told "try again in a moment" does so),
        until the run's time is up. Only the answered attempt counts as latency.

        :raises Failed: on a timeout, a connection error, an answer *expect* does not
            accept, or shedding that lasts past the end of the run.
        """
        url = urljoin(self.config.target, path)
        while True:
            started = time.perf_counter()
            try:
                response = self.http.request(
                    method, url, timeout=self.config.timeout, allow_redirects=False, **kwargs
                )
            except self._timeout_error as exc:
                self._note("timeouts", f"{what}: no answer within {self.config.timeout} s")
                raise Failed from exc
            except self._request_error as exc:
                self._note("errors", f"{what}: {type(exc).__name__}: {exc}")
                raise Failed from exc
            elapsed = time.perf_counter() - started
            retry_after = response.headers.get("Retry-After")
            if response.status_code != 503 or not retry_after:
                break
            self.tally.shed += 1
            wait = float(retry_after) if retry_after.isdigit() else 1.0
            if time.monotonic() + wait > self.deadline:
                raise Failed
            time.sleep(wait)
        self.tally.steps.setdefault(what, []).append(elapsed)
        if not expect(response):
            self._note("errors", f"{what}: unexpected {_describe(response)}")
            raise Failed
        if timed:
            self.tally.latencies.append(elapsed)
            self.tally.ok += 1
        return response

    def _csrf_from(self, response: Any) -> str:
        match = _CSRF.search(response.text)
        if not match:
            self._note("errors", "GET /login: no CSRF token on the page")
            raise Failed
        return match.group(1)

    def fresh_login_page(self) -> str:
        """Forget the session (a new browser), open the login page, return its CSRF token."""
        self.http.cookies.clear()
        page = self.request("GET", "/login", timed=False, expect=_status(200), what="GET /login")
        return self._csrf_from(page)

    def read_code(self, phone: str) -> str:
        """The code the fake gateway received for *phone*."""
        import requests

        if self._fake is None:
            self._fake = requests.Session()
        deadline = time.monotonic() + 5
        while True:
            answer = self._fake.get(
                urljoin(self.config.fake_sms_url or "", "/code"),
                params={"phone": phone},
                timeout=self.config.timeout,
            )
            if answer.status_code == 200:
                return answer.text.strip()
            if time.monotonic() > deadline:
                self._note("errors", f"fake gateway: no code arrived for {phone}")
                raise Failed
            time.sleep(0.01)

    # -- scenarios ---------------------------------------------------------------------------

    def bare(self, index: int) -> None:
        self.request("GET", "/", timed=True, expect=_body(200, b"ok"), what="GET /")

    def sms_login(self, index: int) -> None:
        c = self.config
        token = self.fresh_login_page()
        phone = phone_number(c.phone_start + index)
        sent = self.request(
            "POST",
            f"/m/sms/{c.sms_authenticator}/login",
            data={"csrf_token": token, "phone": phone},
            timed=True,
            expect=_redirect(to="/login/code"),
            what="POST phone",
        )
        code = self.read_code(phone)
        self.request(
            "POST",
            sent.headers["Location"],
            data={"csrf_token": token, "code": code},
            timed=True,
            expect=_signed_in,
            what="POST code",
        )

    def password_login(self, index: int) -> None:
        c = self.config
        token = self.fresh_login_page()
        self.request(
            "POST",
            f"/login/{c.password_authenticator}",
            data={"csrf_token": token, "login": c.login, "password": c.password},
            timed=True,
            expect=_signed_in,
            what="POST password",
        )

    def discovery(self, index: int) -> None:
        self.request(
            "GET",
            "/.well-known/openid-configuration",
            timed=True,
            expect=_body(200, b'"jwks_uri"'),
            what="GET discovery",
        )
        self.request(
            "GET", "/oauth/jwks", timed=True, expect=_body(200, b'"keys"'), what="GET jwks"
        )

    def sign_in_with_password(self) -> None:
        self.password_login(-1)
        self.tally.latencies.pop()  # the sign-in prepares the token scenario; it is not timed
        self.tally.ok -= 1

    def authorization_code(self) -> tuple[str, str]:
        """A fresh code for the bench client (the session is signed in), and its verifier."""
        c = self.config
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        response = self.request(
            "GET",
            "/oauth/authorize",
            params={
                "response_type": "code",
                "client_id": c.client_id,
                "redirect_uri": c.redirect_uri,
                "scope": "openid",
                "state": secrets.token_urlsafe(8),
                "nonce": secrets.token_urlsafe(8),
                "code_challenge": challenge.rstrip(b"=").decode(),
                "code_challenge_method": "S256",
            },
            timed=False,
            expect=_redirect(to=c.redirect_uri, status=302),
            what="GET /oauth/authorize",
        )
        query = parse_qs(urlsplit(response.headers["Location"]).query)
        if "code" not in query:
            self._note("errors", f"authorize: no code in {response.headers['Location'][:120]}")
            raise Failed
        return query["code"][0], verifier

    def exchange(self, code: str, verifier: str) -> None:
        c = self.config
        self.request(
            "POST",
            "/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": c.redirect_uri,
                "code_verifier": verifier,
            },
            auth=(c.client_id, c.client_secret),
            timed=True,
            expect=_body(200, b'"id_token"'),
            what="POST /oauth/token",
        )


_TITLE = re.compile(r"<title>\s*(.*?)\s*</title>", re.IGNORECASE | re.DOTALL)


def _describe(response: Any) -> str:
    """An answer in a few words: status, where it redirects, the page title or the text."""
    parts = [f"HTTP {response.status_code}"]
    if response.headers.get("Location"):
        parts.append(f"to {response.headers['Location'][:80]}")
    text = response.text
    title = _TITLE.search(text)
    if title:
        parts.append(f"page {title.group(1)[:80]!r}")
    elif text:
        parts.append(repr(" ".join(text.split())[:80]))
    return " ".join(parts)


def _status(*codes: int) -> Callable[[Any], bool]:
    return lambda response: response.status_code in codes


def _body(status: int, needle: bytes) -> Callable[[Any], bool]:
    return lambda response: response.status_code == status and needle in response.content


def _redirect(to: str, status: int = 303) -> Callable[[Any], bool]:
    def check(response: Any) -> bool:
        location = response.headers.get("Location", "")
        return response.status_code == status and (
            location.startswith(to) or urlsplit(location).path.endswith(to)
        )

    return check


def _signed_in(response: Any) -> bool:
    """303 to somewhere other than a login, second-factor or enrolment page."""
    location = urlsplit(response.headers.get("Location", "")).path
    return response.status_code == 303 and "/login" not in location and "enrol" not in location


# -- running ---------------------------------------------------------------------------------


class _Budget:
    """Hands out unit indexes until the count is spent or the deadline has passed."""

    def __init__(self, count: int, deadline: float) -> None:
        self.count = count
        self.deadline = deadline
        self.next = 0
        self.stopped_by = "count"
        self._lock = threading.Lock()

    def take(self, wanted: int = 1) -> range:
        with self._lock:
            if time.monotonic() >= self.deadline:
                if self.next < self.count:
                    self.stopped_by = "time"
                return range(0)
            start = self.next
            self.next = min(self.count, start + wanted)
            return range(start, self.next)


def _simple_worker(client: Client, budget: _Budget, step: Callable[[int], None]) -> None:
    while True:
        indexes = budget.take()
        if not indexes:
            return
        try:
            step(indexes[0])
        except Failed:
            continue
        client.tally.units += 1


class _Rounds:
    """The token scenario's rounds: every client prepares codes, then every client exchanges
    them. Only the exchange phases count as wall time. The barrier's action runs once per
    phase, so all clients agree on whether another round follows."""

    def __init__(
        self, budget: _Budget, clients: int, barrier_timeout: float, server: _ServerCpu
    ) -> None:
        self.budget = budget
        self.server = server
        self.more = True
        self.taken = 0
        self.total = 0.0
        self._started = 0.0
        self._exchanging = False
        self._lock = threading.Lock()
        self.barrier = threading.Barrier(clients, action=self._turn, timeout=barrier_timeout)

    def took(self, count: int) -> None:
        with self._lock:
            self.taken += count

    def _turn(self) -> None:
        if not self._exchanging:
            self.server.start()
            self._started = time.perf_counter()
        else:
            self.total += time.perf_counter() - self._started
            self.server.stop()
            b = self.budget
            self.more = bool(self.taken) and b.next < b.count and time.monotonic() < b.deadline
            self.taken = 0
        self._exchanging = not self._exchanging


class _ServerCpu:
    """CPU seconds the server's workers spend while the clock runs (None without a pid)."""

    def __init__(self, master: int | None) -> None:
        self.master = master
        self.total: float | None = 0.0 if master else None
        self._at = 0.0

    def start(self) -> None:
        if self.master:
            self._at = workers_cpu(self.master)

    def stop(self) -> None:
        if self.master and self.total is not None:
            self.total += workers_cpu(self.master) - self._at


def _token_worker(client: Client, budget: _Budget, rounds: _Rounds) -> None:
    try:
        client.sign_in_with_password()
        signed_in = True
    except Failed:
        signed_in = False
    while True:
        indexes = budget.take(TOKEN_ROUND) if signed_in else range(0)
        rounds.took(len(indexes))
        codes: list[tuple[str, str]] = []
        for _ in indexes:
            try:
                codes.append(client.authorization_code())
            except Failed:
                continue
        try:
            rounds.barrier.wait()  # all prepared: the clock runs
            for code, verifier in codes:
                try:
                    client.exchange(code, verifier)
                except Failed:
                    continue
                client.tally.units += 1
            rounds.barrier.wait()  # all exchanged: the clock stops
        except threading.BrokenBarrierError:
            return
        if not rounds.more:
            return


def run(config: LoadConfig) -> dict[str, Any]:
    """Run *config* in this process with ``config.concurrency`` client threads."""
    config.check()
    clients = [Client(config) for _ in range(config.concurrency)]
    cpu_before = os.times()
    started = time.perf_counter()
    budget = _Budget(config.count, time.monotonic() + config.duration)
    for client in clients:
        client.deadline = budget.deadline
    server = _ServerCpu(config.server_pid)
    rounds = _Rounds(budget, config.concurrency, config.timeout * (TOKEN_ROUND + 5), server)
    if config.scenario != "token":
        server.start()
    if config.scenario == "token":
        threads = [
            threading.Thread(target=_token_worker, args=(c, budget, rounds)) for c in clients
        ]
    else:
        step = {
            "bare": "bare",
            "sms-login": "sms_login",
            "password-login": "password_login",
            "discovery": "discovery",
        }[config.scenario]
        threads = [
            threading.Thread(target=_simple_worker, args=(c, budget, getattr(c, step)))
            for c in clients
        ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    cpu_after = os.times()
    if config.scenario != "token":
        server.stop()
    if config.scenario == "token":
        wall = rounds.total
    tally = Tally()
    for client in clients:
        tally.merge(client.tally)
    requests_done = len(tally.latencies)
    return {
        "scenario": config.scenario,
        "concurrency": config.concurrency,
        "units": tally.units,
        "requests": requests_done,
        "wall_s": wall,
        "throughput": requests_done / wall if wall else 0.0,
        "units_per_s": tally.units / wall if wall else 0.0,
        **summarise(tally.latencies),
        "ok": tally.ok,
        "shed": tally.shed,
        "timeouts": tally.timeouts,
        "errors": tally.errors,
        "error_samples": tally.samples,
        "stopped_by": budget.stopped_by,
        "client_cpu_s": (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system),
        "server_cpu_s": server.total,
        "steps": {
            what: {"count": len(values), **summarise(values)}
            for what, values in sorted(tally.steps.items())
        },
        "latencies": tally.latencies if config.return_latencies else None,
    }


def run_in_subprocess(config: LoadConfig, python: str | None = None) -> dict[str, Any]:
    """Run *config* in a new load-generator process and return its result."""
    import subprocess

    config.check()  # refuse a non-loopback target before starting anything
    budget = config.duration + config.timeout * 3 + 60
    completed = subprocess.run(  # noqa: S603 - our own module, arguments from our own code
        [python or sys.executable, "-m", "bench.load"],
        input=json.dumps(asdict(config)),
        capture_output=True,
        text=True,
        timeout=budget,
        check=False,
        cwd=_checkout(),
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"the load generator failed (exit {completed.returncode}): "
            f"{completed.stderr.strip()[-2000:]}"
        )
    return json.loads(completed.stdout)


def _checkout() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    config = LoadConfig(**json.loads(sys.stdin.read()))
    try:
        result = run(config)
    except NotLoopback as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from exc
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
