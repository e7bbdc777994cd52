"""What people do with Poort, in a real browser (Debian's Chromium through Playwright).

Sign-up by phone and password plus authenticator-app sign-in are driven with the keyboard
alone (Tab, typing, Enter); the admin flows use the mouse, finding every control by its role
and accessible name. Each test leaves screenshots in ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import re

import pyotp
import pytest
from playwright.sync_api import Locator, Page, expect

from idp.auth import credentials
from idp.extensions import db
from idp.models import User
from tests.browser.support import (
    PHONE,
    assert_focus_visible,
    open_admin,
    sign_in,
    tab_to,
)
from tests.conftest import PASSWORD

pytestmark = pytest.mark.slow

BOTH = pytest.mark.parametrize("viewport", ["phone", "desktop"])


def status(page: Page, text: str) -> Locator:
    """The status message (a flash) that says *text*."""
    return page.get_by_role("status").filter(has_text=text)


def badge(word: str) -> re.Pattern[str]:
    """A state badge's text, whatever its case."""
    return re.compile(rf"^\s*{word}\s*$", re.IGNORECASE)


def test_sign_up_by_phone_with_the_keyboard(page: Page, poort, make_authenticator, screenshot):
    poort.console_verifier()
    make_authenticator("sms", method="sms", title="Text message", options=poort.sms_options())
    page.goto(poort.at("/login"))
    screenshot("login")

    keys = page.keyboard
    tab_to(page, page.get_by_label("Phone number", exact=True))
    assert_focus_visible(page)
    keys.type("06 12345678")
    keys.press("Enter")

    expect(page.get_by_role("heading", level=1, name="Enter the code")).to_be_visible()
    code_field = page.get_by_label("Code from the text message")
    expect(code_field).to_be_focused()  # autofocus: type at once
    screenshot("code")
    keys.type(poort.last_code(PHONE))
    keys.press("Enter")

    expect(page.get_by_role("heading", level=1)).to_contain_text("Hello")
    expect(page.get_by_text("You are signed in")).to_be_visible()
    screenshot("signed-in")
    user = poort.user_by_phone(PHONE)
    assert user is not None and user.phone_verified_at is not None


def _totp_user(poort, make_user) -> str:
    """A user "alice" (password PASSWORD) with a confirmed authenticator app; its secret."""
    alice = make_user(username="alice", nickname="Alice")
    secret = pyotp.random_base32()
    with poort.app.app_context():
        credential = credentials.begin(
            db.session.get(User, alice.id), "totp", secret, data={"digits": 6}
        )
        credentials.confirm(credential)
        db.session.commit()
    return secret


@BOTH
def test_password_and_totp_with_the_keyboard(
    page: Page, poort, make_authenticator, make_user, screenshot
):
    make_authenticator("totp", method="totp", title="Authenticator app")
    secret = _totp_user(poort, make_user)
    page.goto(poort.at("/login"))
    expect(page.get_by_role("heading", level=1, name="Sign in")).to_be_visible()
    screenshot("login")

    keys = page.keyboard
    tab_to(page, page.get_by_label("Username or e-mail address"))
    assert_focus_visible(page)
    keys.type("alice")
    keys.press("Tab")
    expect(page.get_by_role("textbox", name="Password", exact=True)).to_be_focused()
    keys.type(PASSWORD)
    keys.press("Enter")

    expect(page.get_by_role("heading", level=1, name="One more step")).to_be_visible()
    code_field = page.get_by_label("The 6-digit code from your authenticator app")
    expect(code_field).to_be_focused()
    screenshot("second-factor")
    keys.type(pyotp.TOTP(secret).now())
    keys.press("Enter")

    expect(page.get_by_role("heading", level=1, name="Hello, Alice")).to_be_visible()
    # The way on is reachable and shows where the focus is.
    account = page.get_by_role("link", name="Account")
    tab_to(page, account)
    assert_focus_visible(page)
    keys.press("Enter")
    expect(page.get_by_role("heading", level=1, name="Your account")).to_be_visible()
    screenshot("account")


