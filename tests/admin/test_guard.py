"""The admin guard: every /admin route, every method, for anonymous, ordinary and admin users.

The walk reads app.url_map, so a route added later is covered without touching this file;
the last test shows that the walk does catch a route that escapes the guard.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

from flask import Blueprint, Flask
from werkzeug.routing import IntegerConverter, Rule

from tests.conftest import csrf_token, password_login

#: Plausible values for URL parameters: an existing authenticator name and user id.
NAME = "password"
INT = 1


def admin_rules(app: Flask) -> list[Rule]:
    """Every rule of the admin blueprint, and anything else mounted under /admin."""
    return [
        rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("admin.") or rule.rule.startswith("/admin")
    ]


def requests(app: Flask) -> Iterator[tuple[str, str]]:
    """(method, path) for every admin rule and every method it allows."""
    for rule in admin_rules(app):
        values = {
            arg: INT if isinstance(rule._converters[arg], IntegerConverter) else NAME  # noqa: SLF001
            for arg in rule.arguments
        }
        built = rule.build(values)
        assert built is not None, rule
        for method in sorted(rule.methods or ()):
            yield method, built[1]


def send(client, method: str, path: str, token: str):
    data = {"csrf_token": token} if method not in ("GET", "HEAD", "OPTIONS") else None
    response = client.open(path, method=method, data=data)
    # Read and close it, as a server would: a streamed body (a CSV export) holds its context.
    response.get_data()
    response.close()
    return response


def goes_to_login(response) -> bool:
    if response.status_code not in (302, 303):
        return False
    return urlsplit(response.headers["Location"]).path == "/login"


def anonymous_failures(app: Flask) -> list[str]:
    failures = []
    for method, path in requests(app):
        client = app.test_client()
        token = csrf_token(client)  # a valid token, so the guard and not CSRF decides
        response = send(client, method, path, token)
        if not goes_to_login(response):
            failures.append(f"{method} {path}: {response.status_code}")
    return failures


def test_the_walk_covers_reading_and_changing_routes(app):
    walked = list(requests(app))
    methods = {method for method, _ in walked}
    paths = {path for _, path in walked}

    assert {"GET", "POST"} <= methods
    assert {"/admin/", "/admin/users/1", "/admin/authenticators/password/delete"} <= paths
    assert len(paths) >= 14


def test_anonymous_visitors_are_sent_to_the_login_page(app, admin):
    assert anonymous_failures(app) == []


def test_the_login_redirect_remembers_where_the_visitor_was_going(client, admin):
    response = client.get("/admin/users?q=root")

    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/admin/users?q%3Droot"


def test_signed_in_users_who_are_not_admins_get_403(app, admin, make_user):
    make_user(username="mallory", nickname="Mallory")
    failures = []
    for method, path in requests(app):
        client = app.test_client()
        assert password_login(client, "mallory").status_code == 303
        response = send(client, method, path, csrf_token(client, "/"))
        if response.status_code != 403:
            failures.append(f"{method} {path}: {response.status_code}")
        elif method not in ("HEAD", "OPTIONS"):
            assert "for administrators only" in response.get_data(as_text=True)

    assert failures == []


def test_admins_are_let_through_everywhere(app, make_user, make_authenticator):
    target = make_user(username="target")  # user 1: what the int routes act on
    assert target.id == INT
    make_authenticator(NAME)  # what the name routes act on (one of them deletes it)
    make_authenticator("staff")  # the admins sign in here, so deleting NAME does not stop them
    make_user(username="root", nickname="Root", is_admin=True)
    failures = []
    for method, path in requests(app):
        client = app.test_client()
        assert password_login(client, "root", authenticator="staff").status_code == 303
        response = send(client, method, path, csrf_token(client, "/"))
        if response.status_code == 403 or goes_to_login(response):
            failures.append(f"{method} {path}: {response.status_code}")

    assert failures == []


def test_the_walk_catches_a_route_that_escapes_the_guard(app, admin):
    unguarded = Blueprint("admin_reports", __name__)
    unguarded.add_url_rule("/", "report", lambda: "the whole user table")
    app.register_blueprint(unguarded, url_prefix="/admin/reports")

    assert anonymous_failures(app) == [
        "GET /admin/reports/: 200",
        "HEAD /admin/reports/: 200",
        "OPTIONS /admin/reports/: 200",
    ]
