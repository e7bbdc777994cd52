"""Pytest replicas of the OpenID conformance suite's Basic OP plan
(``oidcc-basic-certification-test-plan``, security.md section 4.1).

Each test is named after the module it copies. Like the suite, most modules use the code flow
with a confidential client authenticating with ``client_secret_basic`` and no PKCE; every
token response passes the suite's standard ID token checks (``Rp.tokens``: issuer, audience,
times, ``auth_time``, ``acr``, signature with a ``kid``, nonce only when sent), and every
authorization response is checked for ``state`` and ``iss``.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import urlencode

import pytest
from joserfc import jwt

from tests.conftest import PASSWORD, password_login
from tests.oidc.support import ISSUER, PHONE, REDIRECT, Rp, make_client, query_of


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_oidcc_server(rp, signed_in):
    tokens = rp.login_flow(scope="openid", nonce="n-0S6_WzA2Mj")

    info = rp.userinfo(tokens.access_token)

    assert info.status_code == 200
    assert info.headers["Content-Type"].startswith("application/json")
    assert info.get_json()["sub"] == tokens.id_claims["sub"]
    assert tokens.id_claims["amr"] == ["pwd"] and tokens.id_claims["acr"] == "aal1"


def test_oidcc_response_type_missing(rp, signed_in):
    params = rp.params()
    del params["response_type"]

    response = rp.browser.get("/oauth/authorize", query_string=params)

    # Either an error redirect to the (registered) redirect URI or an error page, never a code.
    if response.status_code == 302:
        query = query_of(response.location)
        assert response.location.startswith(REDIRECT + "?")
        assert query["error"] in ("unsupported_response_type", "invalid_request")
        assert query["state"] == params["state"] and query["iss"] == ISSUER
        assert "code" not in query
    else:
        assert response.status_code == 400
        assert "Location" not in response.headers


def test_oidcc_idtoken_signature(rp, signed_in):
    tokens = rp.login_flow()
    jwks = rp.browser.get("/oauth/jwks").get_json()

    kids = [key["kid"] for key in jwks["keys"]]
    assert all(kids) and len(set(kids)) == len(kids)
    assert tokens.id_header["kid"] in kids
    assert tokens.id_header["alg"] == "RS256"
    # The key with that kid alone verifies it.
    [key] = [k for k in jwks["keys"] if k["kid"] == tokens.id_header["kid"]]
    assert key["kty"] == "RSA" and key["use"] == "sig" and "d" not in key
    jwt.decode(tokens.id_token, rp.keyset().get_by_kid(key["kid"]))


def test_oidcc_idtoken_unsigned_is_skipped_because_none_is_never_advertised(client):
    metadata = client.get("/.well-known/openid-configuration").get_json()

    assert "none" not in metadata["id_token_signing_alg_values_supported"]
    assert "none" not in json.dumps(metadata["id_token_signing_alg_values_supported"]).lower()


@pytest.mark.parametrize("how", ["get", "post-header", "post-body"])
def test_oidcc_userinfo(rp, signed_in, how):
    tokens = rp.login_flow(scope="openid profile")

    info = rp.userinfo(tokens.access_token, how)

    assert info.status_code == 200, info.get_data(as_text=True)
    assert info.get_json() == {
        "sub": tokens.id_claims["sub"],
        "name": "Root",
        "nickname": "Root",
        "preferred_username": "root",
    }


def test_oidcc_ensure_request_without_nonce_succeeds_for_code_flow(rp, signed_in):
    response = rp.authorize()
    assert "nonce" not in response.sent

    tokens = rp.tokens(rp.exchange(rp.code(response)), nonce=None)

    assert "nonce" not in tokens.id_claims


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("openid profile", {"name": "Alice", "nickname": "Alice", "preferred_username": "alice"}),
        ("openid email", {"email": "alice@example.org", "email_verified": False}),
        ("openid phone", {"phone_number": PHONE, "phone_number_verified": True}),
        (
            "openid profile email phone",
            {
                "name": "Alice",
                "nickname": "Alice",
                "preferred_username": "alice",
                "email": "alice@example.org",
                "email_verified": False,
                "phone_number": PHONE,
                "phone_number_verified": True,
            },
        ),
    ],
    ids=["scope-profile", "scope-email", "scope-phone", "scope-all"],
)
def test_oidcc_scope(rp, client, alice, scope, expected):
    password_login(client, "alice")

    tokens = rp.login_flow(scope=scope)
    info = rp.userinfo(tokens.access_token).get_json()

    assert info == {"sub": tokens.id_claims["sub"], **expected}


def test_oidcc_alternate_happy_flow(rp, signed_in):
    # Scopes in reverse order and the query parameters in another order than usual.
    params = rp.params(scope="phone email profile openid", nonce="alt")
    query = urlencode(list(reversed(list(params.items()))))

    response = rp.browser.get(f"/oauth/authorize?{query}")
    response.sent = params
    tokens = rp.tokens(rp.exchange(rp.code(response)), nonce="alt")

    assert set(tokens.body["scope"].split()) == {"openid", "profile", "email", "phone"}


@pytest.mark.parametrize("display", ["page", "popup"])
def test_oidcc_display(rp, signed_in, display):
    rp.login_flow(display=display)


def test_oidcc_prompt_login(rp, client, admin, clock):
    password_login(client, "root")
    first = rp.login_flow()
    clock.advance(seconds=5)

    response = rp.authorize(prompt="login")
    assert response.status_code == 302 and response.location.endswith("/login")
    assert password_login(client, "root").location.endswith("/oauth/authorize/resume")
    back = client.get("/oauth/authorize/resume")
    back.sent = response.sent
    second = rp.tokens(rp.exchange(rp.code(back)))

    assert second.id_claims["auth_time"] == first.id_claims["auth_time"] + 5
    assert second.id_claims["sub"] == first.id_claims["sub"]


def test_oidcc_prompt_login_is_not_satisfied_by_the_session_alone(rp, signed_in):
    response = rp.authorize(prompt="login")
    assert response.location.endswith("/login")

    # Coming back without signing in again must not produce a code.
    back = rp.browser.get("/oauth/authorize/resume")

    assert back.status_code == 302 and back.location.endswith("/login")


def test_oidcc_prompt_none_not_logged_in(rp):
    response = rp.authorize(prompt="none")

    error = rp.error(response)
    assert error["error"] == "login_required"
    assert error["state"] == response.sent["state"]
    assert "code" not in error


def test_oidcc_prompt_none_logged_in(rp, signed_in, clock):
    first = rp.login_flow()
    clock.advance(seconds=30)

    silent = rp.login_flow(prompt="none")

    assert silent.id_claims["sub"] == first.id_claims["sub"]
    assert silent.id_claims["auth_time"] == first.id_claims["auth_time"]


def test_oidcc_max_age_1(rp, client, admin, clock):
    password_login(client, "root")
    first = rp.login_flow()
    clock.advance(seconds=2)

    response = rp.authorize(max_age="1")
    assert response.status_code == 302 and response.location.endswith("/login")
    password_login(client, "root")
    back = client.get("/oauth/authorize/resume")
    back.sent = response.sent
    second = rp.tokens(rp.exchange(rp.code(back)))

    assert second.id_claims["auth_time"] == first.id_claims["auth_time"] + 2


def test_oidcc_max_age_10000(rp, signed_in, clock):
    first = rp.login_flow(max_age="15000")
    clock.advance(seconds=60)

    second = rp.login_flow(max_age="10000")

    assert second.id_claims["sub"] == first.id_claims["sub"]
    assert second.id_claims["auth_time"] == first.id_claims["auth_time"]


def test_max_age_that_is_not_a_number_is_an_invalid_request(rp, signed_in):
    response = rp.authorize(max_age="soon")

    error = rp.error(response)
    assert error["error"] == "invalid_request" and error["state"] == response.sent["state"]


def test_oidcc_ensure_request_with_unknown_parameter_succeeds(rp, signed_in):
    rp.login_flow(extra="foobar")


def test_oidcc_id_token_hint(rp, signed_in):
    first = rp.login_flow()

    silent = rp.login_flow(prompt="none", id_token_hint=first.id_token)

    assert silent.id_claims["sub"] == first.id_claims["sub"]


def test_oidcc_login_hint(rp, client, alice):
    response = rp.authorize(login_hint="alice")

    assert response.status_code == 302 and response.location.endswith("/login")
    page = client.get("/login").get_data(as_text=True)
    assert 'value="alice"' in page
    password_login(client, "alice")
    back = client.get("/oauth/authorize/resume")
    back.sent = response.sent
    rp.tokens(rp.exchange(rp.code(back)))


def test_a_phone_login_hint_prefills_the_phone_field(rp, client, alice, make_authenticator):
    make_authenticator("fakesms", method="fakesms")

    rp.authorize(login_hint=PHONE)

    assert f'value="{PHONE}"' in client.get("/login").get_data(as_text=True)


def test_an_overlong_login_hint_is_ignored(rp, client, alice):
    rp.authorize(login_hint="x" * 65)

    assert "x" * 65 not in client.get("/login").get_data(as_text=True)


@pytest.mark.parametrize("param", ["ui_locales", "claims_locales"])
def test_oidcc_locales(rp, signed_in, param):
    rp.login_flow(**{param: "se"})


@pytest.mark.parametrize("acr", ["aal1", "aal2", "aal1 aal2"])
def test_oidcc_ensure_request_with_acr_values_succeeds(rp, signed_in, acr):
    # No second factor is enabled: the login goes on at the level reached, and acr says so.
    tokens = rp.login_flow(acr_values=acr)

    assert tokens.id_claims["acr"] == "aal1"


def test_oidcc_codereuse(rp, signed_in):
    code = rp.code(rp.authorize())
    first = rp.tokens(rp.exchange(code))

    again = rp.exchange(code)

    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"
    assert rp.userinfo(first.access_token).status_code == 401


def test_oidcc_codereuse_30seconds(rp, signed_in, clock):
    code = rp.code(rp.authorize(scope="openid offline_access"))
    first = rp.tokens(rp.exchange(code))
    assert rp.userinfo(first.access_token).status_code == 200
    clock.advance(seconds=30)

    again = rp.exchange(code)

    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"
    # What the first exchange issued is revoked: the access token and its refresh token.
    assert rp.userinfo(first.access_token).status_code == 401
    refreshed = rp.refresh(first.refresh_token)
    assert refreshed.status_code == 400 and refreshed.get_json()["error"] == "invalid_grant"


def test_oidcc_ensure_registered_redirect_uri(rp, signed_in):
    response = rp.authorize(redirect_uri="https://attacker.example/cb")

    assert response.status_code == 400
    assert "Location" not in response.headers
    # The page may name the URI, but never links to it.
    assert 'href="https://attacker.example' not in response.get_data(as_text=True)


def test_oidcc_ensure_post_request_succeeds(rp, signed_in):
    response = rp.authorize(method="POST", nonce="posted")

    rp.tokens(rp.exchange(rp.code(response)), nonce="posted")


def test_oidcc_server_client_secret_post(rp, signed_in):
    response = rp.authorize()

    tokens = rp.tokens(rp.exchange(rp.code(response), auth="post"))

    assert rp.userinfo(tokens.access_token).status_code == 200


def test_oidcc_request_uri_unsigned_rejected_as_unsupported(rp, signed_in):
    response = rp.authorize(request_uri="https://rp.example/request.jwt")

    error = rp.error(response)
    assert error["error"] == "request_uri_not_supported"
    assert error["state"] == response.sent["state"]


def test_oidcc_unsigned_request_object_rejected_as_unsupported(rp, signed_in):
    request_object = ".".join(
        [
            _b64({"alg": "none"}),
            _b64({"client_id": rp.client_id, "response_type": "code", "scope": "openid"}),
            "",
        ]
    )

    response = rp.authorize(request=request_object)

    error = rp.error(response)
    assert error["error"] == "request_not_supported"
    assert error["state"] == response.sent["state"]


def test_oidcc_claims_essential(rp, signed_in):
    claims = json.dumps({"userinfo": {"name": {"essential": True}}})

    tokens = rp.login_flow(scope="openid profile", claims=claims)

    assert rp.userinfo(tokens.access_token).get_json()["name"] == "Root"


def test_oidcc_refresh_token(app, rp, signed_in):
    other_id, other_secret = make_client(app, name="Second app")
    other = Rp(rp.browser, other_id, other_secret)
    mine = rp.login_flow(scope="openid offline_access")
    theirs = other.login_flow(scope="openid offline_access")

    stolen = rp.refresh(theirs.refresh_token)
    assert stolen.status_code == 400 and stolen.get_json()["error"] == "invalid_grant"

    refreshed = rp.tokens(rp.refresh(mine.refresh_token))
    assert refreshed.refresh_token and refreshed.refresh_token != mine.refresh_token
    info = rp.userinfo(refreshed.access_token)
    assert info.status_code == 200 and info.get_json()["sub"] == mine.id_claims["sub"]
    # The second client's family was not touched by the failed attempt.
    assert other.tokens(other.refresh(theirs.refresh_token)).refresh_token


def test_oidcc_ensure_request_with_valid_pkce_succeeds(app, client, admin):
    client_id, secret = make_client(app, require_pkce=True)
    rp = Rp(client, client_id, secret, pkce=True)
    password_login(client, "root", PASSWORD)

    tokens = rp.login_flow()

    assert rp.userinfo(tokens.access_token).status_code == 200
