"""RP-initiated logout, as the conformance suite's rp-logout plan checks it (security.md 4.3):
redirect only with a valid hint to an exactly registered URI, state echoed only when sent,
confirmation without a hint, and the user really signed out afterwards."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.conftest import csrf_token
from tests.oidc.support import ISSUER, LOGOUT, query_of


@pytest.fixture
def session(rp, signed_in):
    """A signed-in browser with an ID token from the relying party."""
    return rp.login_flow()


def _logout(rp, **params):
    return rp.browser.get("/oauth/logout", query_string=params)


def _signed_out(rp) -> bool:
    response = rp.authorize(prompt="none")
    return rp.error(response)["error"] == "login_required"


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_oidcc_rp_initiated_logout(rp, session):
    response = _logout(
        rp, id_token_hint=session.id_token, post_logout_redirect_uri=LOGOUT, state="bye-1"
    )

    assert response.status_code == 302
    assert response.location.startswith(LOGOUT + "?")
    assert query_of(response.location) == {"state": "bye-1"}
    assert _signed_out(rp)


def test_logout_by_post_works_too(rp, session):
    response = rp.browser.post(
        "/oauth/logout",
        data={"id_token_hint": session.id_token, "post_logout_redirect_uri": LOGOUT},
    )

    assert response.status_code == 302 and response.location == LOGOUT
    assert _signed_out(rp)


def test_oidcc_rp_initiated_logout_no_state(rp, session):
    response = _logout(rp, id_token_hint=session.id_token, post_logout_redirect_uri=LOGOUT)

    assert response.location == LOGOUT
    assert _signed_out(rp)


def test_oidcc_rp_initiated_logout_only_state(rp, session):
    response = _logout(rp, state="s")

    assert response.status_code == 200 and "Location" not in response.headers
    assert "Sign out?" in response.get_data(as_text=True)


def test_oidcc_rp_initiated_logout_no_post_logout_redirect_uri(rp, session):
    response = _logout(rp, id_token_hint=session.id_token, state="s")

    assert response.status_code == 200 and "Location" not in response.headers
    assert "You are signed out" in response.get_data(as_text=True)
    assert _signed_out(rp)


def test_oidcc_rp_initiated_logout_bad_post_logout_redirect_uri(rp, session):
    response = _logout(
        rp, id_token_hint=session.id_token, post_logout_redirect_uri="https://evil.example/bye"
    )

    assert "Location" not in response.headers
    assert _signed_out(rp)


@pytest.mark.parametrize(
    "uri", [LOGOUT + "?x=1", LOGOUT + "/", LOGOUT.upper(), LOGOUT + "#f", "https://rp.example/cb"]
)
def test_oidcc_rp_initiated_logout_modified_post_logout_redirect_uri(rp, session, uri):
    response = _logout(rp, id_token_hint=session.id_token, post_logout_redirect_uri=uri)

    assert "Location" not in response.headers


def test_oidcc_rp_initiated_logout_no_id_token_hint_asks_first(rp, session):
    response = _logout(rp, post_logout_redirect_uri=LOGOUT, client_id=rp.client_id)

    assert response.status_code == 200 and "Location" not in response.headers
    page = response.get_data(as_text=True)
    assert "Sign out?" in page and "Relying app" in page
    # Nothing happened yet: the user is still signed in.
    rp.code(rp.authorize(prompt="none"))

    confirmed = rp.browser.post(
        "/oauth/logout/confirm", data={"csrf_token": csrf_token(rp.browser, "/oauth/logout")}
    )

    assert confirmed.status_code == 200 and "Location" not in confirmed.headers
    assert _signed_out(rp)


def test_oidcc_rp_initiated_logout_no_params_asks_for_confirmation(rp, session):
    response = _logout(rp)

    assert response.status_code == 200 and "Sign out?" in response.get_data(as_text=True)
    rp.code(rp.authorize(prompt="none"))


def test_the_confirmation_needs_the_csrf_token(rp, session):
    response = rp.browser.post("/oauth/logout/confirm")

    assert response.status_code == 400
    rp.code(rp.authorize(prompt="none"))


def test_oidcc_rp_initiated_logout_modified_id_token_hint_alg_none(rp, session):
    header, payload, _ = session.id_token.split(".")
    unsigned = ".".join([_b64({"alg": "none", "typ": "JWT"}), payload, ""])

    response = _logout(rp, id_token_hint=unsigned, post_logout_redirect_uri=LOGOUT, state="s")

    assert response.status_code == 400 and "Location" not in response.headers
    rp.code(rp.authorize(prompt="none"))  # still signed in


def test_oidcc_rp_initiated_logout_bad_id_token_hint_foreign_signature(rp, session):
    claims = jwt.decode(session.id_token, rp.keyset()).claims
    foreign = RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    kid = jwt.decode(session.id_token, rp.keyset()).header["kid"]
    forged = jwt.encode({"alg": "RS256", "kid": kid}, claims, foreign)

    response = _logout(rp, id_token_hint=forged, post_logout_redirect_uri=LOGOUT)

    assert response.status_code == 400 and "Location" not in response.headers
    rp.code(rp.authorize(prompt="none"))


def test_a_tampered_id_token_hint_never_redirects(rp, session):
    header, payload, signature = session.id_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "someone-else"
    tampered = ".".join([header, _b64(claims), signature])

    response = _logout(rp, id_token_hint=tampered, post_logout_redirect_uri=LOGOUT)

    assert response.status_code == 400 and "Location" not in response.headers


def test_an_expired_id_token_hint_still_identifies_the_session(rp, session, clock):
    clock.advance(hours=2)

    response = _logout(rp, id_token_hint=session.id_token, post_logout_redirect_uri=LOGOUT)

    # Expired hints are accepted (RP-Initiated Logout 1.0 section 2); the URI is registered.
    assert response.location == LOGOUT


def test_a_hint_for_another_client_with_its_client_id_is_refused(app, rp, session):
    from tests.oidc.support import make_client

    other_id, _ = make_client(app, name="Other")

    response = _logout(
        rp, id_token_hint=session.id_token, client_id=other_id, post_logout_redirect_uri=LOGOUT
    )

    assert response.status_code == 400 and "Location" not in response.headers


def test_a_post_logout_uri_of_another_client_is_not_followed(app, rp, session):
    from tests.oidc.support import make_client

    make_client(app, name="Other", post_logout_redirect_uris=["https://other.example/bye"])

    response = _logout(
        rp, id_token_hint=session.id_token, post_logout_redirect_uri="https://other.example/bye"
    )

    assert "Location" not in response.headers


def test_discovery_names_the_end_session_endpoint(client):
    metadata = client.get("/.well-known/openid-configuration").get_json()

    assert metadata["end_session_endpoint"] == f"{ISSUER}/oauth/logout"


def test_an_access_token_is_not_an_id_token_hint(rp, session):
    response = _logout(rp, id_token_hint=session.access_token, post_logout_redirect_uri=LOGOUT)

    assert response.status_code == 400 and "Location" not in response.headers
    rp.code(rp.authorize(prompt="none"))
