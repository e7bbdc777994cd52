"""The admin dashboard (issue 9): today's sign-ins by method, codes sent and verified, failed
sends and spend; charts of the last 14 days; verifier health; the open alerts."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask

from idp.abuse import limits
from idp.extensions import db
from idp.plugins import Registry, from_classes
from idp_password import PasswordMethod
from idp_sms import SmsMethod
from idp_sms_providers.console import ConsoleProvider
from tests.admin.sms_support import add_entry
from tests.conftest import csrf_token, password_login
from tests.fakes.clock import FakeClock
from tests.plugins.idp_sms.support import body, last_code
from tests.sms_setup import add_sms_authenticator, add_verifier

KNOWN = "+31612345678"
SECOND = "+31611111111"
STRANGER = "+31687654321"


@pytest.fixture
def registry() -> Registry:
    return from_classes(PasswordMethod, SmsMethod, ConsoleProvider)


@pytest.fixture
def clock() -> FakeClock:
    """Two days before "today" (2026-01-05, UTC), so a test can live through three days."""
    return FakeClock(datetime(2026, 1, 3, 10, 0, tzinfo=UTC))


@pytest.fixture
def sms(app: Flask, clock: FakeClock, make_authenticator: Any) -> None:
    """A console verifier and an SMS authenticator; unknown numbers silently get no code."""
    add_verifier(app, clock, "console", "console", default=True)
    add_sms_authenticator(make_authenticator, allow_signup=False)


def browser(app: Flask, ip: str) -> Any:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    return client


def ask_code(app: Flask, phone: str, ip: str) -> Any:
    client = browser(app, ip)
    response = client.post(
        "/m/sms/sms/login", data={"csrf_token": csrf_token(client, "/login"), "phone": phone}
    )
    response.close()  # the text goes out once the answer is sent
    assert response.status_code == 303, body(response)
    return client


def type_code(client: Any, code: str) -> Any:
    page = "/m/sms/sms/login/code"
    return client.post(page, data={"csrf_token": csrf_token(client, page), "code": code})


def sms_login(app: Flask, phone: str, ip: str) -> None:
    client = ask_code(app, phone, ip)
    assert type_code(client, last_code(app, phone)).status_code == 303


def admin_page(app: Flask) -> str:
    client = app.test_client()
    assert password_login(client, "root").status_code == 303
    return body(client.get("/admin/"))


def stats(page: str) -> dict[str, int]:
    found = re.findall(r'<div class="stat"><strong>(\d+)</strong> ([^<(]+)', page)
    return {label.strip(): int(number) for number, label in found}


def method_rows(page: str) -> dict[str, tuple[int, int]]:
    """The "sign-ins today by method" table: label -> (succeeded, failed)."""
    table = page.split("Sign-ins today by method", 1)[1].split("</table>", 1)[0]
    rows = re.findall(
        r'<th scope="row"><span dir="auto">([^<]+)</span>.*?</th>\s*'
        r'<td class="num">(\d+)</td><td class="num">(\d+)</td>',
        table,
        re.S,
    )
    return {label: (int(ok), int(failed)) for label, ok, failed in rows}


def figure(page: str, figure_id: str) -> ET.Element:
    match = re.search(rf'<figure class="chart[^"]*" id="{figure_id}">.*?</figure>', page, re.S)
    assert match, f"no figure {figure_id}"
    return ET.fromstring(match.group())  # noqa: S314 - our own page, in a test


def svg_label(page: str, figure_id: str) -> str:
    svg = figure(page, figure_id).find("{http://www.w3.org/2000/svg}svg")
    assert svg is not None and svg.get("role") == "img"
    return str(svg.get("aria-label"))


@pytest.fixture
def busy_days(app, admin, sms, make_user, clock):
    """Sign-ins and codes over three UTC days; the clock ends on 2026-01-05 at 11:00."""
    make_user(username="alice", nickname="Alice")
    make_user(nickname="Known", phone=KNOWN, phone_verified_at=clock())
    make_user(nickname="Second", phone=SECOND, phone_verified_at=clock())
    # 2026-01-03: one SMS sign-in, one code never typed in.
    sms_login(app, KNOWN, "198.51.100.1")
    ask_code(app, SECOND, "198.51.100.2")
    # 2026-01-04: two SMS sign-ins, a password sign-in (not today: not counted below).
    clock.advance(days=1)
    sms_login(app, KNOWN, "198.51.100.3")
    sms_login(app, SECOND, "198.51.100.4")
    password_login(browser(app, "198.51.100.5"), "alice")
    # 2026-01-05 (today): just after midnight a code typed in that was sent a minute before.
    clock.now = datetime(2026, 1, 4, 23, 59, tzinfo=UTC)
    late = ask_code(app, KNOWN, "198.51.100.6")
    clock.now = datetime(2026, 1, 5, 0, 1, tzinfo=UTC)
    assert type_code(late, last_code(app, KNOWN)).status_code == 303
    clock.now = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    sms_login(app, SECOND, "198.51.100.7")
    ask_code(app, STRANGER, "198.51.100.8")  # no account: withheld, never sent
    wrong = ask_code(app, KNOWN, "198.51.100.9")
    assert type_code(wrong, "000000").status_code == 400
    password_login(browser(app, "198.51.100.10"), "alice")
    password_login(browser(app, "198.51.100.11"), "alice", "wrong password")
    add_entry(
        app,
        verifier_name="backup",
        status="failed",
        cost=Decimal("0"),
        created_at=clock(),
    )
    clock.advance(hours=1)


@pytest.mark.usefixtures("busy_days")
def test_the_dashboard_shows_todays_numbers_by_method(app):
    page = admin_page(app)

    shown = stats(page)
    # Today: SMS sign-ins of SECOND and (after midnight) KNOWN, alice by password, and the
    # admin who opened this page; failures: a wrong code and a wrong password.
    assert shown["sign-ins today"] == 4
    assert shown["failed sign-ins today"] == 2
    assert shown["codes verified today"] == 2  # the one sent before midnight counts today
    assert shown["failed sends today"] == 1
    # Text messages accepted today: SECOND's and the wrong-code one (the late one was sent
    # yesterday; the stranger's was withheld; the failed row is no message).
    assert '<strong>2</strong> <a href="/admin/sms-log">text messages</a> today' in page
    assert method_rows(page) == {"Text message": (2, 1), "Password": (2, 1)}
    assert "Today (2026-01-05, UTC)" in page


@pytest.mark.usefixtures("busy_days")
def test_the_charts_sum_up_the_last_fourteen_days(app):
    page = admin_page(app)

    sms_label = svg_label(page, "chart-sms")
    # Accepted messages: 2 on the 3rd, 3 on the 4th (the late one included), 2 today.
    assert "7 in 14 days (23 Dec to 5 Jan)" in sms_label
    assert "console: 7." in sms_label
    rate_label = svg_label(page, "chart-rate")
    # Codes sent (withheld and admin test codes left out): 2, 3, 2; verified: 1, 3, 1.
    assert "5 of 7 codes verified in 14 days (71 %)" in rate_label
    assert "lowest 50 % on 3 Jan" in rate_label
    bars = figure(page, "chart-sms").findall(".//{http://www.w3.org/2000/svg}rect[@class]")
    assert len([bar for bar in bars if bar.get("class") == "chart-bar"]) == 3
    legend = figure(page, "chart-sms").find(".//ul[@class='chart-legend']")
    assert legend is not None and "console" in "".join(legend.itertext())
    table = figure(page, "chart-rate").find(".//table")
    assert table is not None
    assert [cell.text for cell in table.findall("./tfoot/tr/td")] == ["7", "5", "71 %"]


@pytest.mark.usefixtures("busy_days")
def test_verifier_health_shows_the_last_hour(app, clock):
    clock.advance(minutes=-30)  # the failed "backup" attempt at 10:00 is 30 minutes old
    page = admin_page(app)

    health = page.split('id="health-heading"', 1)[1].split("</table>", 1)[0]
    assert '<span dir="auto">backup</span> <span class="badge off">deleted</span>' in health
    assert "0 % ok" in health and "0 of 1" in health
    assert '<span dir="auto">console</span>' in health


def test_a_quiet_dashboard_says_so(app, admin):
    page = admin_page(app)

    assert "No data yet: no text messages in the last 14 days." in page
    assert "No data yet: no codes sent in the last 14 days." in page
    assert "Nothing needs attention" in page
    assert "No verifier is enabled." in page
    assert method_rows(page) == {"Password": (1, 0)}  # the admin, signing in to look


def test_a_spent_budget_shows_in_the_alerts(app, admin, sms, make_user, clock):
    make_user(nickname="Known", phone=KNOWN, phone_verified_at=clock())
    with app.app_context(), app.test_request_context():
        parsed, errors = limits.parse({"global_per_hour": 1})
        assert not errors
        limits.save(parsed)
        db.session.commit()
    ask_code(app, KNOWN, "198.51.100.1")

    page = admin_page(app)

    alerts = page.split('id="alerts-heading"', 1)[1].split("</section>", 1)[0]
    assert "The global budget is spent: 1 of 1 codes this hour." in alerts
    assert "<strong>Global budget:</strong>" in alerts
    assert "Nothing needs attention" not in page
    # Listed once: the layout's banner is not repeated above it.
    assert page.count("The global budget is spent") == 1


def test_the_dashboard_speaks_dutch(app, admin):
    client = app.test_client()
    password_login(client, "root")
    client.post("/language", data={"csrf_token": csrf_token(client, "/admin/"), "lang": "nl"})

    page = body(client.get("/admin/"))

    assert "keer ingelogd vandaag" in page
    assert "Nog geen gegevens" in page
