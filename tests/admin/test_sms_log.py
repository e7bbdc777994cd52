"""The message log in the admin panel: filters, totals, CSV export, provider health."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from idp.plugins import from_classes
from idp.sms.errors import SmsTemporaryError
from idp.verification import dispatch
from idp.verification.resolution import resolve
from idp_password import PasswordMethod
from idp_sms_providers.console import ConsoleProvider
from tests.admin.sms_support import (
    PHONE,
    SECRET,
    add_entry,
    confirm,
    console_outbox,
    create,
    fake_provider_class,
    log_entries,
    post,
)

OTHER = "+31687654321"


@pytest.fixture
def fake():
    return fake_provider_class()


@pytest.fixture
def registry(fake):
    return from_classes(PasswordMethod, ConsoleProvider, fake)


def at(day: int, hour: int = 9, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, second, tzinfo=UTC)


@pytest.fixture
def rows(app):
    """Four attempts over three UTC days (the clock stands at 2026-01-05 09:00)."""
    add_entry(app, created_at=at(3, 10), verifier_name="alpha", purpose="login", status="accepted")
    add_entry(
        app,
        created_at=at(4, 23, 59, 59),
        verifier_name="beta",
        purpose="signup",
        status="failed",
        segments=2,
        cost=Decimal("0"),
        phone=OTHER,
        raw_code="203",
        raw_meaning="insufficient credits",
        error_class="sms_configuration",
    )
    add_entry(
        app,
        created_at=at(5, 0),
        verifier_name="alpha",
        purpose="second_factor",
        status="delivered",
        segments=2,
        cost=Decimal("0.112"),
    )
    add_entry(
        app,
        created_at=at(5, 8),
        verifier_name="beta",
        purpose="login",
        status="undelivered",
        cost=Decimal("0.05"),
        currency="USD",
        phone=OTHER,
    )


def body(response) -> str:
    return response.get_data(as_text=True)


_WHEN = re.compile(r'<time datetime="(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)Z">')


def listed(page: str) -> list[str]:
    """The times of the rows in the table, as "YYYY-MM-DD HH:MM:SS"."""
    return [f"{day} {time}" for day, time in _WHEN.findall(page)]


@pytest.mark.usefixtures("rows")
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            {},
            [
                "2026-01-05 08:00:00",
                "2026-01-05 00:00:00",
                "2026-01-04 23:59:59",
                "2026-01-03 10:00:00",
            ],
        ),
        ({"from": "2026-01-04", "to": "2026-01-04"}, ["2026-01-04 23:59:59"]),
        ({"from": "2026-01-05"}, ["2026-01-05 08:00:00", "2026-01-05 00:00:00"]),
        ({"to": "2026-01-03"}, ["2026-01-03 10:00:00"]),
        ({"verifier": "beta"}, ["2026-01-05 08:00:00", "2026-01-04 23:59:59"]),
        ({"status": "delivered"}, ["2026-01-05 00:00:00"]),
        ({"status": "failed"}, ["2026-01-04 23:59:59"]),
        ({"purpose": "login"}, ["2026-01-05 08:00:00", "2026-01-03 10:00:00"]),
        ({"recipient": "06-1234 5678"}, ["2026-01-05 00:00:00", "2026-01-03 10:00:00"]),
        ({"recipient": "+31 (0)6 87654321"}, ["2026-01-05 08:00:00", "2026-01-04 23:59:59"]),
        ({"recipient": "0031687654321", "purpose": "login"}, ["2026-01-05 08:00:00"]),
        ({"verifier": "alpha", "from": "2026-01-05", "status": "accepted"}, []),
    ],
)
def test_filters(admin_client, query, expected):
    response = admin_client.get("/admin/sms-log", query_string=query)

    assert response.status_code == 200
    assert listed(body(response)) == expected
    attempts = "attempt" if len(expected) == 1 else "attempts"
    assert f"{len(expected)} {attempts}, newest first" in body(response)


@pytest.mark.usefixtures("rows")
def test_links_carry_the_recipient_as_its_hash_not_the_number(admin_client):
    page = body(admin_client.get("/admin/sms-log", query_string={"recipient": "06-1234 5678"}))
    link = re.search(r'href="(/admin/sms-log\.csv\?[^"]*)"', page).group(1).replace("&amp;", "&")
    assert "rh=" in link and "recipient" not in link and "612345678" not in link

    records = read_csv(admin_client.get(link))
    assert [r["time_utc"] for r in records] == ["2026-01-05T00:00:00Z", "2026-01-03T10:00:00Z"]

    rh = re.search(r"rh=([0-9a-f]{64})", link).group(1)
    again = body(admin_client.get("/admin/sms-log", query_string={"rh": rh}))
    assert listed(again) == ["2026-01-05 00:00:00", "2026-01-03 10:00:00"]
    assert "Showing messages to +31*******78" in again

    damaged = admin_client.get("/admin/sms-log", query_string={"rh": "nothex"})
    assert damaged.status_code == 400
    assert "This recipient search link is damaged" in body(damaged)


@pytest.mark.usefixtures("rows")
def test_the_table_shows_masked_numbers_only(admin_client):
    page = body(admin_client.get("/admin/sms-log"))
    assert "+31*******78" in page and "+31*******21" in page
    assert PHONE not in page and OTHER not in page
    assert "612345678" not in page
    assert "insufficient credits" in page and "sms_configuration" in page


@pytest.mark.usefixtures("rows")
@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"from": "5 january"}, "from", "YYYY-MM-DD"),
        ({"to": "2026-13-01"}, "to", "YYYY-MM-DD"),
        ({"from": "2026-01-05", "to": "2026-01-04"}, "to", "before the start date"),
        ({"status": "lost"}, "status", "Choose one of"),
        ({"recipient": "call me"}, "recipient", "only digits"),
        ({"recipient": "+31 6 1"}, "recipient", "phone number"),
    ],
)
def test_bad_filters_are_named(admin_client, query, field, message):
    response = admin_client.get("/admin/sms-log", query_string=query)

    assert response.status_code == 400
    assert f'id="{field}-error"' in body(response)
    assert message in body(response)
    csv_response = admin_client.get("/admin/sms-log.csv", query_string=query)
    assert csv_response.status_code == 400


def test_newest_first_and_paginated_keeping_the_filter(app, admin_client, clock):
    for minute in range(55):
        add_entry(app, created_at=clock() - timedelta(minutes=minute))
    add_entry(app, created_at=clock(), status="failed")

    first = body(admin_client.get("/admin/sms-log", query_string={"status": "accepted"}))
    assert len(listed(first)) == 50
    assert listed(first)[0] == "2026-01-05 09:00:00"
    assert listed(first) == sorted(listed(first), reverse=True)
    assert "Page 1 of 2" in first
    match = re.search(r'href="(/admin/sms-log\?[^"]*page=2[^"]*)"', first)
    assert match and "status=accepted" in match.group(1)

    second = body(admin_client.get(match.group(1).replace("&amp;", "&")))
    assert len(listed(second)) == 5
    assert listed(second)[-1] == "2026-01-05 08:06:00"


@pytest.mark.usefixtures("rows")
def test_totals_per_verifier_purpose_and_day(admin_client):
    page = body(admin_client.get("/admin/sms-log")).replace("&nbsp;", " ")

    def section(heading: str) -> str:
        start = page.index(f"<h3>{heading}</h3>")
        return page[start : page.index("</table>", start)]

    def cells(html: str) -> list[list[str]]:
        rows = re.findall(r"<tr><td class=\"nowrap\">(.*?)</td></tr>", html)
        return [re.split(r"</td><td[^>]*>", row) for row in rows]

    assert cells(section("Per verifier")) == [
        ["alpha", "2", "3", "0.1680 EUR", "0"],
        ["beta", "0", "0", "0.0000 EUR", "1"],
        ["beta", "1", "1", "0.0500 USD", "0"],
    ]
    assert cells(section("Per purpose")) == [
        ["login", "1", "1", "0.0560 EUR", "0"],
        ["login", "1", "1", "0.0500 USD", "0"],
        ["second_factor", "1", "2", "0.1120 EUR", "0"],
        ["signup", "0", "0", "0.0000 EUR", "1"],
    ]
    assert cells(section("Per day (UTC)")) == [
        ["2026-01-05", "1", "2", "0.1120 EUR", "0"],
        ["2026-01-05", "1", "1", "0.0500 USD", "0"],
        ["2026-01-04", "0", "0", "0.0000 EUR", "1"],
        ["2026-01-03", "1", "1", "0.0560 EUR", "0"],
    ]
    assert "0.1680 EUR" in page and "0.0500 USD" in page


@pytest.mark.usefixtures("rows")
def test_totals_follow_the_filter(admin_client):
    page = body(
        admin_client.get("/admin/sms-log", query_string={"verifier": "alpha", "to": "2026-01-04"})
    )
    start = page.index("<h3>Per day (UTC)</h3>")
    per_day = page[start : page.index("</table>", start)]
    assert "2026-01-03" in per_day and "2026-01-05" not in per_day and "2026-01-04" not in per_day
    assert "Totals for this filter" in page


# -- export -----------------------------------------------------------------------------------


def read_csv(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body(response))))


@pytest.mark.usefixtures("rows")
def test_csv_export_of_the_filtered_rows(admin_client):
    response = admin_client.get("/admin/sms-log.csv", query_string={"verifier": "beta"})

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and ".csv" in disposition
    records = read_csv(response)
    assert [(r["time_utc"], r["status"], r["recipient"]) for r in records] == [
        ("2026-01-05T08:00:00Z", "undelivered", "+31*******21"),
        ("2026-01-04T23:59:59Z", "failed", "+31*******21"),
    ]
    assert records[1]["raw_code"] == "203" and records[1]["raw_meaning"] == "insufficient credits"
    assert records[0]["cost"] == "0.0500" and records[0]["currency"] == "USD"
    assert OTHER not in body(response)


def test_csv_quoting_and_formulas(app, admin_client):
    tricky = 'Rejected, "bad" route\nsee docs'
    add_entry(app, raw_meaning=tricky, raw_code="=1+2", provider_message_id="@SUM(A1)")

    [record] = read_csv(admin_client.get("/admin/sms-log.csv"))

    assert record["raw_meaning"] == tricky
    assert record["raw_code"] == "'=1+2"
    assert record["provider_message_id"] == "'@SUM(A1)"
    assert record["recipient"] == "+31*******78"


def test_csv_of_an_empty_log_has_the_header(admin_client):
    response = admin_client.get("/admin/sms-log.csv")
    assert response.status_code == 200
    assert body(response).splitlines() == [
        "time_utc,verifier,provider,recipient,purpose,status,raw_code,raw_meaning,"
        "provider_message_id,segments,encoding,cost,currency,latency_ms,error_class,reference"
    ]


# -- health -----------------------------------------------------------------------------------


@pytest.fixture
def traffic(app, clock):
    """alpha: 20 attempts in the last hour, latencies 10..200 ms, 17 of them successful."""
    statuses = ["accepted"] * 15 + ["delivered"] * 2 + ["failed"] * 2 + ["undelivered"]
    for n, status in enumerate(statuses, start=1):
        add_entry(
            app,
            created_at=clock() - timedelta(minutes=n * 2),
            verifier_name="alpha",
            status=status,
            latency_ms=n * 10,
        )
    # Outside the hour: not counted.
    add_entry(
        app, created_at=clock() - timedelta(minutes=61), verifier_name="alpha", status="failed"
    )
    add_entry(
        app,
        created_at=clock() - timedelta(minutes=5),
        verifier_name="beta",
        status="failed",
        latency_ms=None,
    )


@pytest.mark.usefixtures("traffic")
def test_health_on_the_log_page(admin_client):
    page = body(admin_client.get("/admin/sms-log"))
    start = page.index("Provider health, last hour")
    health = page[start : page.index("</table>", start)]
    alpha = health[health.index("<code>alpha</code>") : health.index("<code>beta</code>")]
    assert "85 % ok" in alpha and "17 of 20" in alpha
    assert "105 ms" in alpha and "190 ms" in alpha
    beta = health[health.index("<code>beta</code>") :]
    assert "0 % ok" in beta and "0 of 1" in beta and "—" in beta


@pytest.mark.usefixtures("traffic")
def test_health_on_the_verifiers_list(admin_client):
    assert create(admin_client, name="alpha").status_code == 303
    assert create(admin_client, name="gamma").status_code == 303
    page = body(admin_client.get("/admin/verifiers"))
    alpha = page[page.index("<code>alpha</code>") : page.index("<code>gamma</code>")]
    assert "85 % ok" in alpha and "median 105 ms · p95 190 ms" in alpha
    gamma = page[page.index("<code>gamma</code>") :]
    assert "no attempts" in gamma


@pytest.mark.usefixtures("traffic")
def test_health_moves_with_the_clock(admin_client, clock):
    clock.advance(minutes=59)  # the newest attempt is now 61 minutes old
    page = body(admin_client.get("/admin/sms-log"))
    assert "No attempts in the last hour" in page


# -- failover, end to end ---------------------------------------------------------------------


def test_failover_shows_both_attempts_with_cost_on_the_one_that_sent(
    app, admin_client, fake, clock
):
    assert (
        create(
            admin_client, provider="console", name="backup", price_per_segment="0.07"
        ).status_code
        == 303
    )
    challenge = re.search(
        r"challenge=([\w-]+)",
        post(admin_client, "/admin/verifiers/backup/test", {"phone": PHONE}).headers["Location"],
    ).group(1)
    code = re.search(r"\b(\d{6})\b", console_outbox(app)[-1]["text"]).group(1)
    post(admin_client, "/admin/verifiers/backup/confirm", {"challenge": challenge, "code": code})
    post(admin_client, "/admin/verifiers/backup/enabled", {"enabled": "1"})
    clock.advance(seconds=61)
    assert create(admin_client, name="primary", fallback="backup").status_code == 303
    assert confirm(admin_client, "primary", fake.outbox).status_code == 303
    post(admin_client, "/admin/verifiers/primary/enabled", {"enabled": "1"})
    post(admin_client, "/admin/verifiers/primary/default", {"default": "1"})

    fake.failures.append(SmsTemporaryError("timeout", provider="fake", raw_meaning="read timeout"))
    with app.test_request_context():
        delivered = dispatch.send(
            resolve(None),
            recipient=PHONE,
            text="Your code is 424242",
            purpose="login",
            code="424242",
        )
    assert delivered.attempts == 2

    page = body(admin_client.get("/admin/sms-log", query_string={"purpose": "login"}))
    assert len(listed(page)) == 2
    assert "sms_temporary" in page and "read timeout" in page
    [failed, sent] = [e for e in log_entries(app) if e.purpose == "login"]
    assert (failed.verifier_name, failed.status, failed.cost) == ("primary", "failed", Decimal("0"))
    assert (sent.verifier_name, sent.status, sent.cost) == ("backup", "accepted", Decimal("0.0700"))
    export = body(admin_client.get("/admin/sms-log.csv"))
    for text in (page, export):
        assert "424242" not in text and SECRET not in text and PHONE not in text


# -- dashboard --------------------------------------------------------------------------------


@pytest.mark.usefixtures("rows")
def test_the_dashboard_counts_todays_messages_and_cost(admin_client):
    assert create(admin_client, name="alpha").status_code == 303
    page = body(admin_client.get("/admin/"))
    assert '<strong>0</strong> enabled <a href="/admin/verifiers">verifiers</a> (1 in all)' in page
    assert '<strong>2</strong> <a href="/admin/sms-log">text messages</a> today' in page
    assert "0.11 EUR<br>0.05 USD</strong> SMS cost today" in page
