"""Bad input gets the exact OAuth error codes and statuses of the RFCs; never a redirect to a
URI that is not the client's."""

from __future__ import annotations

import base64

import pytest

from tests.oidc.support import REDIRECT, Rp, make_client, pkce_pair, query_of


def _oauth_error(response, status: int, error: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"] == error, body
    assert response.headers["Cache-Control"] == "no-store"
    return body


# -- client authentication at the token endpoint ---------------------------------------------


def test_a_wrong_client_secret_is_invalid_client_with_www_authenticate(rp, signed_in):
    code = rp.code(rp.authorize())
    rp.secret = "not-the-secret"

    response = rp.exchange(code)

    _oauth_error(response, 401, "invalid_client")
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_a_wrong_client_secret_in_the_body_is_invalid_client(rp, signed_in):
    code = rp.code(rp.authorize())
    rp.secret = "not-the-secret"

    _oauth_error(rp.exchange(code, auth="post"), 401, "invalid_client")


def test_a_confidential_client_without_a_secret_is_invalid_client(rp, signed_in):
    code = rp.code(rp.authorize())
    rp.secret = None

    _oauth_error(rp.exchange(code, auth="none"), 401, "invalid_client")


def test_an_unknown_client_at_the_token_endpoint_is_invalid_client(rp, signed_in):
    code = rp.code(rp.authorize())
    rp.client_id = "no-such-client"

    _oauth_error(rp.exchange(code), 401, "invalid_client")


def test_a_code_of_another_client_is_invalid_grant(app, rp, signed_in):
    code = rp.code(rp.authorize())
    other_id, other_secret = make_client(app, name="Other")
    other = Rp(rp.browser, other_id, other_secret)

    _oauth_error(other.exchange(code), 400, "invalid_grant")
    # The rightful client still gets its tokens.
    rp.tokens(rp.exchange(code))


def test_a_different_redirect_uri_at_the_token_endpoint_is_invalid_grant(rp, signed_in):
    code = rp.code(rp.authorize())
    rp.redirect_uri = REDIRECT + "/other"

    _oauth_error(rp.exchange(code), 400, "invalid_grant")


# -- PKCE -------------------------------------------------------------------------------------


@pytest.fixture
def pkce_rp(app, client, admin) -> Rp:
    client_id, secret = make_client(app, require_pkce=True)
    return Rp(client, client_id, secret, pkce=True)


def test_a_wrong_pkce_verifier_is_invalid_grant(pkce_rp, signed_in):
    code = pkce_rp.code(pkce_rp.authorize())
    wrong, _ = pkce_pair()

    _oauth_error(pkce_rp.exchange(code, verifier=wrong), 400, "invalid_grant")


def test_a_verifier_without_a_challenge_is_invalid_grant(rp, signed_in):
    code = rp.code(rp.authorize())
    verifier, _ = pkce_pair()

    _oauth_error(rp.exchange(code, verifier=verifier), 400, "invalid_grant")


def test_a_missing_verifier_for_a_challenged_code_is_refused(pkce_rp, signed_in):
    code = pkce_rp.code(pkce_rp.authorize())
    pkce_rp.verifier = None

    _oauth_error(pkce_rp.exchange(code), 400, "invalid_request")


def test_the_plain_method_is_refused(pkce_rp, signed_in):
    response = pkce_rp.authorize(code_challenge="a" * 50, code_challenge_method="plain")

    error = pkce_rp.error(response)
    assert error["error"] == "invalid_request" and "code" not in error
    assert error["state"] == response.sent["state"]


def test_a_public_client_without_pkce_is_refused(app, client, signed_in):
    client_id, _ = make_client(app, public=True)
    public = Rp(client, client_id, None, pkce=False)

    error = public.error(public.authorize())

    assert error["error"] == "invalid_request" and "code" not in error


def test_a_confidential_client_that_requires_pkce_is_refused_without_it(pkce_rp, signed_in):
    pkce_rp.pkce = False

    assert pkce_rp.error(pkce_rp.authorize())["error"] == "invalid_request"


def test_a_public_client_with_pkce_needs_no_secret(app, client, signed_in):
    client_id, secret = make_client(app, public=True)
    assert secret is None
    public = Rp(client, client_id, None, pkce=True)

    tokens = public.tokens(public.exchange(public.code(public.authorize()), auth="none"))

    assert public.userinfo(tokens.access_token).status_code == 200


def test_a_public_client_cannot_use_a_secret_it_does_not_have(app, client, signed_in):
    client_id, _ = make_client(app, public=True)
    public = Rp(client, client_id, "made-up", pkce=True)
    code = public.code(public.authorize())

    _oauth_error(public.exchange(code), 401, "invalid_client")


# -- codes ------------------------------------------------------------------------------------


def test_a_code_expires_after_60_seconds(rp, signed_in, clock):
    code = rp.code(rp.authorize())
    clock.advance(seconds=61)

    _oauth_error(rp.exchange(code), 400, "invalid_grant")


def test_a_code_still_works_at_59_seconds(rp, signed_in, clock):
    code = rp.code(rp.authorize())
    clock.advance(seconds=59)

    rp.tokens(rp.exchange(code))


def test_a_made_up_code_is_invalid_grant(rp, signed_in):
    _oauth_error(rp.exchange("x" * 40), 400, "invalid_grant")


# -- grant and response types -----------------------------------------------------------------


@pytest.mark.parametrize("grant_type", ["password", "client_credentials", "implicit", "made-up"])
def test_other_grant_types_are_unsupported(rp, grant_type):
    response = rp.token_request(
        {"grant_type": grant_type, "username": "root", "password": "x", "scope": "openid"}
    )

    _oauth_error(response, 400, "unsupported_grant_type")


def test_refresh_is_refused_to_a_client_without_offline_access(app, client, signed_in):
    client_id, secret = make_client(app, scopes="openid profile")
    rp = Rp(client, client_id, secret)

    _oauth_error(rp.refresh("whatever"), 400, "unauthorized_client")


@pytest.mark.parametrize("response_type", ["token", "id_token", "code id_token", "code token"])
def test_other_response_types_are_unsupported(rp, signed_in, response_type):
    response = rp.authorize(response_type=response_type)

    error = rp.error(response)
    assert error["error"] == "unsupported_response_type"
    assert error["state"] == response.sent["state"]
    assert "code" not in error and "#" not in response.location


def _basic(credentials: bytes) -> str:
    return "Basic " + base64.b64encode(credentials).decode()


@pytest.mark.parametrize(
    "header",
    [
        _basic(b"\xed\xa0\x80:secret"),  # not UTF-8: a lone surrogate, an invalid byte
        _basic(b"client:\xff\xfe"),
        _basic("\u00e9t\u00e9:x".encode("latin-1")),
        "Basic ",  # Authlib splits on whitespace and finds no credentials
        "Basic \u00e9t\u00e9",  # not base64, not even ASCII (a header is read as Latin-1)
    ],
)
@pytest.mark.parametrize("endpoint", ["/oauth/token", "/oauth/revoke", "/oauth/introspect"])
def test_basic_credentials_that_cannot_be_read_are_invalid_client(rp, endpoint, header):
    response = rp.browser.post(
        endpoint,
        data={"grant_type": "authorization_code", "code": "x", "token": "x"},
        headers={"Authorization": header},
    )

    assert response.status_code == 401, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"] == "invalid_client" and "cannot be read" in body["error_description"]


# -- bad clients and redirect URIs: a page, never a redirect ----------------------------------


def _error_page(response) -> str:
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "Location" not in response.headers
    return response.get_data(as_text=True)


def test_an_unknown_client_gets_an_error_page(rp, signed_in):
    rp.client_id = "no-such-client"

    _error_page(rp.authorize())


def test_a_disabled_client_gets_an_error_page(app, rp, signed_in):
    from idp.extensions import db
    from idp.oidc import clients

    with app.app_context():
        clients.set_enabled(clients.get(rp.client_id), False)
        db.session.commit()

    _error_page(rp.authorize())


def test_a_missing_client_id_gets_an_error_page(rp, signed_in):
    params = rp.params()
    del params["client_id"]

    _error_page(rp.browser.get("/oauth/authorize", query_string=params))


@pytest.mark.parametrize(
    "uri",
    [
        REDIRECT + "/",
        REDIRECT.upper(),
        "https://RP.example/cb",
        REDIRECT + "?foo=bar",
        REDIRECT + "#frag",
        "https://rp.example:444/cb",
        "http://rp.example/cb",
        "https://rp.example/%63b",
        "https://rp.example/cb/../cb",
        "https://evil.example/cb",
        "",
    ],
)
def test_a_redirect_uri_that_is_not_exactly_registered_gets_an_error_page(rp, signed_in, uri):
    response = rp.authorize(redirect_uri=uri)

    _error_page(response)


def test_a_missing_redirect_uri_gets_an_error_page_even_with_one_registered(rp, signed_in):
    params = rp.params()
    del params["redirect_uri"]

    _error_page(rp.browser.get("/oauth/authorize", query_string=params))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("response_type", "\u0643\u0648\u062f"),
        ("response_type", 'code"'),
        ("response_type", "\uffff"),
        ("redirect_uri", REDIRECT + "/\u00e9"),
        ("redirect_uri", REDIRECT + "\\"),
    ],
)
def test_values_authlib_cannot_put_in_an_error_get_an_error_page(rp, signed_in, name, value):
    # Authlib repeats these in error_description, which RFC 6749 limits to plain ASCII.
    response = rp.authorize(**{name: value})

    page = _error_page(response)
    assert f"{name} may only contain printable ASCII" in page


