"""Every bad input on the SMS login gets a clear message on the same page, and the counters
stay right: wrong, expired, used, superseded codes, too many guesses, resending too early,
and numbers we may not text."""

from __future__ import annotations

import pytest

from idp import site_settings
from idp.extensions import db
from tests.plugins.idp_sms.support import (
    KNOWN,
    body,
    challenges,
    enter,
    last_code,
    outbox,
    resend,
    start,
    users_with_phone,
    wrong,
)

pytestmark = pytest.mark.usefixtures("sms")


@pytest.fixture
def code(app, client):
    """A sign-up code sent to KNOWN in *client*'s session."""
    assert start(client, KNOWN).status_code == 303
    return last_code(app)


def test_a_wrong_code_says_so_and_counts_down(app, client, code):
    response = enter(client, wrong(code))

    assert response.status_code == 400
    page = body(response)
    assert "That code is not right. Check the text message and try again. 4 attempts left." in page
    assert 'aria-invalid="true"' in page and 'autocomplete="one-time-code"' in page
    assert "3 attempts left." in body(enter(client, wrong(code)))
    assert "2 attempts left." in body(enter(client, wrong(code)))
    [challenge] = challenges(app)
    assert challenge.attempts == 3 and challenge.consumed_at is None
    assert enter(client, code).status_code == 303  # the right code still works


def test_what_is_not_digits_is_refused_without_counting(app, client, code):
    response = enter(client, "12ab56")

    assert response.status_code == 400
    assert "Enter the digits of the code from the text message." in body(response)
    assert challenges(app)[0].attempts == 0


def test_a_code_with_spaces_is_fine(app, client, code):
    assert enter(client, f"{code[:3]} {code[3:]}").status_code == 303


def test_an_expired_code_is_refused(app, client, clock, code):
    clock.advance(seconds=301)

    response = enter(client, code)

    assert response.status_code == 400
    assert "This code has expired. Ask for a new one." in body(response)
    assert users_with_phone(app, KNOWN) == []


def test_a_code_just_before_expiry_works(app, client, clock, code):
    clock.advance(seconds=299)
    assert enter(client, code).status_code == 303


def test_a_used_code_is_refused(app, client, code):
    with client.session_transaction() as session:
        pending = dict(session["idp_sms.login"])
    assert enter(client, code).status_code == 303
    with client.session_transaction() as session:  # the same request again, e.g. a double submit
        session["idp_sms.login"] = pending

    response = enter(client, code)

    assert response.status_code == 400
    assert "This code has been used already. Ask for a new one." in body(response)
    assert len(users_with_phone(app, KNOWN)) == 1


def test_a_superseded_code_is_refused(app, clock, code, client):
    other = app.test_client()  # a second tab or device asks for a code for the same number
    clock.advance(seconds=61)
    assert start(other, KNOWN).status_code == 303

    response = enter(client, code)

    assert response.status_code == 400
    assert "A newer code was sent; use the code from the latest message." in body(response)
    assert enter(other, last_code(app)).status_code == 303


def test_too_many_wrong_codes_burn_the_code(app, client, code):
    for _ in range(4):
        enter(client, wrong(code))

    response = enter(client, wrong(code))
    assert response.status_code == 400
    assert "Too many wrong codes. Ask for a new one." in body(response)

    response = enter(client, code)  # the right code, too late

    assert response.status_code == 400
    assert "Too many wrong codes. Ask for a new one." in body(response)
    assert challenges(app)[0].attempts == 5
    assert users_with_phone(app, KNOWN) == []


def test_resend_too_early_says_when_and_sends_nothing(app, client, clock, code):
    clock.advance(seconds=20)

    response = resend(client)

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "40"
    assert "Please wait 40 s before asking for a new code." in body(response)
    assert "ask for a new code in 40 seconds" in body(response)
    assert len(outbox(app)) == 1


def test_resend_after_the_cooldown_sends_a_new_code_that_replaces_the_old(app, client, clock, code):
    clock.advance(seconds=60)
    assert "ask for a new code now" in body(client.get("/m/sms/sms/login/code"))

    response = resend(client)

    assert response.status_code == 303
    assert "We sent a new code." in body(client.get(response.headers["Location"]))
    assert len(outbox(app)) == 2
    new = last_code(app)
    if new != code:
        assert enter(client, code).status_code == 400
    assert enter(client, new).status_code == 303


def test_sending_the_number_twice_goes_back_to_the_code_page(app, client, code):
    response = start(client, "06 12345678")

    assert response.status_code == 303
    assert response.headers["Location"] == "/m/sms/sms/login/code"
    assert len(outbox(app)) == 1


def test_another_browser_asking_too_early_is_told_when(app, clock, code):
    clock.advance(seconds=10)

    response = start(app.test_client(), KNOWN)

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "50"
    assert "Please wait 50 s" in body(response)
    assert 'value="+31612345678"' in body(response)  # what was typed stays in the field


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Enter a phone number."),
        ("call me", "A phone number has only digits"),
        ("06-1234", "This phone number does not exist"),
        ("+31 20 123 4567", "This number cannot receive text messages. Enter a mobile number."),
        ("0800 0221", "This number cannot receive text messages."),  # toll-free
        ("+32 470 12 34 56", "We cannot send text messages to numbers from Belgium here."),
        ("+1 415 555 0123", "We cannot send text messages to numbers from United States here."),
    ],
)
def test_numbers_we_may_not_text_are_refused_on_the_login_page(app, client, typed, message):
    response = start(client, typed)

    assert response.status_code == 400
    page = body(response)
    assert message in page
    assert 'action="/m/sms/sms/login"' in page  # the same page, ready for another try
    assert outbox(app) == [] and challenges(app) == []


def test_an_authenticator_may_allow_more_countries_within_the_site_allow_list(
    app, client, make_authenticator
):
    make_authenticator("sms-be", method="sms", options={"countries": "be, de"})

    refused = start(client, "+32 470 12 34 56", name="sms-be")
    assert refused.status_code == 400  # the site's allow-list holds only NL so far
    assert "This number cannot receive codes here." in body(refused)
    assert outbox(app) == []

    with app.app_context():
        site_settings.put("sms_countries", ["NL", "BE", "DE"])
        db.session.commit()
    assert start(client, "+32 470 12 34 56", name="sms-be").status_code == 303
    assert outbox(app)[-1]["to"] == "+32470123456"
    assert start(app.test_client(), "+33 6 12 34 56 78", name="sms-be").status_code == 400
