"""Sign-ins from outside, over HTTP, as browsers do them, and a bounded load of them.

::

    driver = Driver(server.url)
    driver.password_sign_in("known", PASSWORD)     # one complete sign-in; True when signed in
    load = Load(driver, count=300, threads=4, within=60).start(); ...; load.join()
    load.statuses                                   # Counter({200: 600, 303: 300})
    load.answers                                    # every (status, Retry-After, path)
    load.stop().join()                              # before count or time ran out
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "correct horse battery staple"
#: Seconds one request may take.
TIMEOUT = 20


@dataclass
class Answer:
    status: int
    retry_after: str | None
    path: str
    content_type: str
    text: str


@dataclass
class Driver:
    """Counts every answer it gets; thread-safe, one cookie jar per sign-in."""

    url: str
    statuses: Counter[int] = field(default_factory=Counter)
    answers: list[Answer] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _note(self, response: requests.Response, path: str) -> requests.Response:
        answer = Answer(
            response.status_code,
            response.headers.get("Retry-After"),
            path,
            response.headers.get("Content-Type", ""),
            response.text[:2000] if response.status_code >= 500 else "",
        )
        with self._lock:
            self.statuses[response.status_code] += 1
            self.answers.append(answer)
        return response

    def get(self, browser: requests.Session, path: str, **kwargs: object) -> requests.Response:
        response = browser.get(self.url + path, allow_redirects=False, timeout=TIMEOUT, **kwargs)  # type: ignore[arg-type]
        return self._note(response, path)

    def post(
        self, browser: requests.Session, path: str, data: dict[str, str], page: str = "/login"
    ) -> requests.Response | None:
        """POST *data* with the CSRF token of *page*; None when the page itself failed."""
        shown = self.get(browser, page)
        token = CSRF.search(shown.text) if shown.status_code == 200 else None
        if token is None:
            return None
        response = browser.post(
            self.url + path,
            data={"csrf_token": token.group(1), **data},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        return self._note(response, path)

    def password_sign_in(self, login: str, password: str = PASSWORD) -> bool:
        """Open /login, sign in with a password, open the start page: True when signed in."""
        with requests.Session() as browser:
            answer = self.post(browser, "/login/password", {"login": login, "password": password})
            if answer is None or answer.status_code != 303:
                return False
            home = self.get(browser, "/")
            return home.status_code == 200

    def sms_sign_in(self, phone: str, read_code: Callable[[str], str | None]) -> bool:
        """Ask for a code for *phone*, read it with *read_code*, enter it: True when signed in."""
        with requests.Session() as browser:
            sent = self.post(browser, "/m/sms/sms/login", {"phone": phone})
            if sent is None or sent.status_code != 303:
                return False
            # The text goes out after the answer (as a person's phone gets it a moment later):
            # wait for it, bounded.
            deadline = time.monotonic() + 10
            while (code := read_code(phone)) is None and time.monotonic() < deadline:
                time.sleep(0.05)
            if code is None:
                return False
            page = "/m/sms/sms/login/code"
            entered = self.post(browser, page, {"code": code}, page=page)
            if entered is None or entered.status_code != 303:
                return False
            return self.get(browser, "/").status_code == 200


class Load:
    """*count* calls of *sign_in* spread over *threads* threads, stopped after *within* s."""

    def __init__(
        self,
        sign_in: Callable[[], bool],
        count: int,
        threads: int = 4,
        within: float = 90,
        pause: float = 0.0,
    ) -> None:
        self.sign_in = sign_in
        self.count = count
        self.within = within
        self.pause = pause
        self.done = 0
        self.succeeded = 0
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._started = 0
        self._stopped = False
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _take(self) -> bool:
        with self._lock:
            if self._stopped or self._started >= self.count or time.monotonic() > self._deadline:
                return False
            self._started += 1
            return True

    def _run(self) -> None:
        while self._take():
            try:
                ok = self.sign_in()
            except requests.RequestException as exc:  # a refused or dropped connection
                ok = False
                with self._lock:
                    self.errors.append(type(exc).__name__)
            with self._lock:
                self.done += 1
                self.succeeded += ok
            if self.pause:
                time.sleep(self.pause)

    def start(self) -> Load:
        self._deadline = time.monotonic() + self.within
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> Load:
        """Start no more sign-ins (those under way finish); join() waits for them."""
        self._stopped = True
        return self

    def wait_for(self, done: int) -> None:
        """Block until *done* sign-ins finished (or the load ended)."""
        while self.done < done and any(t.is_alive() for t in self._threads):
            time.sleep(0.05)

    def join(self) -> Load:
        for thread in self._threads:
            thread.join(timeout=self.within + 30)
        return self
