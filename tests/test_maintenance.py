"""Pruning removes what is dead and keeps what is alive."""

from sqlalchemy import func, select

from idp.extensions import db
from idp.maintenance import prune
from idp.models import UserSession
from tests.conftest import password_login


def _sessions(app):
    with app.app_context():
        return db.session.scalar(select(func.count(UserSession.id)))


def test_prune_deletes_idle_and_old_revoked_sessions_but_keeps_live_ones(app, client, admin, clock):
    password_login(client, "root")  # one live session (plus the anonymous one it replaced)
    other = app.test_client()
    other.get("/login")  # an anonymous session that will go idle
    clock.advance(minutes=30)
    client.get("/")  # keeps the signed-in session fresh
    clock.advance(minutes=31)
    with app.app_context():
        counts = prune()
    assert counts["sessions"] >= 1
    assert client.get("/admin/").status_code == 200  # still signed in
    before = _sessions(app)
    clock.advance(days=8)
    with app.app_context():
        prune()
    assert _sessions(app) < before


def test_prune_keeps_nothing_alive_longer_than_the_absolute_lifetime(app, client, admin, clock):
    password_login(client, "root")
    for _ in range(25):
        clock.advance(hours=1)
        client.get("/")
    with app.app_context():
        prune()
    assert _sessions(app) == 0
    assert client.get("/admin/").status_code == 302


def test_the_prune_command_reports_what_it_deleted(app, client, admin, clock):
    password_login(client, "root")
    clock.advance(days=9)
    result = app.test_cli_runner().invoke(args=["idp", "prune"])
    assert result.exit_code == 0, result.output
    assert "sessions: " in result.output and "tokens: " in result.output
    assert _sessions(app) == 0
