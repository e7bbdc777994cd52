"""Pruning removes what is dead and keeps what is alive."""

from datetime import timedelta

from sqlalchemy import func, select

from idp.extensions import db
from idp.maintenance import prune
from idp.models import AuditEvent, UserSession
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


# -- audit retention ------------------------------------------------------------------------------


def _add_event(app, action, created_at):
    with app.app_context():
        db.session.add(AuditEvent(action=action, actor="cli", created_at=created_at))
        db.session.commit()


def _audit(app):
    with app.app_context():
        return [
            (event.action, event.after)
            for event in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        ]


def test_prune_deletes_audit_events_just_outside_the_retention_period(app, clock):
    window = timedelta(days=app.extensions["idp"].settings.audit_retention_days)
    assert window == timedelta(days=400)  # the default
    _add_event(app, "test.outside", clock.now - window - timedelta(seconds=1))
    _add_event(app, "test.at_the_cutoff", clock.now - window)
    _add_event(app, "test.inside", clock.now - window + timedelta(seconds=1))

    with app.app_context():
        counts = prune()

    assert counts["audit_events"] == 1
    cutoff = (clock.now - window).isoformat()
    assert _audit(app) == [
        ("test.at_the_cutoff", None),
        ("test.inside", None),
        ("audit.pruned", {"count": 1, "older_than_days": 400, "cutoff": cutoff}),
    ]


def test_prune_follows_the_retention_setting(request, app_config, clock):
    app_config["audit_retention_days"] = 30
    app = request.getfixturevalue("app")
    _add_event(app, "test.old", clock.now - timedelta(days=30, seconds=1))
    _add_event(app, "test.young", clock.now - timedelta(days=29))

    with app.app_context():
        assert prune()["audit_events"] == 1

    assert [action for action, _ in _audit(app)] == ["test.young", "audit.pruned"]


def test_prune_records_nothing_when_no_audit_event_is_old_enough(app, clock):
    _add_event(app, "test.recent", clock.now - timedelta(days=1))

    with app.app_context():
        assert prune()["audit_events"] == 0

    assert _audit(app) == [("test.recent", None)]


def test_the_prune_command_reports_audit_events(app, clock):
    _add_event(app, "test.old", clock.now - timedelta(days=401))

    result = app.test_cli_runner().invoke(args=["idp", "prune"])

    assert result.exit_code == 0, result.output
    assert "audit_events: 1 deleted" in result.output
