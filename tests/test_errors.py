"""The exception tree and what a person (or a JSON client) sees when something goes wrong."""

from __future__ import annotations

import importlib
import pkgutil
import re
from http import HTTPStatus

import pytest
from sqlalchemy import func, select

import idp
import idp.errors
from idp.error_pages import SERVER_FAULT
from idp.errors import (
    ConfigError,
    FlowExpired,
    Forbidden,
    IdpError,
    InvalidInput,
    MethodUnavailable,
    NotFound,
    RateLimited,
    Unauthenticated,
)
from idp.extensions import db
from idp.models import User
from tests.conftest import csrf_token

SITE_NAME = "Acme Identity"
ADMIN_ONLY = "DATABASE password for db.internal is wrong"


def _import_everything() -> None:
    """Import every module of Poort and its built-in plugins, so every subclass is defined."""
    packages = [idp] + [
        importlib.import_module(info.name)
        for info in pkgutil.iter_modules()
        if info.name.startswith("idp_") and info.ispkg
    ]
    ours = {package.__name__ for package in packages}
    for package in packages:
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            try:
                importlib.import_module(info.name)
            except ModuleNotFoundError as exc:
                if (exc.name or "").partition(".")[0] in ours:
                    raise
                # An optional dependency (an extra) is not installed; its module cannot load.


