"""What the tokens say: amr and acr per login method, claims per scope, the random subject,
and access tokens that are typed JWTs (RFC 9068) which an ID token cannot stand in for."""

from __future__ import annotations

import base64
import json

import pytest
from joserfc import jwt

from idp.extensions import db
from idp.models import User
from tests.conftest import password_login
from tests.oidc.support import ISSUER, PHONE, Rp, make_client, otp_step, sms_login


def test_sms_only_login_gives_amr_sms_and_aal1(rp, client, alice, make_authenticator):
    make_authenticator("fakesms", method="fakesms")
    assert sms_login(client).status_code == 303

    tokens = rp.login_flow(scope="openid phone")

    assert tokens.id_claims["amr"] == ["sms"]
    assert tokens.id_claims["acr"] == "aal1"


def test_password_and_app_login_gives_pwd_otp_mfa_and_aal2(rp, client, alice, make_authenticator):
    make_authenticator("fakeotp", method="fakeotp")
    first = password_login(client, "alice")
    assert first.status_code == 303 and first.location.endswith("/login/second")
    assert otp_step(client).status_code == 303

    tokens = rp.login_flow()

    assert tokens.id_claims["amr"] == ["pwd", "otp", "mfa"]
    assert tokens.id_claims["acr"] == "aal2"


def test_password_only_login_gives_pwd_and_aal1(rp, signed_in):
    tokens = rp.login_flow()

    assert tokens.id_claims["amr"] == ["pwd"] and tokens.id_claims["acr"] == "aal1"


def test_the_access_token_carries_the_same_login_facts(rp, client, alice, make_authenticator):
    make_authenticator("fakeotp", method="fakeotp")
    password_login(client, "alice")
    otp_step(client)

    tokens = rp.login_flow()
    claims = jwt.decode(tokens.access_token, rp.keyset()).claims

    assert claims["amr"] == ["pwd", "otp", "mfa"] and claims["acr"] == "aal2"
    assert claims["auth_time"] == tokens.id_claims["auth_time"]


def test_phone_claims_only_with_the_phone_scope(rp, client, alice):
    password_login(client, "alice")

    without = rp.login_flow(scope="openid profile")
    with_phone = rp.login_flow(scope="openid phone")

    assert "phone_number" not in rp.userinfo(without.access_token).get_json()
    assert "phone_number" not in without.id_claims
    info = rp.userinfo(with_phone.access_token).get_json()
    assert info["phone_number"] == PHONE and info["phone_number_verified"] is True
    assert info["phone_number"].startswith("+") and info["phone_number"][1:].isdigit()


def test_an_unverified_phone_is_said_to_be_unverified(rp, client, make_user):
    make_user(username="bob", phone="+31687654321")
    password_login(client, "bob")

    tokens = rp.login_flow(scope="openid phone")

    info = rp.userinfo(tokens.access_token).get_json()
    assert info["phone_number"] == "+31687654321" and info["phone_number_verified"] is False


def test_a_scope_the_client_may_not_ask_for_is_dropped(app, client, admin, alice):
    client_id, secret = make_client(app, scopes="openid profile")
    rp = Rp(client, client_id, secret)
    password_login(client, "alice")

    tokens = rp.login_flow(scope="openid phone profile")

    assert tokens.body["scope"].split() == ["openid", "profile"]
    assert "phone_number" not in rp.userinfo(tokens.access_token).get_json()


def test_sub_is_the_random_subject_never_the_database_id(app, rp, client, alice, admin):
    password_login(client, "alice")

    first = rp.login_flow()
    second = rp.login_flow()

    with app.app_context():
        row = db.session.get(User, alice.id)
        subject, user_id, phone = row.subject, row.id, row.phone
    sub = first.id_claims["sub"]
    assert sub == subject == second.id_claims["sub"]
    assert sub != str(user_id) and phone not in sub and len(sub) >= 16
    assert rp.userinfo(first.access_token).get_json()["sub"] == sub


def test_two_users_have_different_subjects(rp, client, alice, admin):
    password_login(client, "alice")
    alice_sub = rp.login_flow().id_claims["sub"]
    password_login(client, "root")

    assert rp.login_flow().id_claims["sub"] != alice_sub


def test_the_access_token_is_an_at_jwt_per_rfc_9068(rp, signed_in):
    tokens = rp.login_flow(scope="openid profile")

    decoded = jwt.decode(tokens.access_token, rp.keyset())

    assert decoded.header["typ"] == "at+jwt" and decoded.header["kid"]
    claims = decoded.claims
    assert claims["iss"] == ISSUER
    assert claims["sub"] == tokens.id_claims["sub"]
    assert claims["aud"] == rp.client_id == claims["client_id"]
    assert claims["exp"] - claims["iat"] == 600
    assert claims["jti"] and claims["scope"] == "openid profile"


def test_the_id_token_lives_ten_minutes_and_names_its_party(rp, signed_in):
    claims = rp.login_flow().id_claims

    assert claims["exp"] - claims["iat"] == 600
    assert claims["azp"] == rp.client_id


def test_an_id_token_is_refused_at_userinfo(rp, signed_in):
    tokens = rp.login_flow()

    response = rp.userinfo(tokens.id_token)

    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_userinfo_without_a_token_asks_for_one(client):
    response = client.get("/oauth/userinfo")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_an_expired_access_token_is_refused(rp, signed_in, clock):
    tokens = rp.login_flow()
    clock.advance(seconds=601)

    assert rp.userinfo(tokens.access_token).status_code == 401


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_a_tampered_or_unsigned_access_token_is_refused(rp, signed_in):
    tokens = rp.login_flow()
    header, payload, signature = tokens.access_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = "openid profile email phone"

    tampered = ".".join([header, _b64(claims), signature])
    unsigned = ".".join([_b64({"alg": "none", "typ": "at+jwt"}), _b64(claims), ""])

    assert rp.userinfo(tampered).status_code == 401
    assert rp.userinfo(unsigned).status_code == 401


def test_a_deactivated_user_loses_their_tokens(app, rp, client, alice):
    password_login(client, "alice")
    tokens = rp.login_flow()
    with app.app_context():
        db.session.get(User, alice.id).active = False
        db.session.commit()

    assert rp.userinfo(tokens.access_token).status_code == 401


@pytest.fixture
def es256_config(app_config):
    app_config["signing_alg"] = "ES256"
    return app_config


def test_es256_signed_tokens_verify_against_the_jwks(es256_config, app, client, admin):
    client_id, secret = make_client(app)
    rp = Rp(client, client_id, secret)
    password_login(client, "root")

    response = rp.authorize()
    body = rp.exchange(rp.code(response)).get_json()
    decoded = jwt.decode(body["id_token"], rp.keyset(), algorithms=["ES256"])

    assert decoded.header["alg"] == "ES256" and decoded.header["kid"]
    assert rp.userinfo(body["access_token"]).status_code == 200