def test_an_error_description_is_one_line(rp, signed_in):
    response = rp.authorize(max_age="1\n2")

    error = query_of(response.location)
    assert error["error"] == "invalid_request"
    assert not {"\n", "\r", "\t"} & set(error.get("error_description", ""))


@pytest.mark.parametrize("max_age", ["\u00b2", "\u0661", "1e3", "-1"])
def test_a_max_age_that_is_not_ascii_digits_is_an_invalid_request(rp, signed_in, max_age):
    # "²" passes str.isdigit() but not int(): it was a 500.
    error = rp.error(rp.authorize(max_age=max_age))

    assert error["error"] == "invalid_request"
    assert "max_age" in error["error_description"]


@pytest.mark.parametrize("max_age", ["99999999999999999999999", "9" * 5000])
def test_a_huge_max_age_is_no_limit(rp, signed_in, max_age):
    # timedelta(seconds=10**23) overflows, int() refuses 5000 digits: both were a 500.
    assert rp.code(rp.authorize(max_age=max_age))


@pytest.mark.parametrize(
    ("name", "value"), [("nonce", "n" * 256), ("scope", " ".join(["openid"] * 40))]
)
def test_a_nonce_or_scope_longer_than_the_code_keeps_is_an_invalid_request(
    rp, signed_in, name, value
):
    # On PostgreSQL the code's row refused them (a 500); SQLite does not check lengths.
    error = rp.error(rp.authorize(**{name: value}))

    assert error["error"] == "invalid_request"
    assert f"{name} may be at most" in error["error_description"]
