"""Signing up and in with a phone number and a texted code: the happy paths and the pages."""

from __future__ import annotations

import logging
import threading

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from idp.extensions import db
from idp.models import User
from tests.conftest import csrf_token, post_form
from tests.database import is_postgres
from tests.plugins.idp_sms.support import (
    KNOWN,
    KNOWN_MASKED,
    ORIGIN_LINE,
    body,
    challenges,
    enter,
    events,
    last_code,
    live_amr,
    logout,
    outbox,
    sms_login,
    start,
    users_with_phone,
)

pytestmark = pytest.mark.usefixtures("sms")


def test_login_page_asks_for_a_phone_number(client):
    page = body(client.get("/login"))

    assert 'action="/m/sms/sms/login"' in page
    assert 'type="tel"' in page and 'autocomplete="tel"' in page
    assert '<label for="sms-phone">Phone number</label>' in page
    assert "06 12345678" in page  # an example in the notation of the default region


def test_sign_up_with_a_dutch_number_then_log_out_and_in_again(app, client, clock, caplog):
    caplog.set_level(logging.DEBUG)
    response = start(client, "06-1234 5678")

    assert response.status_code == 303
    assert response.headers["Location"] == "/m/sms/sms/login/code"
    [message] = outbox(app)
    assert message["to"] == KNOWN and message["purpose"] == "signup"
    assert users_with_phone(app, KNOWN) == []  # nothing exists before the code is typed

    page = body(client.get("/m/sms/sms/login/code"))
    assert KNOWN_MASKED in page and KNOWN not in page
    assert 'inputmode="numeric"' in page
    assert 'autocomplete="one-time-code"' in page
    assert 'pattern="[0-9]*"' in page
    assert "Use another number" in page and "Send a new code" in page
    assert "ask for a new code in 60 seconds" in page

    response = enter(client, last_code(app))

    assert response.status_code == 303 and response.headers["Location"] == "/"
    [user] = users_with_phone(app, KNOWN)
    assert user.nickname == KNOWN
    assert user.phone_verified_at is not None
    assert live_amr(app, user.id) == ["sms"]
    assert [e.target for e in events(app, "user.signup")] == [f"user:{user.id}"]
    assert events(app, "user.signup")[0].after["phone"] == KNOWN_MASKED

    logout(client)
    assert client.get("/").status_code == 302
    clock.advance(seconds=60)  # one code per number per minute, whatever it is for
    response = start(client, "+31 6 12345678")
    assert outbox(app)[-1]["purpose"] == "login"
    response = enter(client, last_code(app))

    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert [u.id for u in users_with_phone(app, KNOWN)] == [user.id]
    assert client.get("/").status_code == 200
    # Never a code, a message body or a whole number in the log (security.md S8).
    for message in outbox(app):
        assert ORIGIN_LINE.search(message["text"]).group("code") not in caplog.text
    assert KNOWN not in caplog.text and "sign-up code" not in caplog.text
    assert KNOWN_MASKED in caplog.text


@pytest.mark.parametrize(
    "typed", ["06-1234 5678", "0612345678", "+31 (0)6 12 34 56 78", "0031612345678"]
)
def test_common_notations_reach_the_same_number(app, client, typed):
    assert start(client, typed).status_code == 303
    assert outbox(app)[-1]["to"] == KNOWN


def test_the_message_ends_in_the_origin_bound_line_of_the_request_host(app, client):
    app.config["SERVER_NAME"] = "login.example.nl"  # the host the test client browses

    start(client, KNOWN)

    text = outbox(app)[-1]["text"]
    match = ORIGIN_LINE.search(text)
    assert match and match.group("host") == "login.example.nl"
    assert text.startswith(f"Your Poort sign-up code is {match.group('code')}.")
    assert enter(client, match.group("code")).status_code == 303


