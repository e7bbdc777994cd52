"""Accessibility of the pages people and admins use, on a phone and on a desktop.

axe-core (axe-core@4 from the npm registry) runs inside each page and must report no serious
or critical violation; every finding, minor ones too, is written to
``test-artifacts/axe/<page>-<viewport>.json``. Then the keyboard: Tab from the top of the
page must reach every control, and each must show that it has the focus. And the page must
fit the screen's width (only a wide table may scroll, inside its own box).

One test per screen size walks through all the pages (a visitor's, then an admin's) and lists
every problem of every page at the end. A negative control breaks a page on purpose and
checks that both checks notice.

axe is injected as an inline script, which Poort's Content-Security-Policy (``script-src
'self'``) refuses, so these contexts bypass the policy; the flow tests keep it on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.support import (
    ARTIFACTS,
    axe_violations,
    describe,
    open_admin,
    sign_in,
    tab_through,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def context_options() -> dict[str, Any]:
    return {"bypass_csp": True}


@pytest.fixture
def site(poort, make_authenticator, admin_user):
    """Password, SMS (console verifier, sign-up on) and authenticator-app sign-in; an admin."""
    poort.console_verifier()
    make_authenticator("sms", method="sms", title="Text message", options=poort.sms_options())
    make_authenticator("totp", method="totp", title="Authenticator app")
    return poort


def _login(page: Page, poort) -> None:
    page.goto(poort.at("/login"))
    expect(page.get_by_role("heading", level=1, name="Sign in")).to_be_visible()


def _sms_code(page: Page, poort) -> None:
    _login(page, poort)
    page.get_by_label("Phone number", exact=True).fill("06 12345678")
    page.get_by_role("button", name="Send code").click()
    expect(page.get_by_role("heading", level=1, name="Enter the code")).to_be_visible()


def _account(page: Page, poort) -> None:
    page.get_by_role("navigation", name="Account").get_by_role("link", name="Account").click()
    expect(page.get_by_role("heading", level=1, name="Your account")).to_be_visible()


def _verifier_form(page: Page, poort) -> None:
    open_admin(page, "Verifiers")
    page.get_by_label("SMS provider").select_option("console")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("verifier")
    expect(page.get_by_role("button", name="Save")).to_be_visible()


#: The pages, in the order a visit reaches them: a name and how a person gets there.
VISITOR = [("login", _login), ("sms-code", _sms_code)]
ADMIN = [
    ("account", _account),
    ("admin-dashboard", lambda page, poort: open_admin(page)),
    ("admin-verifiers", lambda page, poort: open_admin(page, "Verifiers")),
    ("admin-users", lambda page, poort: open_admin(page, "Users")),
    ("admin-verifier-form", _verifier_form),
]


def _check(page: Page, name: str, viewport: str, axe_script: Path) -> list[str]:
    """The page's accessibility problems, as lines for the failure message."""
    problems = []
    report = ARTIFACTS / "axe" / f"{name}-{viewport}.json"
    blocking = axe_violations(page, axe_script, report)
    if blocking:
        problems.append(f"{name}: axe-core found serious or critical violations:")
        problems.append(describe(blocking))
    try:
        tab_through(page)
    except AssertionError as exc:
        problems.append(f"{name}: keyboard: {exc}")
    # Reflow: the page fits the screen's width; only a wide table scrolls, inside its box.
    wide = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    if wide > 0:
        problems.append(f"{name}: the page is {wide} px wider than the {viewport} screen")
    return problems


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_pages_are_accessible(
    page: Page, site, viewport: str, axe_script: Path, screenshot
) -> None:
    problems: list[str] = []
    for name, go in VISITOR:
        go(page, site)
        screenshot(name, full_page=False)
        problems += _check(page, name, viewport, axe_script)
    sign_in(page, site, "root")
    for name, go in ADMIN:
        go(page, site)
        screenshot(name, full_page=False)
        problems += _check(page, name, viewport, axe_script)

    assert not problems, "\n".join(problems)


def test_the_checks_notice_a_broken_page(page: Page, site, axe_script: Path) -> None:
    """Negative control: without its label, and without a focus outline, the login page
    fails both checks."""
    _login(page, site)
    page.get_by_text("Phone number", exact=True).evaluate("label => label.remove()")
    page.add_style_tag(content=":focus-visible { outline: none !important; }")

    found = axe_violations(page, axe_script, ARTIFACTS / "axe" / "negative-control.json")
    assert "label" in {v["id"] for v in found}, describe(found)
    with pytest.raises(AssertionError, match="no visible focus indicator"):
        tab_through(page)
