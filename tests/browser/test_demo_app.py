"""A login from the demo relying app (examples/demo_app), by a browser set to Dutch (nl-NL).

Poort picks Dutch from the browser's Accept-Language (``<html lang="nl">``): the flow must
complete, and ``test_the_login_page_speaks_dutch`` expects the Dutch page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from examples.demo_app import create_demo_app
from idp.cli.demo import register_demo_client
from idp.clock import system_clock
from tests.browser.support import PHONE
from tests.oidc.live import LiveServer

pytestmark = pytest.mark.slow

DUTCH = {"locale": "nl-NL"}
# English until the Dutch catalogue is built (translations/parts/auth.nl.po), Dutch after.
PHONE_LABEL = re.compile(r"^(Phone number|Telefoonnummer)$")


@pytest.fixture
def context_options() -> dict[str, Any]:
    return DUTCH


@pytest.fixture
def demo(poort, make_authenticator, make_user) -> Iterator[str]:
    """Poort with SMS sign-in for Bob, and the demo app registered as `poort demo` does."""
    poort.console_verifier()
    make_authenticator(
        "sms", method="sms", title="Text message", options=poort.sms_options(allow_signup=False)
    )
    make_user(nickname="Bob", username="bob", phone=PHONE, phone_verified_at=system_clock())
    server = LiveServer()
    with poort.app.app_context():
        settings = register_demo_client(Path(poort.app.instance_path), app_url=server.url + "/")
    server.start(create_demo_app(settings))
    yield server.url
    server.stop()


def _language(page: Page) -> str:
    """The page's ``<html lang>``."""
    return str(page.evaluate("() => document.documentElement.lang"))


def test_sign_in_from_the_demo_app_in_dutch(page: Page, poort, demo, screenshot):
    page.goto(demo + "/")
    assert page.evaluate("navigator.language") == "nl-NL"
    page.get_by_role("link", name="Log in with Poort").click()

    expect(page).to_have_url(re.compile(re.escape(poort.at("/login"))))
    expect(page.get_by_text("Demo app")).to_be_visible()  # "sign in to continue to"
    # Poort picks Dutch from the browser's Accept-Language, and the page says so.
    assert _language(page) == "nl"
    screenshot("login")

    phone = page.get_by_label(PHONE_LABEL)
    phone.fill("06 12345678")
    phone.press("Enter")
    expect(page).to_have_url(re.compile(r"/login/code$"))
    page.keyboard.type(poort.last_code(PHONE))  # the code field has the focus
    page.keyboard.press("Enter")

    expect(page).to_have_url(demo + "/")
    expect(page.get_by_text("You are signed in through Poort")).to_be_visible()
    claims = json.loads(page.locator("pre").first.inner_text())
    assert claims["iss"] == poort.url and claims["amr"] == ["sms"]
    screenshot("signed-in")


def test_the_login_page_speaks_dutch(page: Page, poort, demo):
    """The Dutch translations, the core's and the SMS plugin's."""
    page.goto(demo + "/login")
    expect(page).to_have_url(re.compile(re.escape(poort.at("/login"))))
    assert _language(page) == "nl"
    expect(page.get_by_role("heading", level=1)).to_have_text("Inloggen", timeout=1_000)
    expect(page.get_by_label("Telefoonnummer", exact=True)).to_be_visible(timeout=1_000)
