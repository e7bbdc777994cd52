"""Abuse protection in the admin panel: limits, budgets with their counters, where codes may go,
blocked prefixes, verify rates, the banner, and unlocking an account."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from idp import site_settings, state
from idp.abuse import destinations, limits, lockout, sending
from idp.abuse.errors import DestinationRefused
from idp.abuse.store import Window
from idp.extensions import db
from idp.models import AuditEvent, BlockedPrefix, SiteSetting
from idp.plugins import Registry, from_classes
from idp_password import PasswordMethod
from idp_sms import SmsMethod
from idp_sms_providers.console import ConsoleProvider
from tests.conftest import csrf_token, password_login
from tests.fakes.clock import FakeClock
from tests.plugins.idp_sms.support import body, last_code, outbox
from tests.sms_setup import add_sms_authenticator, add_verifier

PAGE = "/admin/limits"
KNOWN = "+31612345678"
OTHER = "+31687654321"
BELGIAN = "+32470123456"
VOIP_NL = "+31851234567"


@pytest.fixture
def registry() -> Registry:
    return from_classes(PasswordMethod, SmsMethod, ConsoleProvider)


@pytest.fixture
def sms(app: Flask, clock: FakeClock, make_authenticator: Any) -> None:
    """A confirmed default console verifier and an SMS authenticator that also allows BE."""
    add_verifier(app, clock, "console", default=True)
    add_sms_authenticator(make_authenticator, countries="BE")


def send(app: Flask, phone: str, ip: str = "203.0.113.9") -> Any:
    """Ask for a sign-in code by SMS from a fresh browser at *ip*."""
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = ip
    token = csrf_token(browser, "/login")
    response = browser.post("/m/sms/sms/login", data={"csrf_token": token, "phone": phone})
    response.close()  # the text goes out once the answer is sent
    return response


def post(client: Any, path: str, data: dict[str, Any] | None = None) -> Any:
    return client.post(path, data={"csrf_token": csrf_token(client, PAGE), **(data or {})})


def set_limits(app: Flask, **values: int) -> None:
    with app.app_context(), app.test_request_context():
        parsed, errors = limits.parse(values)
        assert not errors, errors
        limits.save(parsed)
        db.session.commit()


def events(app: Flask, action: str) -> list[AuditEvent]:
    with app.app_context():
        rows = list(
            db.session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )
        db.session.expunge_all()
        return rows


def setting(app: Flask, key: str) -> Any:
    with app.app_context():
        return site_settings.get(key)


def banners(page: str) -> list[str]:
    return re.findall(r'class="flash flash-\w+ banner abuse-alert">(.*?)</p>', page, re.DOTALL)


def block(app: Flask, clock: FakeClock, prefix: str = "+3161234", **values: Any) -> int:
    with app.app_context():
        row = BlockedPrefix(
            prefix=prefix,
            region="NL",
            blocked_at=clock(),
            until=clock() + timedelta(hours=24),
            sent=12,
            verified=1,
            **values,
        )
        db.session.add(row)
        db.session.commit()
        return row.id


# -- the page ---------------------------------------------------------------------------------


def test_the_page_shows_every_limit_with_its_value_and_default(app, admin_client):
    set_limits(app, number_per_hour=7)

    page = body(admin_client.get(PAGE))

    assert 'href="/admin/limits"' in page and "Abuse protection" in page  # in the navigation
    for name, limit in limits.LIMITS.items():
        assert f'name="{name}"' in page, name
        assert limit.label.replace("(", "").split()[0] in page
        assert f"<code>{name}</code> · default {limit.default}" in page
    assert re.search(r'name="number_per_hour"[^>]*value="7"', page)
    for title in limits.GROUPS.values():
        assert f"<legend>{title}</legend>" in page
    assert "0 of 100 codes this hour" in page and "0 of 1000 codes in 24 hours" in page
    assert "in the database" in page
    assert "No prefix is blocked." in page


def test_counters_and_verify_rates_follow_the_codes_sent(app, admin_client, sms, make_user, clock):
    make_user(nickname="Known", phone=KNOWN, phone_verified_at=clock())
    assert send(app, KNOWN).status_code == 303
    browser = app.test_client()
    token = csrf_token(browser, "/login")
    browser.post("/m/sms/sms/login", data={"csrf_token": token, "phone": OTHER}).close()
    code_page = "/m/sms/sms/login/code"
    browser.post(
        code_page,
        data={"csrf_token": csrf_token(browser, code_page), "code": last_code(app, OTHER)},
    )

    page = body(admin_client.get(PAGE))

    assert page.count("2 of 100 codes this hour") == 2  # the global budget and the console's
    assert page.count("2 of 1000 codes in 24 hours") == 2
    rates = page.split('id="rates"')[1]
    assert "Netherlands (<code>NL</code>)" in rates
    assert re.search(
        r"<td class=\"num\">2</td>\s*<td class=\"num\">1</td>\s*<td class=\"num\">50 %", rates
    )
    assert "<code>+3161234</code>" in rates and "<code>+3168765</code>" in rates

    clock.advance(hours=1, seconds=1)
    password_login(admin_client, "root")  # the admin's session went idle
    page = body(admin_client.get(PAGE))
    assert "0 of 100 codes this hour" in page and "2 of 1000 codes in 24 hours" in page


def test_a_low_verify_rate_is_marked(app, admin_client, sms):
    set_limits(app, prefix_min_sends=2)
    assert send(app, KNOWN).status_code == 303
    assert send(app, "+31612349999").status_code == 303  # the same prefix, +3161234

    rates = body(admin_client.get(PAGE)).split('id="rates"')[1]

    assert rates.count('class="attention"') == 2  # NL and its prefix: 0 of 2 verified
    assert '0 % <span class="badge bad">low</span>' in rates


# -- saving limits ----------------------------------------------------------------------------


def test_valid_limits_are_saved_and_audited_with_what_changed(app, admin_client):
    response = post(
        admin_client,
        PAGE,
        {"number_per_hour": "8", "global_per_day": "1000", "prefix_block_hours": " 48 "},
    )

    assert response.status_code == 303
    assert response.headers["Location"].endswith("/admin/limits#limits")
    with app.test_request_context():
        current = limits.current()
    assert (current["number_per_hour"], current["prefix_block_hours"]) == (8, 48)
    assert setting(app, "abuse_limits") == {"number_per_hour": 8, "prefix_block_hours": 48}
    [event] = events(app, "limits.update")
    assert event.actor == "Root" and event.target == "abuse_limits"
    assert event.before == {"number_per_hour": 5, "prefix_block_hours": 24}
    assert event.after == {"number_per_hour": 8, "prefix_block_hours": 48}
    assert "Limits saved (2 changed)." in body(admin_client.get(PAGE))


def test_invalid_limits_are_shown_next_to_their_fields_and_nothing_is_saved(app, admin_client):
    response = post(
        admin_client,
        PAGE,
        {
            "number_cooldown_seconds": "30",
            "number_per_hour": "many",
            "global_per_hour": "50",
            "global_per_day": "10",
            "prefix_min_verified_percent": "101",
        },
    )

    assert response.status_code == 400
    page = body(response)
    assert "Nothing was saved: 3 values need fixing." in page
    for name, message in (
        ("number_per_hour", "Enter a whole number."),
        ("global_per_day", "Cannot be lower than the hourly budget."),
        ("prefix_min_verified_percent", "Enter a number from 0 to 100."),
    ):
        assert re.search(
            rf'name="{name}"[^>]*aria-invalid="true"[^<]*>\s*<p class="hint"[^>]*>.*?</p>\s*'
            rf'<p class="field-error" id="limit-{name}-error">{re.escape(message)}</p>',
            page,
            re.DOTALL,
        ), name
    assert re.search(r'name="number_per_hour"[^>]*value="many"', page)  # what was typed
    assert setting(app, "abuse_limits") == {}
    assert events(app, "limits.update") == []


def test_saving_needs_the_csrf_token(app, admin_client):
    response = admin_client.post(PAGE, data={"number_per_hour": "8"})

    assert response.status_code == 400
    assert setting(app, "abuse_limits") == {}


# -- budgets ----------------------------------------------------------------------------------


def test_a_spent_global_budget_shows_a_banner_and_a_reset_lifts_it(app, admin_client, sms, clock):
    set_limits(app, global_per_hour=1)
    assert send(app, KNOWN).status_code == 303
    assert banners(body(admin_client.get("/admin/users")))[0].count("nearly spent") == 0

    refused = send(app, OTHER, "198.51.100.3")

    assert refused.status_code == 503 and "paused" in body(refused)
    assert len(outbox(app)) == 1
    [tripped] = events(app, "budget.tripped")
    assert tripped.after["budget"] == "messages"
    for path in ("/admin/", "/admin/users", PAGE):  # on every admin page, the dashboard too
        [banner] = banners(body(admin_client.get(path)))
        assert "The global budget is spent: 1 of 1 codes this hour." in banner
        assert 'href="/admin/limits#budgets"' in banner
    assert "<strong>1</strong> of 1 codes this hour" in body(admin_client.get("/admin/"))

    response = post(admin_client, "/admin/limits/reset")

    assert response.status_code == 303
    [reset] = events(app, "budget.reset")
    assert (reset.target, reset.before, reset.after) == (
        "budget:all",
        {"hour": 1, "day": 1},
        {"hour": 0, "day": 0},
    )
    assert banners(body(admin_client.get("/admin/users"))) == []
    assert send(app, OTHER, "198.51.100.3").status_code == 303
    assert len(outbox(app)) == 2
    assert send(app, "+31611111111", "198.51.100.4").status_code == 503  # counted again
    assert len(events(app, "budget.tripped")) == 2  # and a new trip is audited again


def test_a_nearly_spent_budget_warns(app, admin_client, clock):
    set_limits(app, global_per_hour=5)
    with app.app_context():
        for _ in range(3):
            state.current().counters.take([Window(sending.GLOBAL_HOUR, 5, 3600)], clock())
    assert banners(body(admin_client.get("/admin/users"))) == []  # 3 of 5: 60 %

    with app.app_context():
        state.current().counters.take([Window(sending.GLOBAL_HOUR, 5, 3600)], clock())
    [banner] = banners(body(admin_client.get("/admin/users")))

    assert "The global budget is nearly spent: 4 of 5 codes this hour." in banner
    assert 'class="flash flash-warning banner abuse-alert"' in body(admin_client.get("/admin/"))


def test_a_verifier_budget_is_set_shown_and_reset(app, admin_client, sms, clock):
    response = post(
        admin_client,
        "/admin/limits/budget",
        {"verifier": "console", "per_hour": "1", "per_day": "", "cost_per_hour": "0"},
    )

    assert response.status_code == 303
    assert setting(app, "verifier_budgets") == {"console": {"per_hour": 1, "cost_per_hour": 0}}
    [event] = events(app, "budget.update")
    assert (event.target, event.before, event.after) == (
        "verifier:console",
        {},
        {"per_hour": 1, "cost_per_hour": 0},
    )
    assert send(app, KNOWN).status_code == 303
    page = body(admin_client.get(PAGE))
    assert "1 of 1 codes this hour" in page
    [banner] = banners(page)
    assert "The budget of verifier console is spent" in banner
    refused = send(app, OTHER, "198.51.100.3")
    assert refused.status_code == 503 and len(outbox(app)) == 1
    clock.advance(seconds=61)  # the refused code counted for its number: wait for a new one

    post(admin_client, "/admin/limits/reset", {"verifier": "console"})

    [reset] = events(app, "budget.reset")
    assert reset.target == "verifier:console" and reset.before == {"hour": 1, "day": 1}
    assert send(app, OTHER, "198.51.100.3").status_code == 303
    assert len(outbox(app)) == 2

    post(admin_client, "/admin/limits/budget", {"verifier": "console"})  # all empty: defaults
    assert setting(app, "verifier_budgets") == {}


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"per_hour": "0"}, "per_hour", "Enter a number from 1 to"),
        ({"per_day": "lots"}, "per_day", "Enter a whole number."),
        ({"cost_per_day": "-1"}, "cost_per_day", "Enter a number from 0 to"),
        ({"per_hour": "50", "per_day": "20"}, "per_day", "Cannot be lower than the hourly"),
    ],
)
def test_a_bad_verifier_budget_is_refused(app, admin_client, sms, fields, field, message):
    response = post(admin_client, "/admin/limits/budget", {"verifier": "console", **fields})

    assert response.status_code == 400
    page = body(response)
    assert re.search(rf'name="{field}"[^>]*aria-invalid="true"', page)
    assert message in page
    assert setting(app, "verifier_budgets") == {}
    assert events(app, "budget.update") == []


def test_an_unknown_verifier_has_no_budget(app, admin_client):
    assert post(admin_client, "/admin/limits/budget", {"verifier": "nope"}).status_code == 404
    assert post(admin_client, "/admin/limits/reset", {"verifier": "nope"}).status_code == 404
    assert events(app, "budget.reset") == []


# -- where codes may go -----------------------------------------------------------------------


def test_a_belgian_number_gets_codes_once_belgium_is_on_the_list(app, admin_client, sms):
    refused = send(app, BELGIAN)
    assert refused.status_code == 400 and outbox(app) == []
    assert "Netherlands (<code>NL</code>, the <code>default_region</code> setting) only" in body(
        admin_client.get(PAGE)
    )

    response = post(admin_client, "/admin/limits/destinations", {"countries": "nl, be"})

    assert response.status_code == 303
    assert setting(app, "sms_countries") == ["NL", "BE"]
    [event] = events(app, "destinations.update")
    assert (event.before, event.after) == ({"countries": []}, {"countries": ["NL", "BE"]})
    assert "Netherlands (<code>NL</code>), Belgium (<code>BE</code>)" in body(
        admin_client.get(PAGE)
    )
    assert send(app, BELGIAN).status_code == 303
    assert outbox(app)[-1]["to"] == BELGIAN


def test_an_unknown_country_code_is_refused_with_a_clear_message(app, admin_client):
    response = post(admin_client, "/admin/limits/destinations", {"countries": "NL, XX, EU"})

    assert response.status_code == 400
    page = body(response)
    assert "Not a country code: XX, EU. Use two-letter ISO 3166 codes" in page
    assert 'value="NL, XX, EU"' in page and 'aria-invalid="true"' in page
    assert setting(app, "sms_countries") == []
    assert events(app, "destinations.update") == []


def test_the_voip_switch_is_saved_and_enforced(app, admin_client, sms):
    with app.test_request_context():
        with pytest.raises(DestinationRefused):
            destinations.check(VOIP_NL)
    assert send(app, VOIP_NL).status_code == 400

    post(admin_client, "/admin/limits/destinations", {"countries": "", "allow_voip": "1"})

    assert setting(app, "sms_allow_voip") is True
    [event] = events(app, "destinations.update")
    assert (event.before, event.after) == ({"allow_voip": False}, {"allow_voip": True})
    with app.test_request_context():
        assert destinations.check(VOIP_NL) == "NL"
    assert send(app, VOIP_NL).status_code == 303
    assert outbox(app)[-1]["to"] == VOIP_NL
    assert 'name="allow_voip" value="1" checked' in body(admin_client.get(PAGE))


# -- blocked prefixes -------------------------------------------------------------------------


def test_a_blocked_prefix_is_shown_and_lifted(app, admin_client, sms, clock):
    block_id = block(app, clock)
    assert send(app, KNOWN).status_code == 400  # +3161234 5678: no codes
    page = body(admin_client.get(PAGE))
    assert re.search(
        r"<code>\+3161234</code></td>\s*<td>Netherlands</td>\s*<td class=\"num\">12</td>", page
    )
    [banner] = banners(page)
    assert (
        "Numbers starting +3161234 (Netherlands) get no codes until 2026-01-06 09:00 UTC" in banner
    )

    response = post(admin_client, f"/admin/limits/prefixes/{block_id}/lift")

    assert response.status_code == 303
    [event] = events(app, "prefix.lifted")
    assert event.target == "prefix:+3161234" and event.actor == "Root"
    with app.app_context():
        row = db.session.get(BlockedPrefix, block_id)
        assert row.lifted_at == clock() and row.lifted_by is not None
    page = body(admin_client.get(PAGE))
    assert banners(page) == [] and "No prefix is blocked." in page
    assert "Recently ended" in page and "lifted 2026-01-05 09:00" in page
    assert send(app, KNOWN).status_code == 303

    again = post(admin_client, f"/admin/limits/prefixes/{block_id}/lift")
    assert again.status_code == 303 and len(events(app, "prefix.lifted")) == 1
    assert post(admin_client, "/admin/limits/prefixes/999/lift").status_code == 404


def test_a_block_ends_by_itself(app, admin_client, clock):
    block(app, clock)
    clock.advance(hours=24)
    password_login(admin_client, "root")  # the admin's session went idle

    page = body(admin_client.get(PAGE))

    assert "No prefix is blocked." in page and "expired 2026-01-06 09:00" in page


# -- guessing ---------------------------------------------------------------------------------


def test_an_admin_unlocks_an_account_that_needs_recovery(app, admin_client, make_user, clock):
    set_limits(app, failures_before_wait=1, failures_before_recovery=2)
    alice = make_user(username="alice", nickname="Alice")
    for _ in range(2):
        assert password_login(app.test_client(), "alice", "wrong password").status_code != 303
        clock.advance(seconds=61)  # the wait after the first failure
    assert password_login(app.test_client(), "alice").status_code != 303  # locked out
    path = f"/admin/users/{alice.id}"
    page = body(admin_client.get(path))
    assert "2 in a row" in page and "needs an admin to unlock" in page
    assert f'action="/admin/users/{alice.id}/unlock"' in page

    response = admin_client.post(
        f"{path}/unlock", data={"csrf_token": csrf_token(admin_client, path)}
    )

    assert response.status_code == 303
    [event] = events(app, "user.unlock")
    assert (event.target, event.before, event.after) == (
        f"user:{alice.id}",
        {"failures": 2},
        {"failures": 0},
    )
    with app.app_context():
        key = lockout.account_key(alice.id)
        assert state.current().counters.failures(key).count == 0
    page = body(admin_client.get(path))
    assert "0 in a row" in page and "/unlock" not in page
    assert password_login(app.test_client(), "alice").status_code == 303


def test_a_waiting_account_shows_how_long(app, admin_client, make_user):
    set_limits(app, failures_before_wait=1)
    alice = make_user(username="alice")
    password_login(app.test_client(), "alice", "wrong password")

    page = body(admin_client.get(f"/admin/users/{alice.id}"))

    assert "1 in a row" in page and "waiting 60 s" in page


def test_site_settings_hold_only_what_changed(app, admin_client):
    post(admin_client, PAGE, {"number_per_hour": "5"})  # the default: nothing to store

    with app.app_context():
        assert db.session.get(SiteSetting, "abuse_limits") is None
    assert events(app, "limits.update") == []


def test_the_sms_table_of_poort_toml_has_a_budget_too(app_config, request):
    instance = Path(app_config["instance_path"])
    instance.mkdir(parents=True, exist_ok=True)
    (instance / "poort.toml").write_text(
        '[sms]\nprovider = "console"\nsender = "OpenWave"\n', encoding="utf-8"
    )
    app = request.getfixturevalue("app")
    admin_client = request.getfixturevalue("admin_client")
    assert "<code>poort.toml</code>" in body(admin_client.get(PAGE))

    post(
        admin_client,
        "/admin/limits/budget",
        {"verifier": "poort.toml", "per_hour": "10", "per_day": "50"},
    )
    response = post(admin_client, "/admin/limits/reset", {"verifier": "poort.toml"})

    assert response.status_code == 303
    assert setting(app, "verifier_budgets") == {"poort.toml": {"per_hour": 10, "per_day": 50}}
    assert [e.target for e in events(app, "budget.reset")] == ["verifier:poort.toml"]
    assert "0 of 50 codes in 24 hours" in body(admin_client.get(PAGE))
