"""Send limits and budgets through the real SMS login pages, with a clock the tests move.

Each limit trips at exactly its count, answers 429 (a spent budget 503) with Retry-After,
sends nothing and stores no challenge, and lifts at exactly the second its oldest counted
send leaves the window. The limit tests run with the counters in the database and in Redis.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from phonenumbers import PhoneNumberFormat as Format
from phonenumbers import PhoneNumberType, example_number_for_type, format_number

from idp import state
from idp.abuse import limits, sending
from idp.abuse.pow import ProofOfWork
from tests.abuse.support import (
    BOTH_BACKENDS,
    IP,
    KNOWN,
    add_verifier,
    address,
    answer,
    ask,
    body,
    browser,
    challenge_count,
    error_of,
    events,
    message_log,
    mobile,
    outbox,
    put_setting,
    refused,
    resend,
    sent_to,
    set_limits,
    set_options,
    solve,
)
from tests.fakes.clock import FakeClock

pytestmark = pytest.mark.usefixtures("sms")

COOLDOWN = "Please wait {} s before asking for a new code."
TOO_MANY = "Too many codes were asked for. Try again in {}."
PAUSED = "Codes by text message are paused for a while. Try again in {}, or sign in another way."
NOT_HERE = "This number cannot receive codes here. Use another number, or sign in another way."
HUMAN = (
    "Many codes were asked for from your network. "
    "Let your browser finish the check below, then ask again."
)
DEFAULTS = {
    "number_cooldown_seconds": 60,
    "number_per_hour": 5,
    "number_per_day": 10,
    "ip_per_hour": 20,
    "network_per_hour": 60,
    "sends_per_login": 3,
    "human_check_after": 5,
    "global_per_hour": 100,
    "global_per_day": 1000,
    "verifier_per_hour": 100,
    "verifier_per_day": 1000,
    "prefix_min_sends": 10,
    "prefix_min_verified_percent": 20,
    "prefix_block_hours": 24,
    "failures_before_wait": 10,
    "failures_before_recovery": 100,
    "max_wait_minutes": 15,
    "ip_failures_per_hour": 100,
}
POW_CHALLENGE = re.compile(r'name="pow_challenge" value="([^"]+)"')


class Ledger:
    """What was sent and stored so far, to check that a refusal added nothing."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.mark()

    def mark(self) -> None:
        self.sent, self.stored = len(outbox(self.app)), challenge_count(self.app)

    def unchanged(self) -> bool:
        return (len(outbox(self.app)), challenge_count(self.app)) == (self.sent, self.stored)


def ok(response: Any) -> None:
    assert response.status_code == 303, (response.status_code, error_of(response))
    assert response.headers["Location"].endswith("/login/code")


def e164(region: str, kind: PhoneNumberType) -> str:
    number = example_number_for_type(region, kind)
    assert number is not None, (region, kind)
    return format_number(number, Format.E164)


def test_the_defaults_are_the_documented_ones(app: Flask) -> None:
    with app.app_context():
        values = limits.current()

    assert {name: values[name] for name in DEFAULTS} == DEFAULTS


# -- one number -------------------------------------------------------------------------------


@BOTH_BACKENDS
def test_a_number_waits_a_minute_between_codes(app: Flask, clock: FakeClock, known: Any) -> None:
    ok(ask(app, KNOWN))
    ledger = Ledger(app)

    clock.advance(seconds=59)
    response = ask(app, KNOWN, address(1))  # another browser, another address

    assert refused(response) == 1
    assert error_of(response) == COOLDOWN.format(1)
    assert ledger.unchanged()
    clock.advance(seconds=1)
    ok(ask(app, KNOWN, address(2)))
    assert sent_to(app) == [KNOWN, KNOWN]


@BOTH_BACKENDS
def test_a_number_gets_five_codes_an_hour(app: Flask, clock: FakeClock, known: Any) -> None:
    for n in range(5):  # at 0, 60, ..., 240 s
        ok(ask(app, KNOWN, address(n)))
        clock.advance(seconds=60)
    ledger = Ledger(app)

    sixth = ask(app, KNOWN, address(5))  # at 300 s

    assert refused(sixth) == 3300
    assert error_of(sixth) == TOO_MANY.format("55 min")
    assert ledger.unchanged()
    clock.advance(seconds=3299)
    assert refused(ask(app, KNOWN, address(6))) == 1
    assert ledger.unchanged()
    clock.advance(seconds=1)  # the first code leaves the hour
    ok(ask(app, KNOWN, address(7)))
    assert len(outbox(app)) == 6
    [tripped] = events(app, "limit.tripped")  # once per trip, not once per refusal
    assert tripped.after["limit"] == "num-h"


