"""The account page: profile, second factors, confirm it's you, sessions, recent sign-ins."""

from __future__ import annotations

import re

import pytest
from flask import session

from idp import site_settings
from idp.auth import reauth
from idp.extensions import db
from idp.models import User
from tests.conftest import PASSWORD, csrf_token, password_login, post_form
from tests.plugins.idp_totp.support import (
    ENROL,
    REMOVE,
    body,
    code,
    credential,
    events,
    give_totp,
    live_sessions,
    login_with_totp,
    signed_in,
    submit_code,
)


@pytest.fixture
def secret(app, alice) -> str:
    return give_totp(app, alice)


def sign_in(client, secret, clock, login="alice") -> None:
    """Password and a code the app shows after the clock moved on (so it is unused)."""
    clock.advance(seconds=30)
    response = login_with_totp(client, login, secret, clock)
    assert response.status_code == 303, body(response)


def require_everyone(app) -> None:
    with app.app_context():
        site_settings.put("second_factor_policy", "everyone")
        db.session.commit()


def confirm(client, password=PASSWORD, next_url="/account"):
    return post_form(
        client,
        "/account/confirm",
        {"with": "password", "password": password, "next": next_url},
        page="/account/confirm",
    )


# -- who may see it -----------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_login_page_and_back(client, alice):
    response = client.get("/account")

    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/account"
    client.get(response.headers["Location"])
    assert password_login(client, "alice").headers["Location"] == "/account"


@pytest.mark.parametrize(
    "path",
    ["/account/confirm", "/account/recovery-codes", "/account/sessions/sign-out-others", REMOVE],
)
def test_anonymous_posts_change_nothing(client, alice, path):
    response = post_form(client, path)

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_the_header_links_to_the_account_page(client, alice):
    password_login(client, "alice")

    assert 'href="/account"' in body(client.get("/"))


@pytest.mark.parametrize(
    "path",
    ["/account/confirm", "/account/recovery-codes", "/account/sessions/sign-out-others", REMOVE],
)
def test_every_form_needs_the_csrf_token(app, client, alice, path):
    password_login(client, "alice")

    response = client.post(path, data={"with": "password", "password": PASSWORD})

    assert response.status_code == 400
    assert events(app, "sessions.signed_out_others") == []


# -- profile ------------------------------------------------------------------------------------


def test_the_profile_shows_who_you_are_with_the_phone_masked(client, make_user, methods):
    make_user(username="carol", email="carol@example.org", nickname="Carol C", phone="+31612345678")
    password_login(client, "carol")

    page = body(client.get("/account"))

    assert "Carol C" in page and "carol" in page and "carol@example.org" in page
    assert "+31*******78" in page
    assert "+31612345678" not in page and "612345678" not in page


# -- second factors -----------------------------------------------------------------------------


def test_the_app_section_says_when_it_was_set_up_and_offers_removal(client, alice, secret, clock):
    sign_in(client, secret, clock)

    page = body(client.get("/account"))

    assert "Set up on 2026-01-05" in page
    assert f'action="{REMOVE}"' in page
    assert f'href="{ENROL}"' not in page


def test_removing_the_app_right_after_the_login_needs_no_new_proof(
    app, client, alice, secret, clock
):
    """The login's password counts as a proof for five minutes."""
    sign_in(client, secret, clock)

    response = post_form(client, REMOVE, page="/account")

    assert response.status_code == 303 and response.headers["Location"] == "/account"
    assert credential(app, alice) is None
    [removed] = events(app, "totp.removed")
    assert removed.target == f"user:{alice.id}"
    assert "Your authenticator app is removed." in body(client.get("/account"))
    post_form(client, "/logout", page="/")
    assert password_login(client, "alice").headers["Location"] == "/"


def test_removing_the_app_later_needs_a_fresh_proof(app, client, alice, secret, clock):
    sign_in(client, secret, clock)
    clock.advance(minutes=5, seconds=1)

    response = post_form(client, REMOVE, page="/account")

    assert response.status_code == 303
    assert response.headers["Location"] == "/account/confirm?next=/account"
    assert credential(app, alice) is not None
    assert events(app, "totp.removed") == []

    page = body(client.get("/account/confirm?next=/account"))
    assert 'type="password"' in page and 'autocomplete="current-password"' in page
    wrong = confirm(client, "not my password")
    assert wrong.status_code == 200
    assert "That password is not right." in body(wrong)
    assert events(app, "reauth.failure")[-1].after == {"with": "password"}
    assert (
        post_form(client, REMOVE, page="/account")
        .headers["Location"]
        .startswith("/account/confirm")
    )

    right = confirm(client)
    assert right.status_code == 303 and right.headers["Location"] == "/account"
    assert events(app, "reauth.success")[-1].after == {"with": "password"}
    assert post_form(client, REMOVE, page="/account").headers["Location"] == "/account"
    assert credential(app, alice) is None


def test_a_proof_with_the_factor_being_removed_does_not_count(app, alice):
    with app.test_request_context("/"):
        reauth.record("totp")
        assert reauth.fresh()
        assert not reauth.fresh(other_than="totp")
        reauth.record("password")
        assert reauth.fresh(other_than="totp")
        assert set(session[reauth.PROOFS_KEY]) == {"totp", "password"}


def test_the_earlier_login_of_a_step_up_is_no_new_proof(app, alice, clock):
    with app.test_request_context("/"):
        at = clock().isoformat()
        reauth.record_factors(
            [
                {"authenticator": "session", "method": "session", "amr": ["pwd"], "at": at},
                {"authenticator": "totp", "method": "totp", "amr": ["otp"], "at": at},
            ]
        )
        assert reauth.fresh()
        assert not reauth.fresh(other_than="totp")