def test_the_message_follows_the_browsers_language(app, client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "nl-NL,nl;q=0.9,en;q=0.5"

    start(client, KNOWN)

    assert outbox(app)[-1]["text"].startswith("Je Poort-aanmeldcode is ")


def test_a_known_user_logs_in_and_the_number_counts_as_verified(app, client, make_user):
    alice = make_user(nickname="Alice", phone=KNOWN)  # set by an admin, never verified

    response = sms_login(app, client, "06 12345678")

    assert response.status_code == 303
    assert user_verified(app, alice.id)
    assert live_amr(app, alice.id) == ["sms"]
    assert len(users_with_phone(app, KNOWN)) == 1


def user_verified(app, user_id: int) -> bool:
    with app.app_context():
        return db.session.get(User, user_id).phone_verified_at is not None


def test_use_another_number_forgets_the_pending_code(app, client):
    start(client, KNOWN)

    response = post_form(client, "/m/sms/sms/login/restart", page="/m/sms/sms/login/code")

    assert response.status_code == 303 and response.headers["Location"] == "/login"
    response = client.get("/m/sms/sms/login/code")
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert "Enter your phone number again." in body(client.get("/login"))


def test_the_pending_code_lives_in_the_server_session_not_in_the_page(app, client):
    start(client, KNOWN)
    page = body(client.get("/m/sms/sms/login/code"))

    [challenge] = challenges(app)
    assert challenge.public_id not in page
    assert 'type="hidden" name="phone"' not in page and "purpose" not in page


def test_no_half_created_account_when_the_commit_fails_after_the_code(app, client, clock):
    start(client, KNOWN)
    code = last_code(app)

    def note_new_users(session, flush_context):
        if any(isinstance(obj, User) for obj in session.new):
            session.info["new_user"] = True

    def fail_commit(session):
        if session.info.pop("new_user", False):
            raise RuntimeError("the database went away")

    event.listen(Session, "after_flush", note_new_users)
    event.listen(Session, "before_commit", fail_commit)
    try:
        response = enter(client, code)
    finally:
        event.remove(Session, "after_flush", note_new_users)
        event.remove(Session, "before_commit", fail_commit)

    assert response.status_code == 500
    assert users_with_phone(app, KNOWN) == []
    assert events(app, "user.signup") == []
    [challenge] = challenges(app)
    assert challenge.consumed_at is None  # the code was not spent either
    # The failed login left no session behind that a later account could inherit.
    clock.advance(seconds=60)
    assert sms_login(app, app.test_client(), KNOWN).status_code == 303
    assert client.get("/").status_code == 302


def test_a_number_registered_meanwhile_gives_one_account_and_a_clear_message(
    app, client, make_user
):
    start(client, KNOWN)  # unknown number: a sign-up code
    other = make_user(nickname="Quicker", phone=KNOWN)  # another sign-up finished first

    response = enter(client, last_code(app))

    assert response.status_code == 409
    assert "This number was registered a moment ago" in body(response)
    assert [u.id for u in users_with_phone(app, KNOWN)] == [other.id]
    assert client.get("/").status_code == 302  # not signed in


def test_one_sign_up_code_sent_many_times_at_once_makes_one_account(app, client):
    """security.md S3 and L5: one code, submitted by eight requests at the same moment (a
    double click, a replay), signs up exactly once and leaves no orphan rows."""
    if not is_postgres(app.config["SQLALCHEMY_DATABASE_URI"]):
        pytest.skip("SQLite serialises writers; the race needs PostgreSQL")
    start(client, KNOWN)
    code = last_code(app)
    token = csrf_token(client, "/m/sms/sms/login/code")
    cookie = client.get_cookie("__Host-poort_session")
    assert cookie is not None
    n = 8
    barrier = threading.Barrier(n)
    statuses: list[int] = []
    lock = threading.Lock()

    def attempt() -> None:
        browser = app.test_client()
        browser.set_cookie(cookie.key, cookie.value)
        barrier.wait()
        response = browser.post("/m/sms/sms/login/code", data={"csrf_token": token, "code": code})
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=attempt) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [303] + [400] * (n - 1)
    assert len(users_with_phone(app, KNOWN)) == 1
    assert len(events(app, "user.signup")) == 1
    assert [c.consumed_at is not None for c in challenges(app)] == [True]
