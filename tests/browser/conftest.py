"""Fixtures of the browser tests: a live Poort, Debian's Chromium driven by Playwright, axe-core.

Poort runs in a thread on 127.0.0.1 (plain http, dev mode) with a fresh database per test and
the console SMS provider, whose outbox file the tests read codes from. Chromium is Debian's
``/usr/bin/chromium``, never a browser that Playwright downloads. Every test gets its own
browser context, a phone (390 x 844) by default; a test that wants the desktop too
parametrizes ``viewport``. Screenshots go to ``test-artifacts/screenshots/``.

The suite is skipped when ``/usr/bin/chromium`` is missing, unless ``POORT_REQUIRE_BROWSER``
is set (CI sets it): then a missing browser fails every test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from idp.clock import system_clock
from idp.models import Authenticator, User
from idp.plugins import Registry, from_classes
from idp_password import PasswordMethod
from idp_sms import SmsMethod
from idp_sms_providers.console import ConsoleProvider
from idp_totp import TotpMethod
from tests.browser.support import ARTIFACTS, SCREENSHOTS, Poort
from tests.oidc.live import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
REQUIRED = bool(os.environ.get("POORT_REQUIRE_BROWSER"))
#: Every wait is bounded: a step that takes longer than this fails.
TIMEOUT_MS = 10_000
VIEWPORTS: dict[str, dict[str, Any]] = {
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
    "desktop": {"viewport": {"width": 1280, "height": 800}},
}

expect.set_options(timeout=TIMEOUT_MS)


def _missing(what: str) -> None:
    if REQUIRED:
        pytest.fail(f"POORT_REQUIRE_BROWSER is set, but {what}", pytrace=False)
    pytest.skip(what)


# -- the browser ----------------------------------------------------------------------------


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, shared by the browser tests (contexts keep them apart) and
    closed, with Playwright's event loop, before the rest of the suite goes on."""
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is missing: apt-get install chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox"],  # the tests run as root in CI
            timeout=30_000,
        )
        yield launched
        launched.close()


@pytest.fixture
def viewport() -> str:
    """The screen a test runs on; parametrize it to run a test on ``desktop`` too."""
    return "phone"


@pytest.fixture
def context_options() -> dict[str, Any]:
    """Extra ``new_context`` options (``locale``, ``bypass_csp``); override per test."""
    return {}


@pytest.fixture
def context(
    browser: Browser, viewport: str, context_options: dict[str, Any]
) -> Iterator[BrowserContext]:
    ctx = browser.new_context(**{**VIEWPORTS[viewport], **context_options})
    ctx.set_default_timeout(TIMEOUT_MS)
    ctx.set_default_navigation_timeout(TIMEOUT_MS)
    yield ctx
    ctx.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, so fixtures can tell that the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(context: BrowserContext, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A tab. The test fails on a script error or a Content-Security-Policy violation; a failed
    test leaves a screenshot in ``test-artifacts/screenshots/failed/``."""
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    tab.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}")
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    yield tab
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed and not tab.is_closed():
        failed = SCREENSHOTS / "failed"
        failed.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^\w.-]+", "_", request.node.name)
        tab.screenshot(path=failed / f"{safe}.png", full_page=True)
    assert not problems, "\n".join(problems)


@pytest.fixture
def screenshot(page: Page, request: pytest.FixtureRequest, viewport: str) -> Callable[..., Path]:
    """``screenshot("label")`` saves ``<test>-<label>-<viewport>.png`` in the screenshots
    folder."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    test = request.node.originalname

    def shoot(label: str = "", *, full_page: bool = True) -> Path:
        name = "-".join(part for part in (test, label, viewport) if part)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=path, full_page=full_page)
        return path

    return shoot


# -- axe-core -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def axe_script() -> Path:
    """``axe.min.js`` of axe-core 4 from the npm registry, installed once into
    ``test-artifacts/npm`` and reused by later runs."""
    folder = ARTIFACTS / "npm"
    script = folder / "node_modules" / "axe-core" / "axe.min.js"
    if script.exists():
        return script
    npm = shutil.which("npm")
    if npm is None:
        _missing("npm is not installed: axe-core cannot be fetched")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "package.json").write_text('{"name": "poort-browser-tests", "private": true}\n')
    done = subprocess.run(
        [str(npm), "install", "--no-audit", "--no-fund", "--loglevel=error", "axe-core@4"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"npm install axe-core@4 failed:\n{done.stderr}"
    assert script.exists(), f"npm installed axe-core without {script.name}"
    return script


# -- Poort, live ----------------------------------------------------------------------------


@pytest.fixture
def clock():
    """Real time: cookies, sessions and TOTP codes meet a real browser."""
    return system_clock


@pytest.fixture
def registry() -> Registry:
    return from_classes(PasswordMethod, SmsMethod, TotpMethod, ConsoleProvider)


@pytest.fixture
def poort_server() -> Iterator[LiveServer]:
    server = LiveServer()
    yield server
    server.stop()


@pytest.fixture
def app_config(app_config: dict[str, Any], poort_server: LiveServer) -> dict[str, Any]:
    return {**app_config, "dev": True, "issuer": poort_server.url}


@pytest.fixture
def poort(
    app: Flask, poort_server: LiveServer, make_authenticator: Callable[..., Authenticator]
) -> Poort:
    """Poort serving on 127.0.0.1 with the password authenticator enabled. Add rows to the
    database through ``poort.app`` before the browser needs them."""
    make_authenticator("password")
    poort_server.start(app)
    return Poort(app, poort_server.url)


@pytest.fixture
def admin_user(make_user: Callable[..., User]) -> User:
    """An admin who signs in as "root" with PASSWORD."""
    return make_user(username="root", email="root@example.org", nickname="Root", is_admin=True)
