"""Redirect URIs match exactly (security.md O1-O3 and the dynamic plan's redirect modules)."""

from __future__ import annotations

import pytest

from idp.errors import InvalidInput
from idp.extensions import db
from idp.oidc import clients
from tests.oidc.support import Rp, make_client, query_of

WITH_QUERY = "https://rp.example/cb?tenant=acme"


def _error_page(response) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "Location" not in response.headers


def test_oidcc_ensure_redirect_uri_in_authorization_request(app, client, signed_in):
    client_id, secret = make_client(
        app, redirect_uris=["https://rp.example/cb", "https://rp.example/cb2"]
    )
    rp = Rp(client, client_id, secret)
    params = rp.params()
    del params["redirect_uri"]

    _error_page(client.get("/oauth/authorize", query_string=params))


@pytest.fixture
def query_rp(app, client, admin) -> Rp:
    client_id, secret = make_client(app, redirect_uris=[WITH_QUERY])
    return Rp(client, client_id, secret, redirect_uri=WITH_QUERY)


def test_oidcc_redirect_uri_query_ok(query_rp, signed_in):
    response = query_rp.authorize()

    assert response.location.startswith(WITH_QUERY + "&")
    assert query_of(response.location)["tenant"] == "acme"
    query_rp.tokens(query_rp.exchange(query_rp.code(response)))


@pytest.mark.parametrize(
    "uri",
    [
        "https://rp.example/cb?tenant=other",
        "https://rp.example/cb?tenant=acme&extra=1",
        "https://rp.example/cb",
        "https://rp.example/cb?TENANT=acme",
    ],
    ids=["query-mismatch", "query-added", "query-dropped", "query-case"],
)
def test_oidcc_redirect_uri_query_mismatch_or_added(query_rp, signed_in, uri):
    _error_page(query_rp.authorize(redirect_uri=uri))


def test_an_error_redirect_keeps_the_registered_query(query_rp):
    response = query_rp.authorize(prompt="none")

    query = query_rp.error(response)
    assert query["tenant"] == "acme" and query["error"] == "login_required"


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("https://rp.example/cb#frag", "fragment"),
        ("https://rp.example/cb#", "fragment"),
        ("http://rp.example/cb", "https"),
        ("ftp://rp.example/cb", "https"),
        ("/relative/cb", "https"),
        ("https://user:pw@rp.example/cb", "user name"),
        ("https://rp.example/" + "a" * 2001, "2000"),
    ],
)
def test_oidcc_redirect_uri_regfrag_and_other_bad_registrations(app, uri, why):
    with app.app_context():
        with pytest.raises(InvalidInput) as caught:
            clients.save(None, {"name": "Bad", "redirect_uris": [uri]})
        db.session.rollback()

    assert caught.value.field == "redirect_uris"
    assert why in caught.value.message


@pytest.mark.parametrize("uri", ["http://127.0.0.1:8080/cb", "http://localhost/cb"])
def test_plain_http_is_allowed_for_loopback_only(app, uri):
    with app.app_context():
        row, _ = clients.save(None, {"name": "Native", "redirect_uris": [uri]})

        assert row.redirect_uris == [uri]


def test_a_loopback_redirect_uri_still_matches_exactly_including_the_port(app, client, signed_in):
    client_id, secret = make_client(app, redirect_uris=["http://127.0.0.1:8080/cb"])
    rp = Rp(client, client_id, secret, redirect_uri="http://127.0.0.1:8080/cb")

    rp.code(rp.authorize())
    _error_page(rp.authorize(redirect_uri="http://127.0.0.1:9090/cb"))


def test_a_post_logout_uri_with_a_fragment_is_refused_too(app):
    with app.app_context():
        with pytest.raises(InvalidInput) as caught:
            clients.save(
                None,
                {
                    "name": "Bad",
                    "redirect_uris": ["https://rp.example/cb"],
                    "post_logout_redirect_uris": ["https://rp.example/bye#x"],
                },
            )

    assert caught.value.field == "post_logout_redirect_uris"
