"""Server-side sessions: the cookie, what the database keeps, rotation, logout and lifetimes."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.models import User, UserSession
from tests.conftest import PASSWORD, csrf_token, password_login, post_form

COOKIE = "__Host-poort_session"
DEV_COOKIE = "poort_session"


@pytest.fixture
def app_config(app_config):
    return {**app_config, "session_idle_minutes": 30, "session_absolute_hours": 2}


@pytest.fixture
def alice(make_user, admin):
    """A user who signs in with the password authenticator the admin fixture makes."""
    return make_user(username="alice", email="alice@example.org", nickname="Alice")


def sessions(app) -> list[UserSession]:
    with app.app_context():
        rows = db.session.scalars(select(UserSession).order_by(UserSession.id)).all()
        for row in rows:
            db.session.expunge(row)
        return list(rows)


def row_for(app, token: str) -> UserSession | None:
    digest = hashlib.sha256(token.encode()).hexdigest()
    return next((row for row in sessions(app) if row.token_hash == digest), None)


def signed_in(client, **kwargs) -> bool:
    """What a person sees on the start page: their greeting, or the way to the login page."""
    response = client.get("/", **kwargs)
    if response.status_code == 302:
        assert response.headers["Location"] == "/login"
        return False
    assert response.status_code == 200
    assert "Hello, Alice" in response.get_data(as_text=True)
    return True


def set_cookie_header(response, name: str) -> str:
    headers = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{name}=")]
    assert len(headers) == 1, response.headers.getlist("Set-Cookie")
    return headers[0]


def attributes(header: str) -> tuple[str, dict[str, str | None]]:
    first, *rest = [part.strip() for part in header.split(";")]
    value = first.partition("=")[2]
    attrs: dict[str, str | None] = {}
    for part in rest:
        key, sep, val = part.partition("=")
        attrs[key.lower()] = val if sep else None
    return value, attrs


# -- the cookie -------------------------------------------------------------------------------


def test_login_sets_a_host_only_secure_httponly_lax_cookie(client, alice):
    response = password_login(client, "alice")

    assert response.status_code == 303
    value, attrs = attributes(set_cookie_header(response, COOKIE))
    assert len(value) >= 43  # 256 random bits, url-safe base64
    assert "secure" in attrs
    assert "httponly" in attrs
    assert attrs["samesite"] == "Lax"
    assert attrs["path"] == "/"
    assert "domain" not in attrs  # a __Host- cookie may not name a domain
    assert "expires" not in attrs and "max-age" not in attrs  # gone when the browser closes


def test_database_keeps_only_the_sha256_of_the_cookie(app, client, alice):
    password_login(client, "alice")
    token = client.get_cookie(COOKIE).value

    rows = [row for row in sessions(app) if row.user_id == alice.id]
    assert len(rows) == 1
    row = rows[0]
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    stored = [str(getattr(row, column.key)) for column in UserSession.__table__.columns]
    assert not any(token in value for value in stored)


def test_session_row_records_who_where_and_how(app, client, alice, clock):
    client.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    client.environ_base["HTTP_USER_AGENT"] = "PoortTest/1.0 (X11)"
    login_time = clock.now
    password_login(client, "alice")

    row = row_for(app, client.get_cookie(COOKIE).value)
    assert row is not None
    assert row.user_id == alice.id
    assert row.ip == "203.0.113.9"
    assert row.user_agent == "PoortTest/1.0 (X11)"
    assert row.auth_time == login_time
    assert row.created_at == login_time
    assert row.amr_values == ["pwd"]
    assert row.revoked_at is None


# -- a new id at login (fixation) ---------------------------------------------------------------


def test_a_session_planted_before_login_is_revoked_at_login(app, alice):
    attacker = app.test_client()
    attacker.get("/login?next=/admin/")  # an anonymous session the attacker knows
    planted = attacker.get_cookie(COOKIE).value
    assert row_for(app, planted) is not None

    victim = app.test_client()
    victim.set_cookie(COOKIE, planted, secure=True, httponly=True)
    assert password_login(victim, "alice").status_code == 303

    fresh = victim.get_cookie(COOKIE).value
    assert fresh != planted
    assert row_for(app, planted).revoked_at is not None
    assert row_for(app, fresh).user_id == alice.id
    assert signed_in(victim)
    assert not signed_in(attacker)


def test_a_cookie_value_chosen_by_an_attacker_is_never_adopted(app, client, alice):
    client.set_cookie(COOKIE, "chosen-by-the-attacker", secure=True, httponly=True)

    password_login(client, "alice")

    assert client.get_cookie(COOKIE).value != "chosen-by-the-attacker"
    assert row_for(app, "chosen-by-the-attacker") is None
    assert signed_in(client)


def test_every_login_gets_a_new_session_id(app, client, alice):
    password_login(client, "alice")
    first = client.get_cookie(COOKIE).value

    password_login(client, "alice")
    second = client.get_cookie(COOKIE).value

    assert second != first
    assert row_for(app, first).revoked_at is not None
    assert row_for(app, second).revoked_at is None


# -- logout -------------------------------------------------------------------------------------


def test_logout_revokes_the_row_and_the_old_cookie_is_anonymous(app, client, alice, clock):
    password_login(client, "alice")
    token = client.get_cookie(COOKIE).value
    clock.advance(minutes=5)

    response = post_form(client, "/logout", page="/")

    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    assert client.get_cookie(COOKIE) is None  # the browser is told to forget it
    assert row_for(app, token).revoked_at == clock.now
    client.set_cookie(COOKIE, token, secure=True, httponly=True)  # replayed
    assert not signed_in(client)
    assert client.get("/admin/").status_code == 302


def test_logout_needs_the_form_token(client, alice):
    password_login(client, "alice")

    response = client.post("/logout")

    assert response.status_code == 400
    assert "Reload the page" in response.get_data(as_text=True)
    assert signed_in(client)


def test_logout_is_not_a_get(client, alice):
    password_login(client, "alice")

    assert client.get("/logout").status_code == 405
    assert signed_in(client)


# -- lifetimes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("idle", "still_signed_in"),
    [
        (timedelta(minutes=29, seconds=59), True),
        (timedelta(minutes=30), True),
        (timedelta(minutes=30, seconds=1), False),
        (timedelta(hours=5), False),
    ],
)
def test_idle_lifetime(client, alice, clock, idle, still_signed_in):
    password_login(client, "alice")

    clock.advance(seconds=idle.total_seconds())

    assert signed_in(client) is still_signed_in


def test_activity_keeps_an_idle_session_alive(client, alice, clock):
    password_login(client, "alice")
    for _ in range(3):
        clock.advance(minutes=25)
        assert signed_in(client)


@pytest.mark.parametrize(("past_boundary", "still_signed_in"), [(0, True), (1, False)])
def test_absolute_lifetime_ends_an_active_session(
    client, alice, clock, past_boundary, still_signed_in
):
    password_login(client, "alice")
    for minutes in (25, 25, 25, 25, 19):  # active all along, never 30 minutes idle
        clock.advance(minutes=minutes)
        assert signed_in(client)

    clock.advance(minutes=1, seconds=past_boundary)  # exactly 2 h after login, or 1 s more

    assert signed_in(client) is still_signed_in


def test_an_expired_session_does_not_reach_the_admin_panel(client, admin, clock):
    password_login(client, "root")
    assert client.get("/admin/").status_code == 200

    clock.advance(minutes=31)

    response = client.get("/admin/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_last_seen_is_written_at_most_once_a_minute(app, client, alice, clock):
    login_time = clock.now
    password_login(client, "alice")
    token = client.get_cookie(COOKIE).value

    clock.advance(seconds=59)
    assert signed_in(client)
    assert row_for(app, token).last_seen_at == login_time

    clock.advance(seconds=1)
    assert signed_in(client)
    assert row_for(app, token).last_seen_at == login_time + timedelta(seconds=60)

    clock.advance(seconds=30)
    assert signed_in(client)
    assert row_for(app, token).last_seen_at == login_time + timedelta(seconds=60)


# -- deactivation -------------------------------------------------------------------------------


def test_deactivating_a_user_in_the_panel_ends_all_their_sessions(app, admin_client, alice):
    laptop, phone = app.test_client(), app.test_client()
    password_login(laptop, "alice")
    password_login(phone, "alice")
    assert signed_in(laptop) and signed_in(phone)

    response = post_form(
        admin_client, f"/admin/users/{alice.id}/active", {"active": "0"}, page="/admin/users"
    )
    assert response.status_code == 303

    assert not signed_in(laptop)
    assert not signed_in(phone)
    rows = [row for row in sessions(app) if row.user_id == alice.id]
    assert len(rows) == 2 and all(row.revoked_at is not None for row in rows)
    # Switching the account on again does not bring the old sessions back.
    post_form(admin_client, f"/admin/users/{alice.id}/active", {"active": "1"}, page="/admin/users")
    assert not signed_in(laptop)


def test_a_deactivated_account_is_signed_out_even_if_its_rows_were_not_revoked(app, client, alice):
    password_login(client, "alice")
    with app.app_context():
        db.session.get(User, alice.id).active = False
        db.session.commit()

    assert not signed_in(client)


# -- dev mode -----------------------------------------------------------------------------------


class TestDevMode:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "dev": True}

    def test_over_http_the_cookie_has_no_prefix_and_no_secure_flag(self, client, alice):
        response = password_login(client, "alice")  # dev mode: the test client speaks http

        assert response.request.scheme == "http"
        assert not any(h.startswith(f"{COOKIE}=") for h in response.headers.getlist("Set-Cookie"))
        value, attrs = attributes(set_cookie_header(response, DEV_COOKIE))
        assert "secure" not in attrs
        assert "httponly" in attrs
        assert attrs["samesite"] == "Lax"
        assert signed_in(client)

    def test_over_https_dev_mode_still_uses_the_secure_host_cookie(self, client, alice):
        https = {"base_url": "https://localhost"}
        token = csrf_token(client, "https://localhost/login")
        response = client.post(
            "/login/password",
            data={"csrf_token": token, "login": "alice", "password": PASSWORD},
            **https,
        )

        assert response.status_code == 303
        _, attrs = attributes(set_cookie_header(response, COOKIE))
        assert "secure" in attrs
        assert signed_in(client, **https)
