"""NUL characters (U+0000) in any request input: a 400 with a message, never a 500.

PostgreSQL text cannot hold NUL, so on PostgreSQL each of these was a psycopg DataError and
a 500 before ``idp.security.nul_guard``. They run on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent, User
from tests.conftest import csrf_token

OAUTH = ("/oauth/token", "/oauth/revoke", "/oauth/introspect")
FORM = {"grant_type": "authorization_code", "code": "abc", "token": "abc"}


def _basic(user: str, password: str = "s") -> dict[str, str]:  # noqa: S107
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _oauth_error(response: Any, error: str) -> None:
    assert response.mimetype == "application/json", response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"] == error
    assert "NUL" in body["error_description"]
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", OAUTH)
def test_a_nul_in_the_client_id_of_the_form_is_invalid_client(client: FlaskClient, path: str):
    response = client.post(path, data={**FORM, "client_id": "ab\x00cd", "client_secret": "x"})

    assert response.status_code == 400
    _oauth_error(response, "invalid_client")


@pytest.mark.parametrize("path", OAUTH)
@pytest.mark.parametrize("user", ["ab%00cd", "ab\x00cd"])
def test_a_nul_in_basic_credentials_is_401_invalid_client(client, path: str, user: str):
    # client_secret_basic form-encodes the id (RFC 6749 2.3.1): %00 is a NUL once decoded.
    response = client.post(path, data=FORM, headers=_basic(user))

    assert response.status_code == 401
    _oauth_error(response, "invalid_client")
    assert response.headers["WWW-Authenticate"].startswith("Basic")


@pytest.mark.parametrize("path", OAUTH)
def test_a_nul_in_another_oauth_parameter_is_invalid_request(client: FlaskClient, path: str):
    response = client.post(
        path, data={**FORM, "client_id": "app", "code": "a\x00", "token": "\x00"}
    )

    assert response.status_code == 400
    _oauth_error(response, "invalid_request")


def test_a_nul_in_the_login_with_a_valid_form_token_is_400_with_a_message(
    client: FlaskClient, make_authenticator, make_user
):
    make_authenticator()
    make_user(username="alice")
    token = csrf_token(client)

    response = client.post(
        "/login/password", data={"csrf_token": token, "login": "12\x0034", "password": "x"}
    )

    assert response.status_code == 400
    assert "NUL character" in response.get_data(as_text=True)
    assert "the form field “login”" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("kwargs", "where"),
    [
        ({"query_string": {"client_id": "ab\x00cd"}}, "query string"),
        ({"headers": {"User-Agent": "x\x00y"}}, "header"),
    ],
)
def test_a_nul_in_the_query_or_a_header_is_400(client, kwargs, where):
    headers = {"Accept": "application/json", **kwargs.pop("headers", {})}
    response = client.get("/oauth/authorize", headers=headers, **kwargs)

    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"] == "nul_in_input"
    assert where in response.get_json()["message"]


def test_a_nul_in_a_json_body_is_400(client: FlaskClient):
    response = client.post(
        "/sms/dlr/sometoken", data=b'{"status": "a\\u0000"}', content_type="application/json"
    )

    assert response.status_code == 400
    assert "JSON body" in response.get_data(as_text=True)


def test_a_nul_in_a_bearer_token_is_an_rfc_6750_error(client: FlaskClient):
    response = client.post("/oauth/userinfo", data={"access_token": "ab\x00cd"})

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_input_without_nul_goes_through(client: FlaskClient):
    response = client.post(OAUTH[0], data={**FORM, "client_id": "ab%cd", "client_secret": "x"})

    assert response.status_code in (400, 401)
    assert response.get_json()["error"] == "invalid_client"
    assert "NUL" not in response.get_json().get("error_description", "")


def test_a_nul_never_reaches_the_database(app: Flask):
    # Input that comes another way than a request (a provider's answer, a plugin) is stored
    # with U+FFFD in place of NUL instead of failing the statement on PostgreSQL.
    with app.app_context():
        db.session.add(User(nickname="N\x00ul", username="n\x00ul"))
        db.session.add(AuditEvent(action="test.nul", target="t\x00", after={"k": "v\x00"}))
        db.session.commit()
        user = db.session.scalar(select(User).where(User.username == "n\ufffdul"))
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "test.nul"))

        assert user is not None and user.nickname == "N\ufffdul"
        assert event is not None and event.target == "t\ufffd"


def test_the_guard_leaves_the_raw_body_for_views_that_read_it(app: Flask):
    # A signed delivery report reads the body as sent after the guard has read the form.
    from flask import request

    from idp.extensions import csrf

    @csrf.exempt
    def echo() -> dict[str, Any]:
        return {"raw": request.get_data(cache=True).decode(), "form": dict(request.form)}

    app.add_url_rule("/echo-body", "echo_body", echo, methods=["POST"])

    answer = app.test_client().post("/echo-body", data={"a": "1", "b": "2"}).get_json()

    assert answer == {"raw": "a=1&b=2", "form": {"a": "1", "b": "2"}}
