"""The audit log page and the dashboard counts."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from idp.extensions import db
from idp.models import AuditEvent
from tests.conftest import password_login, post_form


def body(response) -> str:
    return response.get_data(as_text=True)


def actions(page: str) -> list[str]:
    """The action column of the audit table, top to bottom."""
    return re.findall(r"<td><code>([^<]+)</code></td>", page)


def targets(page: str) -> list[str]:
    return re.findall(r"<td><code>[^<]+</code></td>\s*<td>([^<]*)</td>", page)


def add_events(app, *specs: tuple[str, str | None], created_at=None) -> None:
    """Write audit events directly, oldest first: (action, actor) pairs."""
    with app.app_context():
        for n, (action, actor) in enumerate(specs):
            values = {"action": action, "actor": actor, "target": f"thing:{n}"}
            if created_at is not None:
                values["created_at"] = created_at
            db.session.add(AuditEvent(**values))
        db.session.commit()


# -- the audit log --------------------------------------------------------------------------------


def test_newest_first_with_who_what_change_and_ip(app, admin_client, make_user):
    admin_client.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    alice = make_user(username="alice", nickname="Alice")
    post_form(admin_client, f"/admin/users/{alice.id}/admin", {"is_admin": "1"}, page="/admin/")
    post_form(admin_client, f"/admin/users/{alice.id}/active", {"active": "0"}, page="/admin/")

    page = body(admin_client.get("/admin/audit"))

    assert actions(page) == ["user.deactivate", "user.grant_admin", "login.success"]
    newest = page.split("<tbody>", 1)[1].split("</tr>", 1)[0]
    assert "Root" in newest
    assert f"user:{alice.id}" in newest
    assert "198.51.100.7" in newest
    assert 'before: {"active": true, "is_admin": true}' in newest
    assert 'after: {"active": false, "is_admin": true}' in newest
    assert "3 events." in page


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("user.", ["user.revoke_admin", "user.grant_admin"]),
        ("user.grant", ["user.grant_admin"]),
        ("login", ["login.success", "login.success", "login.failure"]),
        ("authenticator", ["authenticator.disable"]),
        ("user_", []),  # no LIKE wildcards: "_" is an underscore
        ("%", []),
        ("nothing.like.this", []),
    ],
)
def test_filter_by_action_prefix(app, client, admin, make_user, action, expected):
    alice = make_user(username="alice", nickname="Alice")
    password_login(client, "nobody", "wrong password")
    password_login(client, "alice")
    password_login(client, "root")
    post_form(client, f"/admin/users/{alice.id}/admin", {"is_admin": "1"}, page="/admin/")
    post_form(client, f"/admin/users/{alice.id}/admin", {"is_admin": "0"}, page="/admin/")
    post_form(client, "/admin/authenticators/password/enabled", {"enabled": "0"}, page="/admin/")

    page = body(client.get("/admin/audit", query_string={"action": action}))

    assert actions(page) == expected
    assert f'id="action" name="action" type="text" value="{action}"' in page
    if not expected:
        assert "Nothing recorded yet." in page


def test_filter_by_actor(app, admin_client, make_user):
    add_events(app, ("settings.change", "cli"), ("user.import", "cli"))
    alice = make_user(username="alice", nickname="Alice")
    post_form(admin_client, f"/admin/users/{alice.id}/revoke-sessions", page="/admin/")

    by_root = body(admin_client.get("/admin/audit?actor=Root"))
    by_cli = body(admin_client.get("/admin/audit?actor=cli"))
    by_nobody = body(admin_client.get("/admin/audit?actor=Roo"))  # exact, not a prefix

    assert actions(by_root) == ["user.revoke_sessions", "login.success"]
    assert actions(by_cli) == ["user.import", "settings.change"]
    assert actions(by_nobody) == []


def test_filters_combine(app, admin_client):
    add_events(app, ("user.import", "cli"), ("user.import", "Root"), ("login.failure", None))

    page = body(admin_client.get("/admin/audit?actor=cli&action=user."))

    assert actions(page) == ["user.import"]
    assert targets(page) == ["thing:0"]


def test_filter_by_target_is_exact(app, admin_client, make_user):
    alice = make_user(username="alice", nickname="Alice")
    post_form(admin_client, f"/admin/users/{alice.id}/admin", {"is_admin": "1"}, page="/admin/")
    add_events(app, *[("test.event", "cli") for _ in range(12)])  # thing:0 ... thing:11

    by_alice = body(admin_client.get("/admin/audit", query_string={"target": f"user:{alice.id}"}))
    by_thing = body(admin_client.get("/admin/audit?target=thing:1"))
    by_prefix = body(admin_client.get("/admin/audit?target=user:"))

    assert actions(by_alice) == ["user.grant_admin"]
    assert f'id="target" name="target" type="text" value="user:{alice.id}"' in by_alice
    assert targets(by_thing) == ["thing:1"]  # not thing:10 and thing:11
    assert actions(by_prefix) == []


def test_filter_by_action_prefix_and_target(app, client, admin, make_user):
    alice = make_user(username="alice", nickname="Alice")
    password_login(client, "alice")
    password_login(client, "root")
    post_form(client, f"/admin/users/{alice.id}/admin", {"is_admin": "1"}, page="/admin/")
    with app.app_context():
        db.session.add(AuditEvent(action="login.failure", target=f"user:{alice.id}"))
        db.session.commit()

    page = body(
        client.get("/admin/audit", query_string={"action": "login.", "target": f"user:{alice.id}"})
    )

    assert actions(page) == ["login.failure", "login.success"]
    assert "2 events." in page


def test_pagination_keeps_the_target_filter(app, admin_client):
    with app.app_context():
        for n in range(110):
            db.session.add(AuditEvent(action="test.event", target=f"thing:{n % 2}"))
        db.session.commit()

    first = body(admin_client.get("/admin/audit?target=thing:1"))
    link = re.search(r'href="([^"]*page=2[^"]*)"', first).group(1).replace("&amp;", "&")
    second = body(admin_client.get(link))

    assert "target=thing" in link
    assert "55 events." in first and "Page 1 of 2" in first
    assert targets(first) == ["thing:1"] * 50
    assert targets(second) == ["thing:1"] * 5


def test_the_page_states_the_retention_period(request, app_config):
    app_config["audit_retention_days"] = 90
    admin_client = request.getfixturevalue("admin_client")

    page = body(admin_client.get("/admin/audit"))

    assert "Events are kept 90 days; <code>poort prune</code> deletes older ones." in page


def test_pagination_newest_first(app, admin_client):
    add_events(app, *[(f"test.event{n:02}", "cli") for n in range(60)])

    first = body(admin_client.get("/admin/audit"))
    second = body(admin_client.get("/admin/audit?page=2"))

    assert actions(first) == [f"test.event{n:02}" for n in range(59, 9, -1)]
    assert actions(second) == [f"test.event{n:02}" for n in range(9, -1, -1)] + ["login.success"]
    assert "Page 1 of 2" in first and "Page 2 of 2" in second
    assert "61 events." in first


def test_pagination_keeps_the_filter(app, admin_client):
    add_events(app, *[("test.event", "cli") for _ in range(55)])

    first = body(admin_client.get("/admin/audit?action=test."))
    link = re.search(r'href="([^"]*page=2[^"]*)"', first).group(1).replace("&amp;", "&")
    second = body(admin_client.get(link))

    assert "action=test." in link
    assert len(actions(first)) == 50
    assert actions(second) == ["test.event"] * 5


def test_nonsense_page_shows_page_one(app, admin_client):
    add_events(app, *[(f"test.event{n:02}", "cli") for n in range(60)])

    page = body(admin_client.get("/admin/audit?page=zwei"))

    assert actions(page)[0] == "test.event59"


def test_audit_values_are_shown_escaped(app, admin_client):
    post_form(
        admin_client,
        "/admin/authenticators/new?method=password",
        {"method": "password", "name": "xss", "title": "<script>alert(1)</script>"},
        page="/admin/authenticators",
    )

    page = body(admin_client.get("/admin/audit"))

    assert actions(page)[0] == "authenticator.create"
    assert "<script>alert(1)</script>" not in page


# -- the dashboard --------------------------------------------------------------------------------


def stats(page: str) -> dict[str, int]:
    found = re.findall(r'<div class="stat"><strong>(\d+)</strong> ([^<(]+)', page)
    return {label.strip(): int(number) for number, label in found}


def test_dashboard_counts(app, admin, make_user, make_authenticator, clock):
    make_authenticator("staff", title="Staff")
    make_authenticator("legacy", title="Legacy", enabled=False)
    make_user(username="alice", nickname="Alice")
    make_user(username="bob", nickname="Bob")
    make_user(username="carol", nickname="Carol", is_admin=True)
    add_events(
        app,
        ("login.success", "Old"),
        ("login.failure", None),
        created_at=clock.now - timedelta(hours=25),
    )
    alice_device, bob_device, carol_device, stranger = (app.test_client() for _ in range(4))
    password_login(alice_device, "alice")
    password_login(bob_device, "bob")
    password_login(carol_device, "carol")
    post_form(carol_device, "/logout", page="/")  # a revoked session
    password_login(stranger, "mallory", "wrong password")  # a failure, anonymous session
    clock.advance(minutes=45)
    password_login(bob_device, "bob")  # a second sign-in, same browser: still one session
    admin_client = app.test_client()
    password_login(admin_client, "root")

    page = body(admin_client.get("/admin/"))

    expected = {
        "users": 4,
        "active sessions": 3,  # alice, bob, root
        "enabled authenticators": 2,
        "sign-ins today": 5,  # the UTC day of the clock: the 25-hour-old ones are not
        "failed sign-ins today": 1,
    }
    shown = stats(page)
    assert {label: shown.get(label) for label in expected} == expected
    assert "(2 admins)" in page


def test_dashboard_does_not_count_sessions_that_have_ended(app, admin, make_user, clock):
    make_user(username="alice", nickname="Alice")
    make_user(username="bob", nickname="Bob")
    alice_device, bob_device = app.test_client(), app.test_client()
    password_login(alice_device, "alice")
    password_login(bob_device, "bob")
    # Bob stays busy for 24 hours; Alice walks away after her login.
    for _ in range(24):
        clock.advance(minutes=59)
        assert bob_device.get("/").status_code == 200
    clock.advance(minutes=25)  # Bob: 24 h 1 min old, used 25 min ago; Alice idle for a day
    admin_client = app.test_client()
    password_login(admin_client, "root")

    page = body(admin_client.get("/admin/"))

    assert bob_device.get("/").status_code == 302  # past the absolute lifetime
    assert stats(page)["active sessions"] == 1  # only the admin's own


def test_dashboard_shows_recent_changes(admin_client, make_user):
    alice = make_user(username="alice", nickname="Alice")
    post_form(admin_client, f"/admin/users/{alice.id}/admin", {"is_admin": "1"}, page="/admin/")

    page = body(admin_client.get("/admin/"))

    assert actions(page)[:2] == ["user.grant_admin", "login.success"]
