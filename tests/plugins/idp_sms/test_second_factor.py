"""SMS as the second factor after a password, and enrolling a phone when one is required."""

from __future__ import annotations

import pytest

from tests.conftest import password_login, post_form
from tests.plugins.idp_sms.conftest import set_policy
from tests.plugins.idp_sms.support import (
    KNOWN,
    KNOWN_MASKED,
    OTHER,
    body,
    enter,
    events,
    last_code,
    live_amr,
    outbox,
    resend,
    user,
    wrong,
)

pytestmark = pytest.mark.usefixtures("password", "sms")


@pytest.fixture
def alice(make_user, clock):
    """A password user with a verified phone."""
    return make_user(username="alice", nickname="Alice", phone=KNOWN, phone_verified_at=clock())


@pytest.fixture
def bob(make_user):
    """A password user without a phone."""
    return make_user(username="bob", nickname="Bob")


def send_second(client):
    return post_form(client, "/m/sms/sms/second", page="/login/second")


def test_password_then_sms_code(app, client, alice):
    response = password_login(client, "alice")
    assert response.status_code == 303 and response.headers["Location"] == "/login/second"

    page = body(client.get("/login/second"))
    assert f"Send a code to {KNOWN_MASKED}" in page
    assert 'action="/m/sms/sms/second"' in page
    assert outbox(app) == []  # nothing is sent before the user asks

    response = send_second(client)
    assert response.status_code == 303 and response.headers["Location"] == "/m/sms/sms/second/code"
    [message] = outbox(app)
    assert message["to"] == KNOWN and message["purpose"] == "second_factor"
    page = body(client.get("/m/sms/sms/second/code"))
    assert KNOWN_MASKED in page and 'autocomplete="one-time-code"' in page
    assert "Cancel and start again" in page

    assert enter(client, wrong(last_code(app)), kind="second").status_code == 400
    response = enter(client, last_code(app), kind="second")

    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert live_amr(app, alice.id) == ["pwd", "sms", "mfa"]
    assert events(app, "login.success")[-1].after["amr"] == ["pwd", "sms", "mfa"]


def test_the_second_factor_code_is_bound_to_the_user(app, client, alice, make_user, clock):
    password_login(client, "alice")
    send_second(client)
    code = last_code(app)
    make_user(username="mallory", nickname="Mallory", phone=OTHER, phone_verified_at=clock())
    other = app.test_client()
    password_login(other, "mallory")
    clock.advance(seconds=1)

    # Mallory's session has no pending code of Alice's: her code page sends her back
    response = other.get("/m/sms/sms/second/code")
    assert response.status_code == 303 and response.headers["Location"] == "/login/second"
    assert enter(client, code, kind="second").status_code == 303


def test_second_factor_resend_too_early_and_later(app, client, clock, alice):
    password_login(client, "alice")
    send_second(client)

    early = resend(client, kind="second")
    assert early.status_code == 429 and "Please wait 60 s" in body(early)
    assert send_second(client).headers["Location"] == "/m/sms/sms/second/code"
    clock.advance(seconds=60)
    assert resend(client, kind="second").status_code == 303
    assert len(outbox(app)) == 2
    assert enter(client, last_code(app), kind="second").status_code == 303


def test_no_second_factor_without_a_pending_login(app, client, alice):
    response = post_form(client, "/m/sms/sms/second")
    assert response.status_code == 400
    assert "please start again" in body(response)


def test_optional_policy_and_no_phone_signs_in_with_the_password_alone(app, client, bob):
    response = password_login(client, "bob")

    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert live_amr(app, bob.id) == ["pwd"]


def test_a_required_second_factor_leads_a_user_without_one_through_enrolment(app, client, bob):
    set_policy(app, "everyone")

    response = password_login(client, "bob")
    assert response.status_code == 303 and response.headers["Location"] == "/login/enrol"
    page = body(client.get("/login/enrol"))
    assert 'href="/m/sms/sms/phone"' in page

    page = body(client.get("/m/sms/sms/phone"))
    assert "Add your phone number" in page and 'type="tel"' in page
    assert "An authenticator app is safer" in page  # the risk notice, with other ways
    response = post_form(
        client, "/m/sms/sms/phone", {"phone": "06-1234 5678"}, page="/m/sms/sms/phone"
    )
    assert response.status_code == 303 and response.headers["Location"] == "/m/sms/sms/phone/code"
    [message] = outbox(app)
    assert message["to"] == KNOWN and message["purpose"] == "enrolment"
    assert user(app, bob.id).phone is None  # not before the code

    response = enter(client, last_code(app), kind="phone")

    assert response.status_code == 303 and response.headers["Location"] == "/"
    enrolled = user(app, bob.id)
    assert enrolled.phone == KNOWN and enrolled.phone_verified_at is not None
    assert live_amr(app, bob.id) == ["pwd", "sms", "mfa"]
    [event] = events(app, "phone.enrol")
    assert event.after["phone"] == KNOWN_MASKED


def test_enrolment_refuses_a_number_of_another_account(app, client, bob, alice):
    set_policy(app, "everyone")
    password_login(client, "bob")

    response = post_form(client, "/m/sms/sms/phone", {"phone": KNOWN}, page="/m/sms/sms/phone")

    assert response.status_code == 409
    assert "This number belongs to another account." in body(response)
    assert outbox(app) == []


def test_a_user_who_has_a_second_factor_may_not_enrol_another_in_the_login(app, client, alice):
    set_policy(app, "everyone")
    password_login(client, "alice")

    response = client.get("/m/sms/sms/phone")

    assert response.status_code == 303 and response.headers["Location"] == "/login"


def test_an_sms_authenticator_for_second_factors_only_is_not_on_the_login_page(
    app, client, make_authenticator, alice
):
    make_authenticator(
        "sms2", method="sms", title="Code to your phone", options={"use_for": "second"}
    )

    page = body(client.get("/login"))
    assert 'action="/m/sms/sms2/login"' not in page and "Code to your phone" not in page
    response = post_form(client, "/m/sms/sms2/login", {"phone": KNOWN})
    assert response.status_code == 404

    password_login(client, "alice")
    assert 'action="/m/sms/sms2/second"' in body(client.get("/login/second"))


def test_an_sms_authenticator_for_signing_in_only_is_no_second_factor(
    app, client, make_authenticator, alice
):
    with app.app_context():
        from idp.extensions import db
        from idp.models import Authenticator

        row = db.session.query(Authenticator).filter_by(name="sms").one()
        row.options = {**row.options, "use_for": "first"}
        db.session.commit()

    response = password_login(client, "alice")

    assert response.headers["Location"] == "/"
    assert live_amr(app, alice.id) == ["pwd"]