def test_admin_creates_and_confirms_a_verifier(page: Page, poort, admin_user, screenshot):
    sign_in(page, poort, "root")
    open_admin(page, "Verifiers")
    expect(page.get_by_text("No verifiers yet")).to_be_visible()

    page.get_by_label("SMS provider").select_option("console")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("verifier")
    page.get_by_label("Name", exact=True).fill("console-nl")
    page.get_by_label("Description").fill("Demo texts")
    page.get_by_label("Sender").fill("Poort")
    page.get_by_label("Price per segment").fill("0.056")
    page.get_by_label("Currency").fill("EUR")
    screenshot("form")
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Send a test code through console-nl")
    page.get_by_label("Phone number").fill("06 12345678")
    page.get_by_role("button", name="Send test code").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Type the test code of console-nl")
    page.get_by_label("Code from the text message").fill(poort.last_code(PHONE))
    page.get_by_role("button", name="Confirm verifier").click()

    expect(page.get_by_role("heading", level=1, name="Verifiers")).to_be_visible()
    expect(status(page, "confirmed")).to_be_visible()
    page.get_by_role("button", name="Enable console-nl").click()
    expect(status(page, "console-nl is now enabled")).to_be_visible()
    row = page.get_by_role("row").filter(has=page.get_by_text("console-nl", exact=True))
    expect(row.get_by_text(badge("enabled"))).to_be_visible()
    expect(row.get_by_text(badge("confirmed"))).to_be_visible()
    expect(row.get_by_role("button", name="Disable console-nl")).to_be_visible()
    screenshot("enabled")


@BOTH
def test_admin_enables_sms_and_the_login_page_shows_it(page: Page, poort, admin_user, screenshot):
    poort.console_verifier()
    page.goto(poort.at("/login"))
    expect(page.get_by_role("heading", level=1, name="Sign in")).to_be_visible()
    expect(page.get_by_label("Phone number", exact=True)).to_have_count(0)

    sign_in(page, poort, "root")
    open_admin(page)
    screenshot("dashboard")
    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Authenticators").click()
    page.get_by_label("Method").select_option("sms")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Text message")
    page.get_by_label("Name", exact=True).fill("phone")
    page.get_by_label("Title on the login page").fill("Text message")
    page.get_by_label("Register unknown numbers (sign-up)").check()
    page.get_by_role("button", name="Save").click()

    expect(status(page, "Authenticator phone created")).to_be_visible()
    row = page.get_by_role("row").filter(has=page.get_by_text("phone", exact=True))
    expect(row.get_by_text(badge("disabled"))).to_be_visible()
    page.get_by_role("button", name="Enable Text message").click()
    expect(row.get_by_text(badge("enabled"))).to_be_visible()
    expect(page.get_by_role("button", name="Disable Text message")).to_be_visible()
    screenshot("authenticators")

    page.get_by_role("button", name="Sign out").click()
    page.goto(poort.at("/login"))
    expect(page.get_by_role("heading", level=2, name="Text message")).to_be_visible()
    expect(page.get_by_label("Phone number", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Send code")).to_be_visible()
    screenshot("login")


@pytest.mark.parametrize("viewport", ["desktop"])
def test_skip_link_jumps_past_the_menus(page: Page, poort, admin_user, screenshot):
    """The first Tab shows "Skip to content"; Enter on it, and the next Tab is in the page's
    own content, past the header and, in the admin panel, past the admin menu."""
    sign_in(page, poort, "root")
    open_admin(page)
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).not_to_be_in_viewport()  # out of sight until the keyboard reaches it
    keys = page.keyboard
    keys.press("Tab")

    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    assert_focus_visible(page)
    screenshot("skip-link", full_page=False)
    keys.press("Enter")
    keys.press("Tab")

    menu = page.get_by_role("navigation", name="Admin")
    assert not menu.evaluate("menu => menu.contains(document.activeElement)")
    assert page.get_by_role("main").evaluate("main => main.contains(document.activeElement)")
    assert_focus_visible(page)
