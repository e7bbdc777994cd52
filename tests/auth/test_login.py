"""The login page and the password sign-in: what people see, where they land, what is kept."""

from __future__ import annotations

import json
import re

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from idp import state
from idp.extensions import db
from idp.models import AuditEvent, User
from idp_password import FAILED
from tests.conftest import PASSWORD, csrf_token, password_login, post_form


@pytest.fixture
def alice(make_user, make_authenticator):
    make_authenticator()
    return make_user(username="alice", email="alice@example.org", nickname="Alice")


def body(response) -> str:
    return response.get_data(as_text=True)


def events(app, action: str | None = None) -> list[AuditEvent]:
    with app.app_context():
        stmt = select(AuditEvent).order_by(AuditEvent.id)
        if action:
            stmt = stmt.where(AuditEvent.action == action)
        rows = db.session.scalars(stmt).all()
        for row in rows:
            db.session.expunge(row)
        return list(rows)


def stored_hash(app, user_id: int) -> str:
    with app.app_context():
        return db.session.get(User, user_id).password_hash


def signed_in(client) -> bool:
    return client.get("/").status_code == 200


# -- the page -----------------------------------------------------------------------------------


def test_login_page_lists_enabled_authenticators_in_the_admins_order(client, make_authenticator):
    make_authenticator("staff", title="Staff password", position=2)
    make_authenticator("guests", title="Guest password", position=1)
    make_authenticator("legacy", title="Legacy password", position=3, enabled=False)

    page = body(client.get("/login"))

    assert page.index("Guest password") < page.index("Staff password")
    assert 'action="/login/guests"' in page and 'action="/login/staff"' in page
    assert "Legacy password" not in page
    assert "/login/legacy" not in page


def test_login_page_says_so_when_no_way_to_sign_in_is_enabled(client, make_authenticator):
    make_authenticator("legacy", title="Legacy password", enabled=False)

    response = client.get("/login")

    assert response.status_code == 200
    assert "No way to sign in is switched on yet." in body(response)
    # The page's own content; the footer's language switcher is a form on every page.
    assert "<form" not in body(response).split("<main", 1)[1].split("</main>", 1)[0]


def test_an_authenticator_whose_plugin_is_not_loaded_is_not_offered(client, make_authenticator):
    make_authenticator("password", title="Password")
    make_authenticator("phone", method="sms", title="Text message")

    page = body(client.get("/login"))

    assert "Password" in page
    assert "Text message" not in page


@pytest.mark.parametrize("name", ["nonexistent", "legacy", "phone"])
def test_posting_to_an_unknown_disabled_or_unloaded_authenticator_is_404(
    client, make_authenticator, make_user, name
):
    make_authenticator("password")
    make_authenticator("legacy", enabled=False)
    make_authenticator("phone", method="sms")
    make_user(username="alice")

    response = post_form(client, f"/login/{name}", {"login": "alice", "password": PASSWORD})

    assert response.status_code == 404
    assert not signed_in(client)


# -- success and where it leads -----------------------------------------------------------------


def test_success_redirects_to_the_start_page_with_303(client, alice):
    response = password_login(client, "alice")

    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    page = client.get("/")
    assert "Hello, Alice" in body(page)
    assert "pwd" in body(page)


def test_next_is_kept_through_the_login(client, admin):
    guarded = client.get("/admin/users?q=x")
    assert guarded.status_code == 302
    login_page = guarded.headers["Location"]
    assert login_page == "/login?next=/admin/users?q%3Dx"
    client.get(login_page)

    response = password_login(client, "root")

    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/users?q=x"


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "//evil.example/admin/",
        "https://evil.example",
        "https://evil.example/admin/",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
        "/\t/evil.example",  # browsers drop the tab and read //evil.example
        "/\r\nLocation: https://evil.example",
    ],
)
def test_next_never_leads_to_another_site(client, alice, target):
    client.get("/login", query_string={"next": target})

    response = password_login(client, "alice")

    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_next_is_used_once(client, admin):
    client.get("/login?next=/admin/")
    assert password_login(client, "root").headers["Location"] == "/admin/"
    post_form(client, "/logout", page="/")

    assert password_login(client, "root").headers["Location"] == "/"


# -- failures -----------------------------------------------------------------------------------


def _without_values(html: str) -> str:
    """The page with the form values (CSRF token, the typed login) blanked out."""
    return re.sub(r'value="[^"]*"', 'value=""', html)


def test_wrong_password_unknown_user_and_inactive_user_look_the_same(client, alice, make_user):
    make_user(username="carol", active=False)

    wrong = password_login(client, "alice", "not the password")
    unknown = password_login(client, "nobody", PASSWORD)
    inactive = password_login(client, "carol", PASSWORD)

    assert wrong.status_code == unknown.status_code == inactive.status_code == 200
    for response in (wrong, unknown, inactive):
        assert FAILED in body(response)
    assert _without_values(body(wrong)) == _without_values(body(unknown))
    assert _without_values(body(unknown)) == _without_values(body(inactive))
    assert not signed_in(client)