def all_error_classes() -> list[type[IdpError]]:
    _import_everything()
    found: list[type[IdpError]] = []
    todo = [IdpError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


# -- the tree -----------------------------------------------------------------------------


def test_the_walk_reaches_subclasses_defined_outside_errors_py():
    names = {cls.__name__ for cls in all_error_classes()}
    assert {"CrossSiteRequest", "InvalidPhoneNumber", "RateLimited"} <= names


def test_every_error_class_has_its_own_unique_code():
    classes = all_error_classes()
    for cls in classes:
        assert "code" in vars(cls), f"{cls.__qualname__} inherits its code"
        assert re.fullmatch(r"[a-z][a-z0-9_]*", cls.code), cls
    codes = [cls.code for cls in classes]
    duplicates = sorted({code for code in codes if codes.count(code) > 1})
    assert duplicates == []


def test_every_error_class_has_a_valid_http_error_status():
    for cls in all_error_classes():
        assert cls.status in set(HTTPStatus), cls
        assert 400 <= cls.status <= 599, cls


def test_the_tree_in_the_docstring_matches_the_classes():
    drawn = {
        name: (int(status), code)
        for name, status, code in re.findall(r"(\w+)\s+(\d{3}) (\w+)", idp.errors.__doc__ or "")
    }
    defined = {
        name: (cls.status, cls.code)
        for name, cls in vars(idp.errors).items()
        if isinstance(cls, type) and issubclass(cls, IdpError)
    }
    assert drawn == defined


# -- rendering ----------------------------------------------------------------------------

ERRORS = {
    "invalid_input": lambda: InvalidInput("The name may only hold letters.", field="name"),
    "not_found": lambda: NotFound("No such authenticator."),
    "forbidden": lambda: Forbidden("Only admins may do that."),
    "login_required": lambda: Unauthenticated(),
    "flow_expired": lambda: FlowExpired(),
    "method_unavailable": lambda: MethodUnavailable(),
    "rate_limited": lambda: RateLimited(retry_after=30),
    "config_error": lambda: ConfigError(ADMIN_ONLY, setting="database_url"),
    "unexpected": lambda: RuntimeError(f"KeyError in the view: {ADMIN_ONLY}"),
}


@pytest.fixture
def app_config(app_config):
    app_config["site_name"] = SITE_NAME
    return app_config


@pytest.fixture
def raising(app):
    """GET /_raise/<kind> raises ERRORS[kind]; POST /_raise/half-written adds a row, then fails."""

    def raise_(kind: str) -> str:
        raise ERRORS[kind]()

    def half_written() -> str:
        db.session.add(User(nickname="Half", username="half"))
        db.session.flush()
        raise InvalidInput("The second step failed.", field="name")

    app.add_url_rule("/_raise/<kind>", "raise_", raise_)
    app.add_url_rule("/_raise/half-written", "half_written", half_written, methods=["POST"])
    return app


@pytest.fixture
def form_page(make_authenticator) -> None:
    """The login page carries a form (and so a CSRF token) once an authenticator is enabled."""
    make_authenticator()


def get_json(client, path):
    return client.get(path, headers={"Accept": "application/json"})


def assert_site_design(html: str) -> None:
    assert (
        f'<a class="brand" href="/"><span class="brand-name" dir="auto">{SITE_NAME}</span></a>'
        in html
    )
    assert "poort.css" in html
    assert 'href="/">Go to the start page</a>' in html


@pytest.mark.parametrize(
    ("kind", "status", "says"),
    [
        ("invalid_input", 400, "The name may only hold letters."),
        ("not_found", 404, "No such authenticator."),
        ("forbidden", 403, "Only admins may do that."),
        ("login_required", 401, "Sign in to continue."),
        ("flow_expired", 400, "please start again"),
        ("method_unavailable", 400, "not available"),
    ],
)
def test_idp_error_renders_html_by_default(raising, client, kind, status, says):
    response = client.get(f"/_raise/{kind}", headers={"Accept": "text/html,*/*;q=0.8"})
    assert response.status_code == status
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert says in html
    assert kind in html
    assert_site_design(html)


@pytest.mark.parametrize(
    ("kind", "status", "message"),
    [
        ("invalid_input", 400, "The name may only hold letters."),
        ("not_found", 404, "No such authenticator."),
        ("login_required", 401, "Sign in to continue."),
    ],
)
def test_idp_error_renders_json_when_asked(raising, client, kind, status, message):
    response = get_json(client, f"/_raise/{kind}")
    assert response.status_code == status
    assert response.get_json() == {"error": kind, "message": message}


@pytest.mark.parametrize("accept", ["*/*", "application/json, text/html", ""])
def test_html_wins_unless_json_is_preferred(raising, client, accept):
    response = client.get("/_raise/not_found", headers={"Accept": accept})
    assert response.status_code == 404
    assert response.mimetype == "text/html"


def test_unknown_url_gives_404_in_the_site_design(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "Page not found" in html
    assert_site_design(html)
    assert get_json(client, "/no/such/page").get_json()["error"] == "not_found"


def test_wrong_method_gives_405_and_keeps_allow(client):
    response = client.get("/logout")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert_site_design(response.get_data(as_text=True))


@pytest.mark.parametrize("token", [None, "not-the-token"])
def test_post_without_a_valid_csrf_token_says_to_reload(client, token):
    data = {} if token is None else {"csrf_token": token}
    response = client.post("/logout", data=data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Reload the page" in html
    assert_site_design(html)


def test_post_from_another_site_is_refused_despite_a_valid_token(form_page, client):
    token = csrf_token(client)
    response = client.post(
        "/logout", data={"csrf_token": token}, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    assert "cross_site_request" in response.get_data(as_text=True)
    response = client.post(
        "/logout",
        data={"csrf_token": token},
        headers={"Origin": "https://evil.example", "Accept": "application/json"},
    )
    assert response.status_code == 403
    assert response.get_json()["error"] == "cross_site_request"


def test_post_marked_cross_site_by_the_browser_is_refused(form_page, client):
    response = client.post(
        "/logout", data={"csrf_token": csrf_token(client)}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert response.status_code == 403


def test_post_from_this_site_passes(form_page, client):
    response = client.post(
        "/logout", data={"csrf_token": csrf_token(client)}, headers={"Origin": "https://localhost"}
    )
    assert response.status_code == 303


def test_rate_limited_gives_429_with_retry_after(raising, client):
    response = client.get("/_raise/rate_limited")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "30"
    html = response.get_data(as_text=True)
    assert "Try again in 30 s." in html
    assert_site_design(html)
    response = get_json(client, "/_raise/rate_limited")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "30"
    assert response.get_json()["error"] == "rate_limited"


@pytest.mark.parametrize("kind", ["unexpected", "config_error"])
def test_server_faults_show_the_generic_page_without_details(raising, client, kind):
    response = client.get(f"/_raise/{kind}")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert str(SERVER_FAULT) in html
    assert ADMIN_ONLY not in html
    assert "KeyError" not in html
    assert_site_design(html)
    body = get_json(client, f"/_raise/{kind}").get_json()
    assert body["message"] == str(SERVER_FAULT)
    assert ADMIN_ONLY not in str(body)


def test_failed_request_leaves_no_half_written_rows(raising, form_page, client, app):
    response = client.post(
        "/_raise/half-written",
        data={"csrf_token": csrf_token(client)},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 400
    assert response.get_json() == {"error": "invalid_input", "message": "The second step failed."}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 0


@pytest.mark.parametrize("query", ["next=\xff", "\xed\xa0\x80=1", "q=%C3&\xc3\x28"])
def test_a_query_string_that_is_not_utf8_is_read_as_if_percent_encoded(client, query):
    # Browsers percent-encode; curl can send raw bytes, which reach the app Latin-1 decoded,
    # and Werkzeug decodes the query string as strict UTF-8 (args, full_path in the footer).
    response = client.get("/login", environ_overrides={"QUERY_STRING": query})

    assert response.status_code == 200
    answer = client.get(
        "/no/such/page",
        environ_overrides={"QUERY_STRING": query},
        headers={"Accept": "application/json"},
    )
    assert answer.status_code == 404
    assert answer.get_json()["error"] == "not_found"
    refused = client.post("/logout", environ_overrides={"QUERY_STRING": query})
    assert refused.status_code == 400  # no CSRF token: the error page renders, no 500
    assert "Reload the page" in refused.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/m/totp/totp%00/enrol", "/m/sms/sms%00/phone", "/x%00"])
def test_a_nul_in_a_path_segment_is_404(client, path):
    # PostgreSQL refuses NUL in a parameter: looking such a name up was a 500 there.
    response = client.get(path)

    assert response.status_code == 404
    assert "There is nothing at this address" in response.get_data(as_text=True)