def test_a_number_gets_ten_codes_a_day(app: Flask, clock: FakeClock, known: Any) -> None:
    for n in range(10):  # five in the first hour, one a minute, then five more
        ok(ask(app, KNOWN, address(n)))
        clock.advance(seconds=3600 - 240 if n == 4 else 60)
    clock.advance(seconds=3600)  # at 7500 s: the hourly limit has room again
    ledger = Ledger(app)
    first_ends = 86400 - 7500

    eleventh = ask(app, KNOWN, address(10))

    assert refused(eleventh) == first_ends
    assert error_of(eleventh) == TOO_MANY.format("22 h")
    clock.advance(seconds=first_ends - 1)
    assert refused(ask(app, KNOWN, address(11))) == 1
    assert ledger.unchanged()
    clock.advance(seconds=1)
    ok(ask(app, KNOWN, address(12)))


# -- one address, one network -----------------------------------------------------------------


@BOTH_BACKENDS
def test_an_address_asks_for_twenty_codes_an_hour(app: Flask, clock: FakeClock) -> None:
    set_limits(app, human_check_after=0)
    script = browser(app, IP)  # one session asking for codes to one number after another
    for n in range(20):
        ok(ask(app, mobile(n), client=script))
        clock.advance(seconds=5)
    ledger = Ledger(app)

    response = ask(app, mobile(20), client=script)

    assert refused(response) == 3600 - 100
    assert ledger.unchanged()
    assert refused(ask(app, mobile(21), IP)) == 3600 - 100  # a new session changes nothing
    ok(ask(app, mobile(22), "198.51.100.8"))  # its neighbour has its own count
    clock.advance(seconds=3600 - 101)
    assert refused(ask(app, mobile(23), client=script)) == 1
    clock.advance(seconds=1)
    ok(ask(app, mobile(24), client=script))


@BOTH_BACKENDS
@pytest.mark.parametrize(
    ("inside", "neighbour", "outside"),
    [
        (
            [f"198.51.100.{n}" for n in (1, 2, 3, 4)],
            "198.51.100.254",
            "198.51.101.1",
        ),
        (
            ["2001:db8:0:100::1", "2001:db8:0:101::1", "2001:db8:0:1fe::9", "2001:db8:0:1ff::"],
            "2001:db8:0:1aa:1234::5",
            "2001:db8:0:200::1",
        ),
    ],
    ids=["ipv4-24", "ipv6-56"],
)
def test_a_network_shares_one_count(
    app: Flask, clock: FakeClock, inside: list[str], neighbour: str, outside: str
) -> None:
    set_limits(app, network_per_hour=4, human_check_after=0)
    for n, ip in enumerate(inside):
        ok(ask(app, mobile(n), ip))
        clock.advance(seconds=10)
    ledger = Ledger(app)

    assert refused(ask(app, mobile(10), neighbour)) == 3600 - 40
    assert refused(ask(app, mobile(11), inside[0])) == 3600 - 40
    assert ledger.unchanged()
    ok(ask(app, mobile(12), outside))
    clock.advance(seconds=3600 - 40)
    ok(ask(app, mobile(13), neighbour))


# -- one sign-in attempt ----------------------------------------------------------------------


@BOTH_BACKENDS
def test_a_sign_in_attempt_gets_three_codes(app: Flask, clock: FakeClock, known: Any) -> None:
    client = browser(app)
    ok(ask(app, KNOWN, client=client))
    for _ in range(2):
        clock.advance(seconds=60)
        assert resend(client).status_code == 303
    clock.advance(seconds=60)
    ledger = Ledger(app)

    fourth = resend(client)

    assert refused(fourth) == 3600 - 180
    assert error_of(fourth) == TOO_MANY.format("57 min")
    assert "Enter the code" in body(fourth)  # still on the code page
    assert ledger.unchanged()
    ok(ask(app, KNOWN, address(1)))  # another browser is another attempt


def test_another_number_in_the_same_browser_is_a_new_attempt(
    app: Flask, clock: FakeClock, known: Any
) -> None:
    client = browser(app)
    for _ in range(3):
        ok(ask(app, KNOWN, client=client))
        clock.advance(seconds=60)
    assert refused(resend(client)) == 3600 - 180

    ok(ask(app, mobile(1), client=client))  # a typo corrected: a new attempt
    assert sent_to(app)[-1] == mobile(1)


# -- budgets ----------------------------------------------------------------------------------


