"""Setting up an authenticator app: the QR code, the secret at rest, the first code."""

from __future__ import annotations

import base64
import re

from sqlalchemy import select

from idp import site_settings, state
from idp.extensions import db
from idp.models import SiteSetting, UserSession
from idp.options import OptionsInvalid, validate_options
from idp_totp import TotpMethod, TotpOptions, qr_svg
from tests.conftest import password_login, post_form
from tests.plugins.idp_totp.support import (
    ENROL,
    RECOVERY_CODE,
    body,
    code,
    credential,
    events,
    give_totp,
    live_sessions,
    shown_secret,
    submit_code,
)


def enrol_page(client) -> str:
    response = client.get(ENROL)
    assert response.status_code == 200, response.headers.get("Location")
    return body(response)


# -- the page -----------------------------------------------------------------------------------


def test_the_account_page_offers_to_set_up_an_app(client, alice):
    password_login(client, "alice")

    page = body(client.get("/account"))

    assert "Authenticator app" in page
    assert f'href="{ENROL}"' in page


def test_the_page_shows_an_inline_svg_qr_code_and_the_secret_in_groups_of_four(client, alice):
    password_login(client, "alice")

    page = enrol_page(client)

    assert "<svg" in page and "<path" in page
    assert "<img" not in page and "<script" not in page and "data:image" not in page
    grouped = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', page).group(1)
    assert re.fullmatch(r"([A-Z2-7]{4} ){7}[A-Z2-7]{4}", grouped)
    secret = grouped.replace(" ", "")
    assert len(base64.b32decode(secret)) >= 20  # 160 bits (security.md T1)
    assert "otpauth://" not in page  # the URI travels in the QR code only
    field = re.search(r'<input id="totp-enrol-code"[^>]*>', page, re.S).group(0)
    assert 'inputmode="numeric"' in field and 'autocomplete="one-time-code"' in field


def test_the_qr_code_is_only_paths_with_a_title():
    svg = str(qr_svg("otpauth://totp/Poort:alice?secret=JBSWY3DPEHPK3PXP&issuer=Poort"))

    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<title>" in svg
    assert "<script" not in svg and "href" not in svg and "JBSWY3DPEHPK3PXP" not in svg


def test_reloading_the_page_shows_the_same_secret_until_it_is_old(client, alice, clock):
    password_login(client, "alice")
    first = shown_secret(enrol_page(client))

    assert shown_secret(enrol_page(client)) == first

    clock.advance(minutes=11)
    password_login(client, "alice")  # signing in again is a fresh proof
    assert shown_secret(enrol_page(client)) != first


def test_the_secret_is_sealed_at_rest(app, client, alice):
    password_login(client, "alice")
    secret = shown_secret(enrol_page(client))

    stored = credential(app, alice)
    assert stored is not None and stored.confirmed_at is None
    assert stored.secret and secret not in stored.secret
    assert base64.b32encode(base64.b32decode(secret)).decode() not in stored.secret
    with app.app_context():
        assert state.current().secret_box.open(stored.secret) == secret
        # Nor anywhere else: no session row, setting or audit entry holds it.
        for row in db.session.scalars(select(UserSession)):
            assert secret not in str(row.data)
        for row in db.session.scalars(select(SiteSetting)):
            assert secret not in str(row.value)
    for event in events(app):
        assert secret not in f"{event.before} {event.after}"


# -- confirming ---------------------------------------------------------------------------------


def test_the_first_code_confirms_and_recovery_codes_are_shown(app, client, alice, clock):
    password_login(client, "alice")
    secret = shown_secret(enrol_page(client))

    response = submit_code(client, code(secret, clock), path=ENROL, page=ENROL)

    assert response.status_code == 303
    assert response.headers["Location"] == "/account/recovery-codes"
    stored = credential(app, alice)
    assert stored.confirmed_at == clock()
    codes = RECOVERY_CODE.findall(body(client.get("/account/recovery-codes")))
    assert len(codes) == 10
    [enrolled] = events(app, "totp.enrolled")
    assert enrolled.target == f"user:{alice.id}"
    assert len(events(app, "recovery.issued")) == 1


def test_a_wrong_first_code_does_not_confirm(app, client, alice, clock):
    password_login(client, "alice")
    secret = shown_secret(enrol_page(client))
    wrong = f"{(int(code(secret, clock)) + 1) % 1_000_000:06d}"

    response = submit_code(client, wrong, path=ENROL, page=ENROL)

    assert response.status_code == 200
    page = body(response)
    assert "That code is not right" in page
    assert 'aria-invalid="true"' in page
    assert shown_secret(page) == secret  # the same setup, to try again
    assert credential(app, alice).confirmed_at is None
    assert events(app, "totp.enrolled") == []
    # An unconfirmed app is no second factor: the next login needs only the password.
    post_form(client, "/logout", page="/")
    assert password_login(client, "alice").headers["Location"] == "/"


