"""Recovery codes: made at the first second factor, shown once, used once, regenerable."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from idp.auth import recovery
from idp.extensions import db
from idp.models import RecoveryCode, User, UserSession
from tests.conftest import PASSWORD, password_login, post_form
from tests.plugins.idp_totp.support import (
    ENROL,
    RECOVERY_CODE,
    REMOVE,
    body,
    code,
    events,
    give_totp,
    live_sessions,
    login_with_totp,
    shown_secret,
    signed_in,
    submit_code,
)


def enrol(client, clock) -> list[str]:
    """Set up the app from the account page; return the recovery codes shown."""
    secret = shown_secret(body(client.get(ENROL)))
    response = submit_code(client, code(secret, clock), path=ENROL, page=ENROL)
    assert response.headers["Location"] == "/account/recovery-codes"
    return RECOVERY_CODE.findall(body(client.get("/account/recovery-codes")))


def stored_hashes(app, user) -> list[RecoveryCode]:
    with app.app_context():
        rows = db.session.scalars(
            select(RecoveryCode).where(RecoveryCode.user_id == user.id).order_by(RecoveryCode.id)
        ).all()
        for row in rows:
            db.session.expunge(row)
        return list(rows)


def use_in_login(client, login: str, value: str):
    first = password_login(client, login)
    assert first.headers["Location"] == "/login/second"
    assert 'href="/login/recovery"' in body(client.get("/login/second"))
    return post_form(client, "/login/recovery", {"code": value}, page="/login/recovery")


@pytest.fixture
def alice_secret(app, alice) -> str:
    return give_totp(app, alice)


@pytest.fixture
def alice_codes(app, client, alice, alice_secret) -> list[str]:
    """Alice has an authenticator app and saved her recovery codes."""
    with app.app_context():
        codes = recovery.regenerate(db.session.get(User, alice.id))
        db.session.commit()
    return codes


def sign_in(client, secret, clock) -> None:
    """Password and a new code from the app (the clock moves on, so the code is unused)."""
    clock.advance(seconds=30)
    assert login_with_totp(client, "alice", secret, clock).status_code == 303


# -- shown once ---------------------------------------------------------------------------------


def test_ten_codes_are_shown_once_and_only_their_keyed_hash_is_stored(app, client, alice, clock):
    password_login(client, "alice")
    secret = shown_secret(body(client.get(ENROL)))
    submit_code(client, code(secret, clock), path=ENROL, page=ENROL)

    page = client.get("/account/recovery-codes")

    assert page.headers["Cache-Control"] == "no-store"
    codes = RECOVERY_CODE.findall(body(page))
    assert len(codes) == len(set(codes)) == 10
    assert "I have saved them" in body(page) and 'href="/account"' in body(page)
    again = client.get("/account/recovery-codes")
    assert again.status_code == 303 and again.headers["Location"] == "/account"
    assert "shown only once" in body(client.get("/account"))
    rows = stored_hashes(app, alice)
    assert len(rows) == 10
    with app.app_context():
        every_session = " ".join(str(r.data) for r in db.session.scalars(select(UserSession)))
    for value in codes:
        assert all(value not in row.code_hash for row in rows)
        assert value not in every_session
        assert value.replace("-", "") not in every_session
    for event in events(app):
        assert not any(value in f"{event.before} {event.after}" for value in codes)


def test_the_account_page_counts_the_codes_left(client, alice_codes, alice_secret, clock):
    sign_in(client, alice_secret, clock)

    assert "<strong>10</strong> unused codes left" in body(client.get("/account"))


def test_a_second_enrolment_brings_no_new_codes(
    app, client, alice_codes, alice_secret, alice, clock
):
    sign_in(client, alice_secret, clock)
    with app.app_context():
        user = db.session.get(User, alice.id)
        assert recovery.issue_if_first(user) is None
    assert post_form(client, REMOVE, page="/account").status_code == 303

    secret = shown_secret(body(client.get(ENROL)))
    response = submit_code(client, code(secret, clock), path=ENROL, page=ENROL)

    assert response.headers["Location"] == "/account"
    assert len(stored_hashes(app, alice)) == 10


# -- used once, in the login --------------------------------------------------------------------


def test_a_recovery_code_stands_in_for_the_second_factor_once(app, client, alice, alice_codes):
    response = use_in_login(client, "alice", alice_codes[3].lower())  # case does not matter

    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert signed_in(client)
    [row] = live_sessions(app, alice)
    assert row.amr_values == ["pwd", "mfa"]
    [used] = events(app, "recovery.used")
    assert used.target == f"user:{alice.id}"
    assert used.after == {"during": "login", "remaining": 9}
    assert events(app, "login.success")[-1].after["method"] == "password+recovery"

    post_form(client, "/logout", page="/")
    again = use_in_login(client, "alice", alice_codes[3])
    assert again.status_code == 200
    assert "not right, or it was used before" in body(again)
    assert not signed_in(client)
    assert events(app, "login.failure")[-1].after == {"method": "recovery"}


def test_a_wrong_recovery_code_is_refused_with_a_message(app, client, alice, alice_codes):
    response = use_in_login(client, "alice", "AAAA-BBBB-CCCC-DDDD")

    assert response.status_code == 200
    assert 'aria-invalid="true"' in body(response)
    assert not signed_in(client)
    assert len([r for r in stored_hashes(app, alice) if r.used_at is None]) == 10


def test_the_recovery_page_needs_a_pending_login(client, alice, alice_codes):
    assert client.get("/login/recovery").status_code == 400
    response = post_form(client, "/login/recovery", {"code": alice_codes[0]})
    assert response.status_code == 400
    assert not signed_in(client)


def test_another_users_code_does_not_work(app, client, alice, alice_codes, make_user, clock):
    bob = make_user(username="bob")
    give_totp(app, bob)
    with app.app_context():
        recovery.regenerate(db.session.get(User, bob.id))
        db.session.commit()

    response = use_in_login(client, "bob", alice_codes[0])

    assert response.status_code == 200
    assert not signed_in(client)


def test_the_recovery_link_is_offered_only_to_users_with_codes(app, client, alice, alice_secret):
    password_login(client, "alice")

    assert "/login/recovery" not in body(client.get("/login/second"))


# -- regenerated --------------------------------------------------------------------------------


def test_regenerating_replaces_every_code(app, client, alice, alice_codes, alice_secret, clock):
    sign_in(client, alice_secret, clock)

    response = post_form(client, "/account/recovery-codes", page="/account")

    assert response.status_code == 303
    assert response.headers["Location"] == "/account/recovery-codes"
    fresh = RECOVERY_CODE.findall(body(client.get("/account/recovery-codes")))
    assert len(fresh) == 10 and not set(fresh) & set(alice_codes)
    [event] = events(app, "recovery.regenerated")
    assert event.after == {"remaining": 10} and event.target == f"user:{alice.id}"
    post_form(client, "/logout", page="/")

    assert use_in_login(client, "alice", alice_codes[0]).status_code == 200
    assert use_in_login(client, "alice", fresh[0]).status_code == 303


def test_regenerating_needs_a_fresh_proof(app, client, alice, alice_codes, alice_secret, clock):
    sign_in(client, alice_secret, clock)
    clock.advance(minutes=5, seconds=1)

    response = post_form(client, "/account/recovery-codes", page="/account")

    assert response.status_code == 303
    assert response.headers["Location"] == "/account/confirm?next=/account"
    assert events(app, "recovery.regenerated") == []
    assert client.get("/account/recovery-codes").status_code == 303  # nothing to show

    post_form(client, "/account/confirm", {"with": "password", "password": PASSWORD}, page="/")
    assert post_form(client, "/account/recovery-codes", page="/account").status_code == 303
    assert len(events(app, "recovery.regenerated")) == 1
