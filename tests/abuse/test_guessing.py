"""Guessing: consecutive failed sign-ins per account, by password, SMS code and app code.

After 10 failures in a row an account waits 1, 2, 4, 8, then 15 minutes before the next
attempt is judged; after 100 only an admin's unlock helps. Asking for a new code does not
reset the count, a successful sign-in does. What was typed for an account that does not
exist locks at the same count with the same answers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient

from idp import state
from idp.abuse import lockout
from idp.extensions import db
from idp.models import User
from idp_password import FAILED
from tests.abuse.support import (
    BOTH_BACKENDS,
    KNOWN,
    address,
    answer,
    ask,
    browser,
    code_in,
    enter,
    error_of,
    events,
    form_token,
    outbox,
    resend,
    set_limits,
    set_options,
)
from tests.conftest import PASSWORD, csrf_token
from tests.fakes.clock import FakeClock
from tests.plugins.idp_totp.support import VERIFY, give_totp

LOCKED = "Too many failed attempts. Try again in {}."
RECOVERY = (
    "This account is locked after too many failed attempts. Ask your administrator to unlock it."
)
WRONG_CODE = "That code is not right. Check the text message and try again."
TOO_MANY_CODES = "Too many wrong codes. Ask for a new one."
#: The waits after the 10th, 11th, ... failure in a row, in seconds.
WAITS = [60, 120, 240, 480, 900, 900]


@pytest.fixture
def alice(make_user: Callable[..., User], make_authenticator: Callable[..., Any]) -> User:
    make_authenticator("password")
    return make_user(username="alice", email="alice@example.org")


def sign_in(client: FlaskClient, login: str, password: str = PASSWORD) -> Any:
    data = {"csrf_token": form_token(client), "login": login, "password": password}
    return client.post("/login/password", data=data)


def failures(app: Flask, key: str) -> int:
    with app.app_context():
        return state.current().counters.failures(key).count


def fail_times(app: Flask, key: str, times: int) -> None:
    """Count *times* failures as a password form would (the slow way takes minutes of waits)."""
    with app.app_context():
        for _ in range(times):
            lockout.failed(key, method="password")


# -- passwords --------------------------------------------------------------------------------


def waits_script(app: Flask, clock: FakeClock, login: str) -> list[tuple]:
    """Ten wrong passwords, then a wrong one at each moment the wait ends: every answer."""
    client = browser(app)
    seen = [answer(sign_in(client, login, "wrong")) for _ in range(10)]
    for wait in WAITS:
        seen.append(answer(sign_in(client, login, PASSWORD)))  # not judged: locked
        clock.advance(seconds=wait - 1)
        seen.append(answer(sign_in(client, login, PASSWORD)))
        clock.advance(seconds=1)
        seen.append(answer(sign_in(client, login, "wrong")))  # judged: one failure more
    return seen


@BOTH_BACKENDS
def test_waits_grow_after_ten_failed_passwords(app: Flask, clock: FakeClock, alice: User) -> None:
    seen = waits_script(app, clock, "alice")

    assert seen[:10] == [(200, None, FAILED)] * 10
    for n, wait in enumerate(WAITS):
        minutes = f"{-(-wait // 60)} min"
        locked, last_second, judged = seen[10 + 3 * n : 13 + 3 * n]
        assert locked == (429, str(wait), LOCKED.format(minutes))
        assert last_second == (429, "1", LOCKED.format("1 s"))
        assert judged == (200, None, FAILED)
    assert failures(app, lockout.account_key(alice.id)) == 16
    [locked_event] = events(app, "login.locked")
    assert locked_event.target == f"user:{alice.id}"
    assert locked_event.after == {"method": "password", "failures": 10, "needs_recovery": False}

    clock.advance(seconds=900)
    assert sign_in(browser(app), "alice").status_code == 303  # the right password, in time
    assert failures(app, lockout.account_key(alice.id)) == 0


def test_an_unknown_username_locks_the_same_way(app: Flask, clock: FakeClock, alice: User) -> None:
    for_alice = waits_script(app, clock, "alice")
    for_nobody = waits_script(app, clock, "nobody")

    assert for_nobody == for_alice
    [_, for_unknown] = events(app, "login.locked")
    assert for_unknown.target == "identifier"


def test_a_successful_sign_in_resets_the_count(app: Flask, alice: User) -> None:
    client = browser(app)
    for _ in range(9):
        sign_in(client, "alice", "wrong")
    assert sign_in(client, "alice").status_code == 303
    assert failures(app, lockout.account_key(alice.id)) == 0

    other = browser(app)
    answers = [sign_in(other, "alice", "wrong").status_code for _ in range(10)]
    assert answers == [200] * 10
    assert sign_in(other, "alice").status_code == 429  # the tenth in a row, not the 19th


@pytest.mark.parametrize("login", ["alice", "nobody"])
def test_a_hundred_failures_need_an_admin(
    app: Flask, clock: FakeClock, alice: User, login: str
) -> None:
    with app.app_context():
        key = lockout.subject_key(alice.id if login == "alice" else None, "login", login)
    fail_times(app, key, 99)
    clock.advance(minutes=15)
    client = browser(app)

    hundredth = sign_in(client, login, "wrong")
    assert answer(hundredth) == (200, None, FAILED)
    clock.advance(days=30)  # waiting does not help any more
    refused = sign_in(browser(app), login, PASSWORD)

    assert answer(refused) == (200, None, RECOVERY)
    locked = events(app, "login.locked")
    assert [e.after["needs_recovery"] for e in locked] == [False, True]
    assert locked[-1].after["failures"] == 100


def test_an_admin_unlock_starts_the_count_again(app: Flask, clock: FakeClock, alice: User) -> None:
    fail_times(app, lockout.account_key(alice.id), 100)
    assert error_of(sign_in(browser(app), "alice")) == RECOVERY

    with app.app_context():
        lockout.unlock(alice.id)

    assert sign_in(browser(app), "alice").status_code == 303


def test_one_address_gets_a_limited_number_of_failed_passwords(
    app: Flask, clock: FakeClock, alice: User
) -> None:
    set_limits(app, ip_failures_per_hour=5)
    attacker = browser(app)
    for n in range(5):  # five different accounts: none of them is locked
        assert answer(sign_in(attacker, f"user{n}", "wrong")) == (200, None, FAILED)
        clock.advance(seconds=60)

    refused = sign_in(attacker, "alice", PASSWORD)  # even the right password is not judged

    assert answer(refused) == (429, str(3600 - 300), LOCKED.format("55 min"))
    assert sign_in(browser(app, address(1)), "alice").status_code == 303  # another address
    assert failures(app, lockout.account_key(alice.id)) == 0
    clock.advance(seconds=3600 - 300)
    assert sign_in(attacker, "alice").status_code == 303


# -- codes by text message --------------------------------------------------------------------


@pytest.fixture
def texting(sms: Any, known: User) -> User:
    return known


def code_guesses(app: Flask, clock: FakeClock, phone: str) -> list[tuple]:
    """Five wrong codes, the code again, a new code and wrong guesses until locked."""
    client = browser(app)
    assert ask(app, phone, client=client).status_code == 303
    seen = [answer(enter(client, "000000")) for _ in range(6)]
    clock.advance(seconds=60)
    assert resend(client).status_code == 303  # a new code: the count goes on
    seen += [answer(enter(client, "000000")) for _ in range(5)]
    return seen


@BOTH_BACKENDS
def test_wrong_codes_count_on_over_new_codes(app: Flask, clock: FakeClock, texting: User) -> None:
    client = browser(app)
    assert ask(app, KNOWN, client=client).status_code == 303
    code = code_in(outbox(app)[-1])
    wrong = [answer(enter(client, "000000" if code != "000000" else "111111")) for _ in range(5)]
    burnt = answer(enter(client, code))  # the right code, after five wrong: void

    assert [status for status, _, _ in wrong] == [400] * 5
    assert wrong[0][2] == f"{WRONG_CODE} 4 attempts left."
    assert wrong[-1][2] == burnt[2] == TOO_MANY_CODES
    assert failures(app, lockout.account_key(texting.id)) == 6

    clock.advance(seconds=60)
    assert resend(client).status_code == 303
    code = code_in(outbox(app)[-1])
    for _ in range(4):  # failures 7 to 10
        assert enter(client, "000000" if code != "000000" else "111111").status_code == 400
    locked = enter(client, code)

    assert answer(locked) == (429, "60", LOCKED.format("1 min"))
    again = ask(app, KNOWN, address(1))  # and no new code meanwhile, from anywhere
    assert answer(again) == (429, "60", LOCKED.format("1 min"))
    [event] = events(app, "login.locked")
    assert event.after == {"method": "sms", "failures": 10, "needs_recovery": False}

    clock.advance(seconds=60)
    assert enter(client, code).status_code == 303  # judged again: right, signed in
    assert failures(app, lockout.account_key(texting.id)) == 0


def test_wrong_codes_for_a_number_without_an_account_lock_the_same_way(
    app: Flask, clock: FakeClock, texting: User
) -> None:
    set_options(app, "sms", allow_signup=False)

    for_known = code_guesses(app, clock, KNOWN)
    for_unknown = code_guesses(app, clock, "+31687654321")

    assert for_unknown == for_known
    assert for_known[-1] == (429, "60", LOCKED.format("1 min"))


# -- authenticator app ------------------------------------------------------------------------


@pytest.fixture
def with_app(app: Flask, make_user: Callable[..., User], make_authenticator: Callable) -> tuple:
    make_authenticator("password")
    make_authenticator("totp", method="totp", title="Authenticator app")
    user = make_user(username="alice", email="alice@example.org")
    return user, give_totp(app, user)


def totp(client: FlaskClient, code: str) -> Any:
    return client.post(
        VERIFY, data={"csrf_token": csrf_token(client, "/login/second"), "code": code}
    )


def test_wrong_app_codes_lock_the_account(app: Flask, clock: FakeClock, with_app: tuple) -> None:
    user, secret = with_app
    client = browser(app)
    assert sign_in(client, "alice").headers["Location"] == "/login/second"
    right = pyotp.TOTP(secret).at(clock().timestamp())
    wrong = f"{(int(right) + 500_000) % 1_000_000:06d}"

    answers = [totp(client, wrong).status_code for _ in range(10)]
    locked = totp(client, right)

    assert answers == [200] * 10
    assert locked.status_code == 429
    assert locked.headers.get("Retry-After") == "60"
    assert LOCKED.format("1 min") in locked.get_data(as_text=True)
    [event] = events(app, "login.locked")
    assert event.after["method"] == "totp" and event.target == f"user:{user.id}"

    clock.advance(seconds=60)
    right = pyotp.TOTP(secret).at(clock().timestamp())
    assert totp(client, right).status_code == 303
    assert failures(app, lockout.account_key(user.id)) == 0
    with app.app_context():
        assert db.session.get(User, user.id).last_login_at == clock()
