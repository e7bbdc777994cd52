"""acr_values=aal2: a client asks for multi-factor and Poort steps the user up first."""

from __future__ import annotations

from tests.conftest import password_login
from tests.oidc.support import otp_step, sms_login


def _resume(rp, response, step):
    """Do the second factor, come back, and return the authorization response."""
    assert step.status_code == 303 and step.location.endswith("/oauth/authorize/resume")
    back = rp.browser.get(step.location)
    back.sent = response.sent
    return back


def test_a_password_session_is_stepped_up_to_the_second_factor(
    rp, client, alice, make_authenticator
):
    password_login(client, "alice")  # no second factor on offer yet: amr pwd
    assert rp.login_flow().id_claims["acr"] == "aal1"
    make_authenticator("fakeotp", method="fakeotp")

    response = rp.authorize(acr_values="aal2", nonce="up")

    assert response.status_code == 302 and response.location.endswith("/login/second")
    assert "fake-otp" in client.get("/login/second").get_data(as_text=True)
    back = _resume(rp, response, otp_step(client))
    tokens = rp.tokens(rp.exchange(rp.code(back)), nonce="up")
    assert tokens.id_claims["acr"] == "aal2"
    assert tokens.id_claims["amr"] == ["pwd", "otp", "mfa"]


def test_an_sms_session_is_stepped_up_too(rp, client, alice, make_authenticator):
    make_authenticator("fakesms", method="fakesms")
    sms_login(client)
    make_authenticator("fakeotp", method="fakeotp")

    response = rp.authorize(acr_values="aal2")

    assert response.location.endswith("/login/second")
    back = _resume(rp, response, otp_step(client))
    tokens = rp.tokens(rp.exchange(rp.code(back)))
    assert tokens.id_claims["amr"] == ["sms", "otp", "mfa"]
    assert tokens.id_claims["acr"] == "aal2"


def test_a_multi_factor_session_needs_no_step_up(rp, client, alice, make_authenticator):
    make_authenticator("fakeotp", method="fakeotp")
    password_login(client, "alice")
    otp_step(client)

    tokens = rp.login_flow(acr_values="aal2")

    assert tokens.id_claims["acr"] == "aal2"


def test_the_stepped_up_session_serves_later_requests_silently(
    rp, client, alice, make_authenticator
):
    password_login(client, "alice")
    make_authenticator("fakeotp", method="fakeotp")
    response = rp.authorize(acr_values="aal2")
    rp.code(_resume(rp, response, otp_step(client)))

    tokens = rp.login_flow(prompt="none", acr_values="aal2")

    assert tokens.id_claims["acr"] == "aal2"


def test_prompt_none_cannot_step_up(rp, client, alice, make_authenticator):
    password_login(client, "alice")
    make_authenticator("fakeotp", method="fakeotp")

    response = rp.authorize(acr_values="aal2", prompt="none")

    error = rp.error(response)
    assert error["error"] == "interaction_required" and error["state"] == response.sent["state"]


def test_without_a_second_factor_the_login_goes_on_at_aal1(rp, client, alice):
    password_login(client, "alice")

    tokens = rp.login_flow(acr_values="aal2")

    assert tokens.id_claims["acr"] == "aal1" and tokens.id_claims["amr"] == ["pwd"]


def test_an_anonymous_user_logs_in_with_both_factors_when_aal2_is_asked(
    rp, client, alice, make_authenticator
):
    make_authenticator("fakeotp", method="fakeotp")

    response = rp.authorize(acr_values="aal2")
    assert response.location.endswith("/login")
    first = password_login(client, "alice")
    assert first.location.endswith("/login/second")
    back = _resume(rp, response, otp_step(client))

    assert rp.tokens(rp.exchange(rp.code(back))).id_claims["acr"] == "aal2"