@BOTH_BACKENDS
def test_a_spent_global_budget_pauses_sending(app: Flask, clock: FakeClock) -> None:
    set_limits(app, global_per_hour=3)
    for n in range(3):
        ok(ask(app, mobile(n), address(n)))
        clock.advance(seconds=100)
    ledger = Ledger(app)

    fourth = ask(app, mobile(3), address(3))
    fifth = ask(app, mobile(4), address(4))

    assert refused(fourth, 503) == 3300
    assert error_of(fourth) == PAUSED.format("55 min")
    assert refused(fifth, 503) == 3300
    assert ledger.unchanged()
    [tripped] = events(app, "budget.tripped")  # written once, not once per refusal
    assert tripped.target == "budget-h"
    assert tripped.after == {"budget": "messages", "limit": 3, "window_seconds": 3600}

    clock.advance(seconds=3299)
    assert refused(ask(app, mobile(5), address(5)), 503) == 1
    clock.advance(seconds=1)  # by itself: the oldest send leaves the hour
    ok(ask(app, mobile(6), address(6)))
    assert refused(ask(app, mobile(7), address(7)), 503) == 100


def test_an_admin_reset_of_the_global_budget_reopens_it(app: Flask, clock: FakeClock) -> None:
    set_limits(app, global_per_hour=3)
    for n in range(3):
        ok(ask(app, mobile(n), address(n)))
    refused(ask(app, mobile(3), address(3)), 503)

    with app.app_context():
        state.current().counters.forget(sending.GLOBAL_HOUR)

    ok(ask(app, mobile(4), address(4)))
    assert len(outbox(app)) == 4


@BOTH_BACKENDS
def test_a_verifier_with_a_spent_budget_hands_over_to_its_fallback(
    app: Flask, clock: FakeClock
) -> None:
    add_verifier(app, clock, "second", options={"outbox": "second.jsonl"})
    add_verifier(
        app, clock, "first", options={"outbox": "first.jsonl"}, default=True, fallback="second"
    )
    set_limits(app, verifier_per_hour=2)

    for n in range(4):  # two through the first, then two through the second
        ok(ask(app, mobile(n), address(n)))
        clock.advance(seconds=10)

    assert sent_to(app, "first.jsonl") == [mobile(0), mobile(1)]
    assert sent_to(app, "second.jsonl") == [mobile(2), mobile(3)]
    skipped = [e for e in message_log(app) if e.error_class == "budget_spent"]
    assert [(e.verifier_name, e.recipient_masked) for e in skipped] == [
        ("first", "+31*******67"),
        ("first", "+31*******67"),
    ]
    fifth = ask(app, mobile(4), address(4))

    assert refused(fifth, 503) == 3600 - 40  # when the first verifier has room again
    assert error_of(fifth) == PAUSED.format("60 min")
    assert len(outbox(app, "first.jsonl")) == 2 and len(outbox(app, "second.jsonl")) == 2
    tripped = events(app, "budget.tripped")
    # "first" tripped when a send skipped it; the fifth is refused before any verifier is
    # tried (as a withheld or queued code is), so "second" never tripped mid-send.
    assert sorted(e.after["verifier"] for e in tripped) == ["first"]


# -- numbers without an account ---------------------------------------------------------------


def script(app: Flask, clock: FakeClock, phone: str, first_ip: int) -> list[tuple]:
    """Cooldown, the hourly limit, its lifting: every answer an asker sees."""
    seen = [answer(ask(app, phone, address(first_ip)))]
    clock.advance(seconds=30)
    seen.append(answer(ask(app, phone, address(first_ip + 1))))
    clock.advance(seconds=30)
    for n in range(5):
        seen.append(answer(ask(app, phone, address(first_ip + 2 + n))))
        clock.advance(seconds=60)
    clock.advance(seconds=3600 - 300)
    seen.append(answer(ask(app, phone, address(first_ip + 7))))
    return seen


def test_a_number_without_an_account_is_limited_like_a_known_one(
    app: Flask, clock: FakeClock, known: Any
) -> None:
    set_options(app, "sms", allow_signup=False)
    unknown = mobile(500)

    for_known = script(app, clock, KNOWN, 0)
    sent = len(outbox(app))
    for_unknown = script(app, clock, unknown, 20)

    assert for_unknown == for_known
    assert [status for status, _, _ in for_known] == [303, 429, 303, 303, 303, 303, 429, 303]
    assert len(outbox(app)) == sent  # withheld: nothing was sent to the unknown number