def test_a_code_for_another_secret_does_not_confirm(app, client, alice, clock):
    password_login(client, "alice")
    enrol_page(client)

    response = submit_code(
        client, code("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", clock), path=ENROL, page=ENROL
    )

    assert response.status_code == 200
    assert credential(app, alice).confirmed_at is None


def test_anonymous_visitors_cannot_enrol(client, alice):
    response = client.get(ENROL)

    assert response.status_code == 303
    assert response.headers["Location"] == "/login"


def test_a_pending_login_that_has_a_factor_cannot_enrol_another(app, client, alice, clock):
    """Otherwise a password alone would replace the second factor."""
    give_totp(app, alice)
    assert password_login(client, "alice").headers["Location"] == "/login/second"

    response = client.get(ENROL)

    assert response.status_code == 303
    assert response.headers["Location"] == "/login"


def test_an_app_already_set_up_is_not_enrolled_again(app, client, alice, clock):
    secret = give_totp(app, alice)
    password_login(client, "alice")
    clock.advance(seconds=30)
    submit_code(client, code(secret, clock))

    response = client.get(ENROL)

    assert response.status_code == 303
    assert response.headers["Location"] == "/account"
    assert credential(app, alice).secret is not None


def test_enrolment_from_the_account_needs_a_fresh_proof(client, alice, clock):
    password_login(client, "alice")
    clock.advance(minutes=6)

    response = client.get(ENROL)

    assert response.status_code == 303
    assert response.headers["Location"].startswith("/account/confirm?next=")
    confirmed = post_form(
        client,
        "/account/confirm",
        {"with": "password", "password": "correct horse battery staple", "next": ENROL},
        page="/account/confirm",
    )
    assert confirmed.headers["Location"] == ENROL
    assert client.get(ENROL).status_code == 200


# -- forced enrolment ---------------------------------------------------------------------------


def test_required_policy_leads_through_enrolment_and_the_app_finishes_the_login(
    app, client, alice, clock
):
    with app.app_context():
        site_settings.put("second_factor_policy", "everyone")
        db.session.commit()

    first = password_login(client, "alice")
    assert first.headers["Location"] == "/login/enrol"
    choices = body(client.get("/login/enrol"))
    assert f'href="{ENROL}"' in choices
    secret = shown_secret(enrol_page(client))
    assert not live_sessions(app, alice) or all(s.amr is None for s in live_sessions(app, alice))

    response = submit_code(client, code(secret, clock), path=ENROL, page=ENROL)

    assert response.status_code == 303
    assert response.headers["Location"] == "/account/recovery-codes"
    [row] = [s for s in live_sessions(app, alice) if s.amr]
    assert row.amr_values == ["pwd", "otp", "mfa"]
    assert row.auth_time == clock()
    shown = client.get("/account/recovery-codes")
    assert len(RECOVERY_CODE.findall(body(shown))) == 10
    assert 'href="/"' in body(shown)  # "I have saved them" continues the login
    assert "Hello, Alice" in body(client.get("/"))
    [success] = events(app, "login.success")
    assert success.after == {"method": "password+totp", "amr": ["pwd", "otp", "mfa"]}


def test_forced_enrolment_keeps_where_the_login_was_going(app, client, alice, clock):
    with app.app_context():
        site_settings.put("second_factor_policy", "everyone")
        db.session.commit()
    client.get("/login?next=/account")
    password_login(client, "alice")
    secret = shown_secret(enrol_page(client))

    submit_code(client, code(secret, clock), path=ENROL, page=ENROL)

    assert 'href="/account"' in body(client.get("/account/recovery-codes"))


# -- options ------------------------------------------------------------------------------------


def test_options_are_issuer_and_six_or_eight_digits(app):
    with app.app_context():
        box = state.current().secret_box
        assert validate_options(TotpOptions, {}, box) == {"issuer": None, "digits": "6"}
        assert validate_options(TotpOptions, {"digits": 8, "issuer": "Acme"}, box) == {
            "issuer": "Acme",
            "digits": "8",
        }
        for bad in ({"digits": 7}, {"issuer": "x" * 61}, {"secret": "no"}):
            try:
                validate_options(TotpOptions, bad, box)
            except OptionsInvalid:
                continue
            raise AssertionError(f"{bad} was accepted")


def test_issuer_defaults_to_the_site_name(app, make_authenticator):
    with app.app_context():
        row = make_authenticator("totp", method="totp")
        assert TotpMethod(row, {}).issuer == state.settings().site_name
        assert TotpMethod(row, {"issuer": "Acme"}).issuer == "Acme"


def test_eight_digit_codes(app, client, make_user, make_authenticator, clock):
    make_authenticator("password")
    make_authenticator("totp", method="totp", options={"digits": "8", "issuer": "Acme"})
    make_user(username="dora")
    password_login(client, "dora")
    page = enrol_page(client)
    assert "8-digit code" in page
    secret = shown_secret(page)

    assert submit_code(client, code(secret, clock), path=ENROL, page=ENROL).status_code == 200
    response = submit_code(client, code(secret, clock, digits=8), path=ENROL, page=ENROL)

    assert response.status_code == 303
