"""Helpers of the browser tests: the live Poort, signing in, the keyboard, axe-core.

Tests find elements by role and label (the accessible names a screen reader announces), never
by CSS structure, so a redesign that keeps the page usable keeps the tests green.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from flask import Flask
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select

from idp.clock import system_clock
from idp.extensions import db
from idp.models import User
from idp.verification import verifiers
from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
PHONE = "+31612345678"
OUTBOX = "sms-outbox.jsonl"
# The console SMS ends with the origin-bound line "@host #code" (WebOTP).
_ORIGIN_LINE = re.compile(r"@(?P<host>[^\s#]+) #(?P<code>\d+)\s*$")
#: Impacts that fail an accessibility test; "minor" and "moderate" ones are only recorded.
BLOCKING = ("serious", "critical")


class Poort:
    """The running Poort, with the few set-up moves and look-ups the browser tests share."""

    def __init__(self, app: Flask, url: str) -> None:
        self.app = app
        self.url = url

    def at(self, path: str) -> str:
        return self.url + path

    def console_verifier(self, name: str = "console") -> None:
        """An enabled, confirmed console verifier marked default."""
        with self.app.app_context():
            row, _ = verifiers.save(
                None, {"name": name, "provider": "console", "sender": "Poort"}, {}
            )
            row.confirmed_at = system_clock()
            verifiers.set_enabled(row, True)
            verifiers.set_default(row)
            db.session.commit()

    @staticmethod
    def sms_options(**overrides: Any) -> dict[str, Any]:
        """Options of an SMS authenticator: the default verifier, sign-up on."""
        return {
            "verifier": "",
            "use_for": "both",
            "allow_signup": True,
            "unknown_numbers": "silent",
            "countries": "",
            **overrides,
        }

    def messages(self) -> list[dict[str, Any]]:
        """Every text message the console provider wrote, oldest first."""
        outbox = Path(self.app.instance_path) / OUTBOX
        if not outbox.exists():
            return []
        return [json.loads(line) for line in outbox.read_text("utf-8").splitlines() if line]

    def last_code(self, to: str = PHONE) -> str:
        """The code in the latest text message to *to*.

        Texts go out just after the answer, as a phone gets them a moment later: wait for one,
        bounded.
        """
        deadline = time.monotonic() + 10
        while not (sent := [m for m in self.messages() if m["to"] == to]):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert sent, f"no text message to {to} in the console outbox"
        match = _ORIGIN_LINE.search(sent[-1]["text"])
        assert match, f"no code in the text message: {sent[-1]['text']!r}"
        return match.group("code")

    def user_by_phone(self, phone: str) -> User | None:
        with self.app.app_context():
            found = db.session.scalar(select(User).where(User.phone == phone))
            if found is not None:
                db.session.expunge(found)
            return found


# -- people ---------------------------------------------------------------------------------


def sign_in(page: Page, poort: Poort, login: str, password: str = PASSWORD) -> None:
    """Sign in with the password authenticator, the way a person fills in the form."""
    page.goto(poort.at("/login"))
    page.get_by_label("Username or e-mail address").fill(login)
    page.get_by_role("textbox", name="Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def open_admin(page: Page, section: str | None = None) -> None:
    """From any signed-in page: the header's Admin link, then a section of the admin menu."""
    page.get_by_role("navigation", name="Account").get_by_role("link", name="Admin").click()
    expect(page.get_by_role("heading", level=1, name="Dashboard")).to_be_visible()
    if section:
        page.get_by_role("navigation", name="Admin").get_by_role("link", name=section).click()
        expect(page.get_by_role("heading", level=1, name=section)).to_be_visible()


# -- the keyboard ---------------------------------------------------------------------------


def is_focused(target: Locator) -> bool:
    return bool(target.evaluate("element => element === document.activeElement"))


def tab_to(page: Page, target: Locator, limit: int = 40) -> None:
    """Press Tab until *target* has the focus; fail after *limit* presses."""
    expect(target).to_be_visible()
    for _ in range(limit):
        if is_focused(target):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{target} not reached with {limit} presses of Tab")