def test_a_recovery_code_is_a_proof_and_is_used_up(app, client, alice, secret, clock):
    from idp.auth import recovery

    with app.app_context():
        codes = recovery.regenerate(db.session.get(User, alice.id))
        db.session.commit()
    sign_in(client, secret, clock)
    clock.advance(minutes=6)

    response = post_form(
        client, "/account/confirm", {"with": "recovery", "code": codes[0]}, page="/account/confirm"
    )

    assert response.status_code == 303
    assert post_form(client, REMOVE, page="/account").headers["Location"] == "/account"
    assert credential(app, alice) is None
    assert events(app, "recovery.used")[-1].after == {"during": "confirm", "remaining": 9}
    reused = post_form(
        client, "/account/confirm", {"with": "recovery", "code": codes[0]}, page="/account/confirm"
    )
    assert reused.status_code == 200


def test_the_confirm_page_never_leads_to_another_site(client, alice, secret, clock):
    sign_in(client, secret, clock)

    response = confirm(client, next_url="//evil.example/")

    assert response.headers["Location"] == "/account"


def test_signing_in_again_is_a_proof_for_users_without_a_password(
    app, client, make_user, methods, clock
):
    """A user with no password and no codes confirms by signing in again."""
    make_user(username="erin")
    password_login(client, "erin")
    clock.advance(minutes=6)
    page = body(client.get("/account/confirm?next=/m/totp/totp/enrol"))
    assert "Sign out and sign in again" in page

    response = post_form(
        client, "/account/confirm/sign-in-again", {"next": ENROL}, page="/account/confirm"
    )

    assert response.status_code == 303
    assert response.headers["Location"] == f"/login?next={ENROL}"
    assert not signed_in(client)
    client.get(response.headers["Location"])
    assert password_login(client, "erin").headers["Location"] == ENROL
    assert client.get(ENROL).status_code == 200


def test_the_last_required_factor_cannot_be_removed(app, client, alice, secret, clock):
    require_everyone(app)
    sign_in(client, secret, clock)

    response = post_form(client, REMOVE, page="/account")

    assert response.status_code == 303 and response.headers["Location"] == "/account"
    assert credential(app, alice) is not None
    assert "This is your last second factor" in body(client.get("/account"))
    assert events(app, "totp.removed") == []


def test_an_optional_last_factor_can_be_removed(app, client, alice, secret, clock):
    with app.app_context():
        site_settings.put("second_factor_policy", "optional")
        db.session.commit()
    sign_in(client, secret, clock)

    post_form(client, REMOVE, page="/account")

    assert credential(app, alice) is None


def test_enrol_from_the_account_then_sign_in_with_the_app(app, client, alice, clock):
    password_login(client, "alice")
    page = body(client.get(ENROL))
    app_secret = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', page).group(1)
    app_secret = app_secret.replace(" ", "")
    submit_code(client, code(app_secret, clock), path=ENROL, page=ENROL)
    post_form(client, "/logout", page="/")

    sign_in(client, app_secret, clock)

    [row] = live_sessions(app, alice)
    assert row.amr_values == ["pwd", "otp", "mfa"]


# -- sessions -----------------------------------------------------------------------------------


def test_sessions_are_listed_with_this_one_marked(app, client, alice, secret, clock):
    other = app.test_client()
    sign_in(other, secret, clock)
    sign_in(client, secret, clock)

    page = body(client.get("/account", headers={"User-Agent": "TestBrowser/1.0"}))

    assert page.count("<tr") - page.count("<tr><th") >= 2
    assert page.count("this session") == 1
    assert "pwd, otp, mfa" in page
    assert len(live_sessions(app, alice)) == 2


def test_sign_out_all_other_sessions_keeps_this_one(app, client, alice, secret, clock, make_user):
    phone = app.test_client()
    sign_in(phone, secret, clock)
    laptop = app.test_client()
    sign_in(laptop, secret, clock)
    bob = make_user(username="bob")
    bobs = app.test_client()
    password_login(bobs, "bob")
    sign_in(client, secret, clock)

    response = post_form(client, "/account/sessions/sign-out-others", page="/account")

    assert response.status_code == 303 and response.headers["Location"] == "/account"
    assert "signed out everywhere else" in body(client.get("/account"))
    assert signed_in(client)
    assert not signed_in(phone) and not signed_in(laptop)
    assert signed_in(bobs)
    assert len(live_sessions(app, alice)) == 1
    assert len(live_sessions(app, bob)) == 1
    [event] = events(app, "sessions.signed_out_others")
    assert event.after == {"count": 2} and event.target == f"user:{alice.id}"


# -- recent sign-ins ----------------------------------------------------------------------------


def test_recent_sign_ins_show_successes_and_failures_of_this_user_only(
    app, client, alice, secret, clock, make_user
):
    make_user(username="bob")
    password_login(app.test_client(), "bob")
    password_login(client, "alice")
    client.post(
        "/m/totp/totp/verify",
        data={"csrf_token": csrf_token(client, "/login/second"), "code": "000000"},
    )
    clock.advance(seconds=30)
    submit_code(client, code(secret, clock))

    page = body(client.get("/account"))
    section = page.split('id="account-logins"', 1)[1]

    assert section.count("failed") == 1
    assert "signed in" in section
    assert "password+totp" in section
    assert section.count("<tr>") == 2 + 1  # header row + two sign-ins


def test_recent_sign_ins_list_the_last_ten(app, client, alice, secret, clock):
    for _ in range(12):
        sign_in(client, secret, clock)

    section = body(client.get("/account")).split('id="account-logins"', 1)[1]

    assert section.count("password+totp") == 10
