"""Password + authenticator app: the second step, its window, and replay protection."""

from __future__ import annotations

import re
import threading

import pyotp
import pytest

from idp.extensions import db
from idp.models import User
from idp_totp import WRONG, check_code, matching_step
from tests.conftest import password_login, post_form
from tests.database import is_postgres
from tests.plugins.idp_totp.support import (
    VERIFY,
    body,
    code,
    events,
    give_totp,
    live_sessions,
    login_with_totp,
    signed_in,
    submit_code,
)


@pytest.fixture
def secret(app, alice):
    return give_totp(app, alice)


# -- the happy path -----------------------------------------------------------------------------


def test_the_second_step_shows_the_code_form(client, alice, secret):
    response = password_login(client, "alice")
    assert response.headers["Location"] == "/login/second"

    page = body(client.get("/login/second"))

    assert "Authenticator app" in page
    assert f'action="{VERIFY}"' in page
    field = re.search(r'<input id="totp-code"[^>]*>', page, re.S).group(0)
    assert 'inputmode="numeric"' in field
    assert 'autocomplete="one-time-code"' in field
    assert '<label for="totp-code">' in page
    assert not signed_in(client)


def test_password_and_app_give_pwd_otp_mfa_and_auth_time(app, client, alice, secret, clock):
    response = login_with_totp(client, "alice", secret, clock)

    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    [row] = live_sessions(app, alice)
    assert row.amr_values == ["pwd", "otp", "mfa"]
    assert row.auth_time == clock()
    [success] = events(app, "login.success")
    assert success.after == {"method": "password+totp", "amr": ["pwd", "otp", "mfa"]}
    assert "pwd, otp, mfa" in body(client.get("/"))


def test_a_code_typed_with_spaces_is_accepted(client, alice, secret, clock):
    password_login(client, "alice")
    value = code(secret, clock)

    response = submit_code(client, f"{value[:3]} {value[3:]}")

    assert response.status_code == 303


# -- wrong codes --------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["000000x", "", "12345", "1234567", "١٢٣٤٥٦"])
def test_malformed_codes_are_refused(app, client, alice, secret, typed):
    password_login(client, "alice")

    response = submit_code(client, typed)

    assert response.status_code == 200
    assert str(WRONG) in body(response)
    assert not signed_in(client)


def test_a_wrong_code_shows_a_message_in_place_and_the_login_goes_on(
    app, client, alice, secret, clock
):
    password_login(client, "alice")
    right = code(secret, clock)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"

    response = submit_code(client, wrong)

    assert response.status_code == 200
    page = body(response)
    assert str(WRONG) in page
    assert 'aria-invalid="true"' in page and 'aria-describedby="totp-code-error"' in page
    assert not signed_in(client)
    [failure] = events(app, "login.failure")
    assert failure.target == f"user:{alice.id}"
    assert failure.after == {"method": "totp", "step": "second"}
    assert wrong not in str(failure.after) and right not in str(failure.after)
    # Still in the second step: the right code now finishes the login.
    assert submit_code(client, right).status_code == 303
    assert signed_in(client)


def test_the_code_step_needs_a_pending_login(client, alice, secret, clock):
    response = post_form(client, VERIFY, {"code": code(secret, clock)})

    assert response.status_code == 400
    assert not signed_in(client)


def test_the_client_time_is_ignored(client, alice, secret, clock):
    """Only the server's clock counts (ASVS 6.5.8): a code for another time is refused."""
    password_login(client, "alice")
    later = clock().timestamp() + 600
    from tests.conftest import csrf_token

    response = client.post(
        VERIFY,
        data={
            "csrf_token": csrf_token(client, "/login/second"),
            "code": pyotp.TOTP(secret).at(later),
            "time": str(int(later)),
            "timestamp": str(int(later)),
        },
    )

    assert response.status_code == 200


# -- the window ---------------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_codes_of_the_previous_this_and_next_step_are_accepted(
    client, alice, secret, clock, offset
):
    response = login_with_totp(client, "alice", secret, clock, offset=offset)

    assert response.status_code == 303
    assert signed_in(client)


@pytest.mark.parametrize("offset", [-3, -2, 2, 3])
def test_codes_two_steps_away_are_refused(client, alice, secret, clock, offset):
    response = login_with_totp(client, "alice", secret, clock, offset=offset)

    assert response.status_code == 200
    assert not signed_in(client)


def test_matching_step_at_a_step_boundary(clock):
    secret = pyotp.random_base32()
    totp = pyotp.TOTP(secret)
    now = clock()
    assert now.timestamp() % 30 == 0  # the fake clock starts on a boundary
    step = totp.timecode(now)

    for offset in (-1, 0, 1):
        assert matching_step(secret, totp.at(now, counter_offset=offset), 6, now) == step + offset
    for offset in (-2, 2):
        assert matching_step(secret, totp.at(now, counter_offset=offset), 6, now) is None


# -- replay -------------------------------------------------------------------------------------


def test_the_same_code_twice_is_refused_the_second_time(app, client, make_user, secret, clock):
    value = code(secret, clock)
    assert login_with_totp(client, "alice", secret, clock).status_code == 303
    post_form(client, "/logout", page="/")

    password_login(client, "alice")
    again = submit_code(client, value)

    assert again.status_code == 200
    assert str(WRONG) in body(again)
    assert not signed_in(client)


def test_a_used_code_stays_refused_while_it_is_inside_the_window(app, client, secret, clock):
    value = code(secret, clock)
    assert login_with_totp(client, "alice", secret, clock).status_code == 303
    post_form(client, "/logout", page="/")

    clock.advance(seconds=30)  # the code is now the previous step: inside the window
    password_login(client, "alice")
    assert submit_code(client, value).status_code == 200
    # The next step's code is new, so it is accepted.
    assert submit_code(client, code(secret, clock)).status_code == 303


def test_an_earlier_step_is_refused_after_a_later_one_was_used(app, client, secret, clock):
    assert login_with_totp(client, "alice", secret, clock, offset=1).status_code == 303
    post_form(client, "/logout", page="/")

    response = login_with_totp(client, "alice", secret, clock, offset=0)

    assert response.status_code == 200


def test_concurrent_use_of_one_code_succeeds_once(app, alice, secret, clock):
    """security.md T3: ten requests with one code race; the conditional UPDATE lets one win."""
    if not is_postgres(app.config["SQLALCHEMY_DATABASE_URI"]):
        pytest.skip("SQLite serialises writers; the race needs PostgreSQL")
    from idp.auth import credentials

    value = code(secret, clock)
    n = 10
    barrier = threading.Barrier(n)
    results: list[bool] = []
    lock = threading.Lock()

    def attempt() -> None:
        with app.app_context():
            user = db.session.get(User, alice.id)
            credential = credentials.get(user, "totp")
            barrier.wait()
            ok = check_code(credential, value)
            db.session.commit()
            with lock:
                results.append(ok)

    threads = [threading.Thread(target=attempt) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False] * (n - 1) + [True]