FOCUS_STYLE = """() => {
  const element = document.activeElement;
  if (!element || element === document.body) return null;
  const style = getComputedStyle(element);
  if (!element.dataset.tabStop) element.dataset.tabStop = String(Math.random());
  return {
    key: element.dataset.tabStop,
    tag: element.tagName.toLowerCase(),
    name: (element.getAttribute('aria-label') || element.textContent || element.name || '')
      .trim().slice(0, 60),
    visible: element.matches(':focus-visible'),
    outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0,
    shadow: style.boxShadow !== 'none',
  };
}"""


def focus_indicator(page: Page) -> dict[str, Any] | None:
    """How the focused element shows its focus: ``outline`` or ``shadow`` is true when seen."""
    return page.evaluate(FOCUS_STYLE)


def assert_focus_visible(page: Page) -> None:
    shown = focus_indicator(page)
    assert shown is not None, "nothing has the focus"
    assert shown["visible"], f"{shown} has the focus but does not match :focus-visible"
    assert shown["outline"] or shown["shadow"], f"no visible focus indicator on {shown}"


FOCUSABLE = """() => Array.from(document.querySelectorAll(
    'a[href], button, input:not([type=hidden]), select, textarea, [tabindex]'))
  .filter(e => !e.disabled && e.tabIndex >= 0 && e.getClientRects().length > 0
    && getComputedStyle(e).visibility !== 'hidden')
  .length"""


def tab_through(page: Page) -> list[dict[str, Any]]:
    """Tab through the whole page from the top; every stop must show where the focus is.

    Returns the stops. Fails when a stop has no visible focus indicator, or when fewer stops
    are reached than the page has focusable elements (something only a mouse can reach).
    """
    expected = page.evaluate(FOCUSABLE)
    # Start from the top: focus a mark before everything (out of the tab order), so the next
    # Tab goes to the page's first control whatever had the focus (autofocus, say).
    page.evaluate(
        """() => { const mark = document.createElement('span'); mark.tabIndex = -1;
                   mark.id = 'tab-through-start'; document.body.prepend(mark); mark.focus(); }"""
    )
    stops: list[dict[str, Any]] = []
    seen: set[str] = set()
    for _ in range(expected + 5):
        page.keyboard.press("Tab")
        shown = focus_indicator(page)
        if shown is None:
            break
        if shown["key"] in seen:
            break
        seen.add(shown["key"])
        stops.append(shown)
        assert shown["outline"] or shown["shadow"], f"no visible focus indicator on {shown}"
    page.evaluate("() => document.getElementById('tab-through-start').remove()")
    assert len(stops) >= expected, (
        f"Tab reached {len(stops)} of {expected} focusable elements: "
        + ", ".join(f"{s['tag']} {s['name']!r}" for s in stops)
    )
    return stops


# -- axe-core -------------------------------------------------------------------------------


def axe_violations(page: Page, script: Path, report: Path) -> list[dict[str, Any]]:
    """Run axe-core on the page; write every violation (and what axe could not decide, for a
    person to review) to *report* (JSON) and return the serious and critical violations.

    The context must bypass the Content-Security-Policy: axe is injected as an inline script,
    which Poort's ``script-src 'self'`` rightly refuses."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(script))
    found = page.evaluate(
        """async () => {
          const result = await axe.run(document, {resultTypes: ['violations', 'incomplete']});
          const brief = list => list.map(v => ({
            id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
            nodes: v.nodes.map(n => ({target: n.target, summary: n.failureSummary,
                                      html: n.html.slice(0, 300)})),
          }));
          return {engine: result.testEngine.version, violations: brief(result.violations),
                  incomplete: brief(result.incomplete)};
        }"""
    )
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps({"url": page.url, **found}, indent=2) + "\n")
    return [v for v in found["violations"] if v["impact"] in BLOCKING]


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"[{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:5]:
            lines.append(f"    {' '.join(map(str, node['target']))}: {node['summary']}")
    return "\n".join(lines)