def test_a_user_without_a_password_cannot_sign_in_with_any(client, alice, make_user):
    make_user(username="phoneonly", password=None)

    for attempt in ("", PASSWORD, "anything at all"):
        response = password_login(client, "phoneonly", attempt)
        assert response.status_code == 200
    assert not signed_in(client)


@pytest.mark.parametrize(("login", "password"), [("", PASSWORD), ("alice", ""), ("   ", PASSWORD)])
def test_empty_fields_are_refused_with_a_message(client, alice, login, password):
    response = password_login(client, login, password)

    assert response.status_code == 200
    assert "Enter your username and your password." in body(response)
    assert not signed_in(client)


def test_the_password_is_never_echoed_but_the_login_is(client, alice):
    typed = "Typed-Secret-4711!"

    page = body(password_login(client, "alice", typed))

    assert typed not in page
    assert re.search(r'name="login"[^>]*value="alice"', page, re.S)
    assert re.search(r'name="password"[^>]*>', page)
    assert not re.search(r'name="password"[^>]*value=', page, re.S)
    assert 'aria-invalid="true"' in page


def test_the_failure_is_shown_at_the_authenticator_that_was_used(client, make_authenticator):
    make_authenticator("staff", title="Staff password")
    make_authenticator("guests", title="Guest password")

    page = body(password_login(client, "someone", "wrong password", authenticator="guests"))

    staff, guests = page.split('action="/login/guests"')
    assert FAILED in guests
    assert FAILED not in staff


# -- what counts as the login name ----------------------------------------------------------------


@pytest.mark.parametrize("login", ["alice", "ALICE", "Alice", "  alice  "])
def test_username_is_case_insensitive(client, alice, login):
    assert password_login(client, login).status_code == 303


@pytest.mark.parametrize("login", ["alice@example.org", "Alice@Example.ORG"])
def test_email_address_signs_in_too(client, alice, login):
    assert password_login(client, login).status_code == 303
    assert signed_in(client)


def test_email_is_refused_when_the_authenticator_does_not_allow_it(
    client, make_authenticator, make_user
):
    make_authenticator(options={"allow_email": False})
    make_user(username="alice", email="alice@example.org")

    page = body(client.get("/login"))
    assert "Username or e-mail address" not in page
    assert ">Username<" in page

    refused = password_login(client, "alice@example.org")
    assert refused.status_code == 200
    assert FAILED in body(refused)
    assert not signed_in(client)

    assert password_login(client, "alice").status_code == 303


# -- audit --------------------------------------------------------------------------------------


def test_success_and_failure_are_audited_without_the_password(app, client, alice):
    client.environ_base["REMOTE_ADDR"] = "192.0.2.44"
    wrong = "Wrong-Horse-Battery-9"
    password_login(client, "alice", wrong)
    password_login(client, "alice")

    failure, success = events(app, "login.failure"), events(app, "login.success")
    assert len(failure) == 1 and len(success) == 1
    assert failure[0].after == {"method": "password"}
    assert failure[0].ip == "192.0.2.44"
    assert failure[0].actor_id is None
    assert success[0].target == f"user:{alice.id}"
    assert success[0].actor_id == alice.id
    assert success[0].actor == "Alice"
    assert success[0].after == {"method": "password", "amr": ["pwd"]}
    assert success[0].ip == "192.0.2.44"
    for event in events(app):
        columns = json.dumps(
            {c.key: getattr(event, c.key) for c in AuditEvent.__table__.columns}, default=str
        )
        assert PASSWORD not in columns
        assert wrong not in columns


def test_a_successful_login_records_the_time(app, client, alice, clock):
    password_login(client, "alice")

    with app.app_context():
        assert db.session.get(User, alice.id).last_login_at == clock.now


# -- password hashes ------------------------------------------------------------------------------


def test_a_hash_made_with_other_argon2_parameters_is_upgraded_at_login(
    app, client, make_user, make_authenticator
):
    older = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1, hash_len=16, salt_len=16)
    old_hash = older.hash(PASSWORD)
    make_authenticator()
    user = make_user(username="dora", password=None, password_hash=old_hash)

    # A wrong password leaves the old hash alone.
    password_login(client, "dora", "not the password")
    assert stored_hash(app, user.id) == old_hash

    assert password_login(client, "dora").status_code == 303

    new_hash = stored_hash(app, user.id)
    assert new_hash != old_hash
    with app.app_context():
        passwords = state.current().passwords
        assert not passwords.needs_rehash(new_hash)
        assert passwords.verify(new_hash, PASSWORD)
    post_form(client, "/logout", page="/")
    assert password_login(client, "dora").status_code == 303
    assert stored_hash(app, user.id) == new_hash  # upgraded once, not at every login


# -- forms --------------------------------------------------------------------------------------


def test_login_without_the_form_token_is_refused(client, alice):
    response = client.post("/login/password", data={"login": "alice", "password": PASSWORD})

    assert response.status_code == 400
    assert "Reload the page" in body(response)
    assert not signed_in(client)


def test_login_with_a_token_from_another_session_is_refused(app, client, alice):
    other = app.test_client()
    token = csrf_token(other)

    response = client.post(
        "/login/password", data={"csrf_token": token, "login": "alice", "password": PASSWORD}
    )

    assert response.status_code == 400
    assert not signed_in(client)