def test_a_spent_budget_answers_the_same_for_a_number_without_an_account(
    app: Flask, clock: FakeClock, known: Any
) -> None:
    set_options(app, "sms", allow_signup=False)
    set_limits(app, global_per_hour=1)
    assert answer(ask(app, mobile(500), address(0)))[0] == 303  # withheld codes spend nothing
    ok(ask(app, KNOWN, address(1)))
    clock.advance(seconds=60)

    for_known = answer(ask(app, KNOWN, address(2)))
    for_unknown = answer(ask(app, mobile(501), address(3)))

    assert for_known[0] == 503
    assert for_unknown == for_known


def test_spent_verifier_budgets_answer_the_same_for_a_number_without_an_account(
    app: Flask, clock: FakeClock, known: Any
) -> None:
    set_options(app, "sms", allow_signup=False)
    set_limits(app, verifier_per_hour=1)
    ok(ask(app, KNOWN, address(1)))
    clock.advance(seconds=60)

    for_known = answer(ask(app, KNOWN, address(2)))
    for_unknown = answer(ask(app, mobile(501), address(3)))

    assert for_known == (503, "3540", PAUSED.format("59 min"))
    assert for_unknown == for_known
    assert sent_to(app) == [KNOWN]


# -- where codes may go -----------------------------------------------------------------------


def test_a_country_off_the_allow_list_is_refused(app: Flask) -> None:
    set_options(app, "sms", countries="DE")  # the authenticator would, the site does not
    german = e164("DE", PhoneNumberType.MOBILE)

    response = ask(app, german)

    assert response.status_code == 400
    assert error_of(response) == NOT_HERE
    assert outbox(app) == [] and challenge_count(app) == 0
    put_setting(app, "sms_countries", ["NL", "DE"])
    ok(ask(app, german))


@pytest.mark.parametrize(
    ("region", "kind"),
    [
        ("NL", PhoneNumberType.PREMIUM_RATE),
        ("NL", PhoneNumberType.TOLL_FREE),
        ("DE", PhoneNumberType.SHARED_COST),
        ("NL", PhoneNumberType.VOIP),
        ("GB", PhoneNumberType.VOIP),
        ("NL", PhoneNumberType.FIXED_LINE),
    ],
)
def test_numbers_that_earn_money_are_refused_at_the_gate(
    app: Flask, region: str, kind: PhoneNumberType
) -> None:
    put_setting(app, "sms_countries", ["NL", "DE", "GB"])
    number = e164(region, kind)

    with app.test_request_context("/"), pytest.raises(Exception) as raised:
        sending.admit(sending.SendRequest(phone=number, ip=IP))
    assert type(raised.value).__name__ == "DestinationRefused"
    assert raised.value.message == NOT_HERE

    response = ask(app, number)  # and through the page: refused, nothing sent or stored
    assert response.status_code == 400
    assert outbox(app) == [] and challenge_count(app) == 0


def test_voip_numbers_get_codes_when_an_admin_allows_them(app: Flask) -> None:
    voip = e164("NL", PhoneNumberType.VOIP)
    assert ask(app, voip).status_code == 400

    put_setting(app, "sms_allow_voip", True)

    ok(ask(app, voip))
    assert sent_to(app) == [voip]


# -- the human check --------------------------------------------------------------------------


@BOTH_BACKENDS
def test_after_five_codes_an_address_must_pass_the_human_check(
    app: Flask, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ProofOfWork, "difficulty", 6)
    for n in range(5):
        assert "pow_challenge" not in body(browser(app).get("/login"))
        ok(ask(app, mobile(n)))
    ledger = Ledger(app)

    client = browser(app)
    page = body(client.get("/login"))
    assert 'name="pow_challenge"' in page and 'name="pow_solution"' in page
    unsolved = ask(app, mobile(5), client=client)

    assert unsolved.status_code == 429
    assert error_of(unsolved) == HUMAN
    assert 'name="pow_challenge"' in body(unsolved)  # the form carries a new check
    assert ledger.unchanged()
    ok(ask(app, mobile(6), address(1)))  # another address needs no check yet

    challenge = POW_CHALLENGE.search(body(unsolved)).group(1)  # type: ignore[union-attr]
    solved = {"pow_challenge": challenge, "pow_solution": solve(challenge, 6)}
    ok(ask(app, mobile(7), client=browser(app), extra=solved))
    assert sent_to(app)[-1] == mobile(7)
    replayed = ask(app, mobile(8), extra=solved)  # a solution is good for one code
    assert replayed.status_code == 429 and error_of(replayed) == HUMAN
