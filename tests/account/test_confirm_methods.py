"""Confirm it's you through the AuthMethod contract: each enrolled method offers its own
fresh proof (can_confirm / render_confirm / confirm); the core knows no password."""

from __future__ import annotations

from idp.auth import reauth
from tests.conftest import password_login, post_form
from tests.plugins.idp_totp.support import body, code, events, give_totp, login_with_totp


def _sign_in_with_app(client, secret, clock) -> None:
    clock.advance(seconds=30)
    response = login_with_totp(client, "alice", secret, clock)
    assert response.status_code == 303, body(response)


def test_the_authenticator_app_offers_a_fresh_proof(app, client, alice, clock):
    secret = give_totp(app, alice)
    _sign_in_with_app(client, secret, clock)
    clock.advance(minutes=5, seconds=31)  # the login's proofs are stale; a new code step

    page = body(client.get("/account/confirm?next=/account"))
    assert 'autocomplete="one-time-code"' in page and 'type="password"' in page

    wrong = post_form(
        client, "/account/confirm", {"with": "totp", "code": "000000"}, page="/account/confirm"
    )
    assert wrong.status_code == 200
    assert "That code is not right" in body(wrong)
    assert events(app, "reauth.failure")[-1].after == {"with": "totp"}

    right = post_form(
        client,
        "/account/confirm",
        {"with": "totp", "code": code(secret, clock), "next": "/account"},
        page="/account/confirm",
    )
    assert right.status_code == 303, body(right)
    assert events(app, "reauth.success")[-1].after == {"with": "totp"}
    with client.session_transaction() as saved:
        assert "totp" in saved[reauth.PROOFS_KEY]


def test_only_methods_the_user_can_confirm_with_are_offered(app, client, alice):
    assert password_login(client, "alice").status_code == 303  # no app set up

    page = body(client.get("/account/confirm?next=/account"))

    assert 'type="password"' in page
    assert 'autocomplete="one-time-code"' not in page
    refused = post_form(
        client, "/account/confirm", {"with": "totp", "code": "123456"}, page="/account/confirm"
    )
    assert refused.status_code == 400  # not offered, so not taken
