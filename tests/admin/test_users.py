"""Users in the admin panel: find them, switch them off and on, admin rights, sessions."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent, User, UserSession
from idp_password import FAILED
from tests.conftest import password_login, post_form

ADMIN_IP = "198.51.100.7"


@pytest.fixture
def panel(admin_client):
    admin_client.environ_base["REMOTE_ADDR"] = ADMIN_IP
    return admin_client


@pytest.fixture
def alice(make_user):
    return make_user(
        username="alice", email="alice@example.org", nickname="Alice Jansen", phone="+31612345678"
    )


@pytest.fixture
def bob(make_user):
    return make_user(
        username="bob", email="bob@example.net", nickname="Bob de Vries", phone="+32470123456"
    )


def body(response) -> str:
    return response.get_data(as_text=True)


def listed(page: str) -> list[str]:
    """Usernames in the users table, in the order shown."""
    return re.findall(r"</a></td>\s*<td>([^<]*)</td>", page)


def user(app, user_id: int) -> User:
    with app.app_context():
        found = db.session.get(User, user_id)
        db.session.expunge(found)
        return found


def user_events(app) -> list[AuditEvent]:
    with app.app_context():
        found = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action.startswith("user.")).order_by(AuditEvent.id)
        ).all()
        for event in found:
            db.session.expunge(event)
        return list(found)


def live_sessions(app, user_id: int) -> int:
    with app.app_context():
        return len(
            db.session.scalars(
                select(UserSession).where(
                    UserSession.user_id == user_id, UserSession.revoked_at.is_(None)
                )
            ).all()
        )


def act(client, user_id: int, action: str, **fields: str):
    return post_form(client, f"/admin/users/{user_id}/{action}", fields, page="/admin/users")


def signed_in(client) -> bool:
    return client.get("/").status_code == 200


def assert_event(event: AuditEvent, action: str, target: str, before, after) -> None:
    assert event.action == action
    assert event.target == target
    assert event.actor == "Root"
    assert event.ip == ADMIN_IP
    assert event.before == before
    assert event.after == after


# -- list and search ------------------------------------------------------------------------------


def test_the_list_shows_every_user(panel, alice, bob):
    page = body(panel.get("/admin/users"))

    assert listed(page) == ["root", "alice", "bob"]
    assert "3 users." in page
    for shown in ("Alice Jansen", "alice@example.org", "+31612345678", "Bob de Vries"):
        assert shown in page


@pytest.mark.parametrize(
    ("q", "found"),
    [
        ("Jansen", ["alice"]),
        ("jansen", ["alice"]),
        ("ALICE", ["alice"]),
        ("bob", ["bob"]),
        ("example.net", ["bob"]),
        ("alice@example.org", ["alice"]),
        ("@example", ["root", "alice", "bob"]),
        ("+31612345678", ["alice"]),
        ("+31 6 1234 5678", ["alice"]),
        ("06-12345678", ["alice"]),
        ("0470 12 34 56", []),  # a Belgian mobile typed without +32 reads as Dutch: no match
        ("+32 470 12 34 56", ["bob"]),
        ("12345678", ["alice"]),
        ("nobody-at-all", []),
    ],
)
def test_search_by_name_username_email_and_phone(panel, alice, bob, q, found):
    page = body(panel.get("/admin/users", query_string={"q": q}))

    assert listed(page) == found
    if not found:
        assert "No users match." in page


@pytest.mark.parametrize("q", ["%", "_", "%a%"])
def test_search_wildcards_are_taken_literally(panel, alice, bob, q):
    page = body(panel.get("/admin/users", query_string={"q": q}))

    assert listed(page) == []


def test_pagination(panel, make_user):
    for n in range(1, 56):
        make_user(username=f"member{n:02}", nickname=f"Member {n:02}", password=None)

    first = body(panel.get("/admin/users"))
    second = body(panel.get("/admin/users?page=2"))

    assert listed(first) == ["root"] + [f"member{n:02}" for n in range(1, 50)]
    assert listed(second) == [f"member{n:02}" for n in range(50, 56)]
    assert "Page 1 of 2" in first and "Page 2 of 2" in second
    assert 'href="/admin/users?page=2' in first
    assert 'href="/admin/users?page=1' in second
    assert "56 users." in first


@pytest.mark.parametrize("page", ["0", "-1", "abc", "1.5", "", "99999999999", "²", "２"])
def test_a_nonsense_page_number_shows_page_one(panel, make_user, page):
    for n in range(1, 56):
        make_user(username=f"member{n:02}", password=None)

    response = panel.get("/admin/users", query_string={"page": page})

    assert response.status_code == 200
    assert listed(body(response))[:2] == ["root", "member01"]
    assert "Page 1 of 2" in body(response)


def test_search_results_paginate_with_the_query_kept(panel, make_user):
    for n in range(1, 56):
        make_user(username=f"member{n:02}", password=None)
    make_user(username="outsider", password=None)

    first = body(panel.get("/admin/users?q=member"))
    second = body(panel.get("/admin/users?q=member&page=2"))

    assert len(listed(first)) == 50
    assert listed(second) == [f"member{n:02}" for n in range(51, 56)]
    assert "q=member" in re.search(r'href="([^"]*page=2[^"]*)"', first).group(1)


def test_the_user_page_shows_their_details_and_live_sessions(app, panel, alice):
    device = app.test_client()
    device.environ_base["HTTP_USER_AGENT"] = "AliceBrowser/2.0"
    password_login(device, "alice")

    page = body(panel.get(f"/admin/users/{alice.id}"))

    assert "Alice Jansen" in page
    assert "alice@example.org" in page
    assert "AliceBrowser/2.0" in page
    assert "No active sessions." not in page


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/admin/users/999"),
        ("POST", "/admin/users/999/active"),
        ("POST", "/admin/users/999/admin"),
        ("POST", "/admin/users/999/revoke-sessions"),
    ],
)
def test_unknown_user_is_404(app, panel, method, path):
    if method == "GET":
        response = panel.get(path)
    else:
        response = post_form(panel, path, {"active": "0", "is_admin": "1"}, page="/admin/users")

    assert response.status_code == 404
    assert user_events(app) == []


# -- deactivate and activate -------------------------------------------------------------------


def test_deactivate_ends_sessions_and_blocks_login_then_activate_restores(app, panel, alice):
    device = app.test_client()
    password_login(device, "alice")
    assert signed_in(device)

    response = act(panel, alice.id, "active", active="0")

    assert response.status_code == 303
    assert response.headers["Location"] == f"/admin/users/{alice.id}"
    assert "Alice Jansen is now deactivated." in body(panel.get(response.headers["Location"]))
    assert user(app, alice.id).active is False
    assert live_sessions(app, alice.id) == 0
    assert not signed_in(device)
    refused = password_login(device, "alice")
    assert refused.status_code == 200
    assert FAILED in body(refused)

    assert act(panel, alice.id, "active", active="1").status_code == 303

    assert user(app, alice.id).active is True
    assert password_login(device, "alice").status_code == 303
    deactivated, activated = user_events(app)
    target = f"user:{alice.id}"
    assert_event(
        deactivated,
        "user.deactivate",
        target,
        {"active": True, "is_admin": False},
        {"active": False, "is_admin": False},
    )
    assert_event(
        activated,
        "user.activate",
        target,
        {"active": False, "is_admin": False},
        {"active": True, "is_admin": False},
    )


def test_deactivated_users_are_marked_in_the_list(panel, alice):
    act(panel, alice.id, "active", active="0")

    page = body(panel.get("/admin/users?q=alice"))

    assert "deactivated" in page


# -- admin rights -------------------------------------------------------------------------------


def test_make_admin_and_remove_admin(app, panel, alice):
    device = app.test_client()
    password_login(device, "alice")
    assert device.get("/admin/").status_code == 403

    assert act(panel, alice.id, "admin", is_admin="1").status_code == 303
    assert user(app, alice.id).is_admin is True
    assert device.get("/admin/").status_code == 200  # takes effect on the next request

    assert act(panel, alice.id, "admin", is_admin="0").status_code == 303
    assert user(app, alice.id).is_admin is False
    assert device.get("/admin/").status_code == 403

    granted, revoked = user_events(app)
    assert_event(
        granted,
        "user.grant_admin",
        f"user:{alice.id}",
        {"active": True, "is_admin": False},
        {"active": True, "is_admin": True},
    )
    assert_event(
        revoked,
        "user.revoke_admin",
        f"user:{alice.id}",
        {"active": True, "is_admin": True},
        {"active": True, "is_admin": False},
    )


@pytest.mark.parametrize(
    ("action", "fields", "message"),
    [
        ("active", {"active": "0"}, "You cannot deactivate your own account."),
        ("admin", {"is_admin": "0"}, "You cannot remove your own admin rights; ask another admin."),
    ],
)
def test_an_admin_cannot_lock_themself_out(app, panel, admin, action, fields, message):
    response = act(panel, admin.id, action, **fields)

    assert response.status_code == 303
    page = body(panel.get(response.headers["Location"]))
    assert message in page
    me = user(app, admin.id)
    assert me.active is True and me.is_admin is True
    assert user_events(app) == []
    assert panel.get("/admin/").status_code == 200


def test_an_admin_can_demote_another_admin(app, panel, make_user):
    other = make_user(username="second", nickname="Second Admin", is_admin=True)

    act(panel, other.id, "admin", is_admin="0")

    assert user(app, other.id).is_admin is False


# -- sessions -----------------------------------------------------------------------------------


def test_sign_out_everywhere_revokes_only_the_targets_sessions(app, panel, alice, bob):
    laptop, phone, bobs = app.test_client(), app.test_client(), app.test_client()
    password_login(laptop, "alice")
    password_login(phone, "alice")
    password_login(bobs, "bob")

    response = act(panel, alice.id, "revoke-sessions")

    assert response.status_code == 303
    assert "Signed Alice Jansen out of 2 sessions." in body(panel.get(response.headers["Location"]))
    assert not signed_in(laptop)
    assert not signed_in(phone)
    assert signed_in(bobs)
    assert signed_in(panel)
    assert live_sessions(app, alice.id) == 0
    assert "No active sessions." in body(panel.get(f"/admin/users/{alice.id}"))
    [event] = user_events(app)
    assert_event(event, "user.revoke_sessions", f"user:{alice.id}", None, {"sessions_revoked": 2})
    # The account itself stays usable.
    assert password_login(laptop, "alice").status_code == 303


def test_the_user_page_does_not_list_sessions_that_have_expired(app, panel, alice, clock):
    device = app.test_client()
    password_login(device, "alice")
    clock.advance(minutes=40)
    assert signed_in(panel)  # the admin stays active; Alice's session idles
    clock.advance(minutes=21)  # Alice: 61 minutes idle, past the default of 60

    page = body(panel.get(f"/admin/users/{alice.id}"))

    assert "No active sessions." in page
