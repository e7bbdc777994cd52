"""Changing the phone number on the account page: the new number proves itself with a code,
the old number gets a notice, and a number in use elsewhere is refused."""

from __future__ import annotations

import pytest

from tests.conftest import post_form
from tests.plugins.idp_sms.conftest import add_verifier
from tests.plugins.idp_sms.support import (
    KNOWN,
    KNOWN_MASKED,
    OTHER,
    body,
    enter,
    events,
    last_code,
    outbox,
    sms_login,
    user,
    users_with_phone,
    wrong,
)

PHONE = "/m/sms/sms/phone"
OTHER_MASKED = "+31*******21"


@pytest.fixture
def signed_in(app, client, sms, known):
    """The known user, just signed in by SMS (so the proof that it is them is fresh)."""
    assert sms_login(app, client, KNOWN).status_code == 303
    return known


def change_to(client, number):
    return post_form(client, PHONE, {"phone": number}, page=PHONE)


def test_the_account_page_shows_the_number_and_a_way_to_change_it(app, client, signed_in):
    page = body(client.get("/account"))

    assert KNOWN_MASKED in page and KNOWN not in page
    assert f'href="{PHONE}"' in page and "Change phone number" in page


def test_change_the_number_with_a_code_and_a_notice_to_the_old_one(app, client, signed_in):
    page = body(client.get(PHONE))
    assert "Change your phone number" in page and KNOWN_MASKED in page

    response = change_to(client, "06 8765 4321")
    assert response.status_code == 303 and response.headers["Location"] == f"{PHONE}/code"
    message = outbox(app)[-1]
    assert message["to"] == OTHER and message["purpose"] == "phone_change"
    assert user(app, signed_in.id).phone == KNOWN  # not before the code
    assert enter(client, wrong(last_code(app)), kind="phone").status_code == 400
    assert user(app, signed_in.id).phone == KNOWN

    response = enter(client, last_code(app, OTHER), kind="phone")

    assert response.status_code == 303 and response.headers["Location"] == "/account"
    assert f"Your phone number is now {OTHER_MASKED}." in body(client.get("/account"))
    changed = user(app, signed_in.id)
    assert changed.phone == OTHER and changed.phone_verified_at is not None
    notice = outbox(app)[-1]
    assert notice["to"] == KNOWN and notice["purpose"] == "phone_change"
    assert "was changed to " + OTHER_MASKED in notice["text"]
    assert "If this wasn't you, contact" in notice["text"]
    assert OTHER not in notice["text"]
    [event] = events(app, "phone.change")
    assert event.before == {"phone": KNOWN_MASKED}
    assert event.after["phone"] == OTHER_MASKED
    assert event.target == f"user:{signed_in.id}"


def test_a_number_in_use_is_refused_without_saying_whose(app, client, signed_in, make_user):
    make_user(username="dora", nickname="Dora", phone=OTHER)
    sent = len(outbox(app))

    response = change_to(client, OTHER)

    assert response.status_code == 409
    page = body(response)
    assert "This number belongs to another account. Use another number." in page
    assert "Dora" not in page and "dora" not in page
    assert len(outbox(app)) == sent
    assert user(app, signed_in.id).phone == KNOWN


def test_a_number_taken_while_the_code_travels_is_refused(app, client, signed_in, make_user):
    change_to(client, OTHER)
    make_user(username="dora", nickname="Dora", phone=OTHER)

    response = enter(client, last_code(app, OTHER), kind="phone")

    assert response.status_code == 409
    assert "This number belongs to another account." in body(response)
    assert user(app, signed_in.id).phone == KNOWN
    assert len(users_with_phone(app, OTHER)) == 1


def test_the_same_number_again_is_no_change(app, client, signed_in):
    response = change_to(client, "06 12345678")

    assert response.status_code == 400
    assert "This is your number already." in body(response)


def test_numbers_we_may_not_text_are_refused(app, client, signed_in):
    response = change_to(client, "+31 20 123 4567")

    assert response.status_code == 400
    assert "cannot receive text messages" in body(response)


def test_a_stale_sign_in_must_confirm_first(app, client, clock, signed_in):
    clock.advance(minutes=6)

    response = client.get(PHONE)

    assert response.status_code == 303
    assert response.headers["Location"].startswith("/account/confirm?next=")
    response = post_form(client, PHONE, {"phone": OTHER}, page="/account")
    assert response.status_code == 303 and "/account/confirm" in response.headers["Location"]
    assert [m["to"] for m in outbox(app)] == [KNOWN]  # only the login code


def test_signed_out_people_are_sent_to_the_login_page(app, client, sms):
    response = client.get(PHONE)

    assert response.status_code == 303 and response.headers["Location"] == "/login"


def test_a_notice_that_cannot_be_sent_does_not_undo_the_change(
    app, client, clock, signed_in, caplog
):
    change_to(client, OTHER)
    code = last_code(app, OTHER)
    add_verifier(app, clock, "broken", "broken", default=True)  # every send fails from now on

    response = enter(client, code, kind="phone")

    assert response.status_code == 303
    assert user(app, signed_in.id).phone == OTHER
    assert "phone-change notice to +31*******78 not sent" in caplog.text
    assert KNOWN not in caplog.text and code not in caplog.text


def test_a_user_without_a_phone_adds_one(app, client, make_user, password, sms):
    from tests.conftest import password_login

    bob = make_user(username="bob", nickname="Bob")
    password_login(client, "bob")
    assert "Add a phone number" in body(client.get("/account"))

    assert "Add your phone number" in body(client.get(PHONE))
    change_to(client, KNOWN)
    assert outbox(app)[-1]["purpose"] == "enrolment"
    response = enter(client, last_code(app), kind="phone")

    assert response.status_code == 303 and response.headers["Location"] == "/account"
    assert user(app, bob.id).phone == KNOWN
    assert len(outbox(app)) == 1  # no notice: there was no old number
    assert [e.action for e in events(app, "phone.enrol")] == ["phone.enrol"]
