"""``poort audit prune``: deletes only audit events older than the cutoff, says how many, and
leaves one ``audit.pruned`` event behind, so a deletion of evidence is itself evidence."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from idp.extensions import db
from idp.models import AuditEvent, UserSession
from tests.conftest import password_login


def add_event(app, action, created_at):
    with app.app_context():
        db.session.add(AuditEvent(action=action, actor="cli", created_at=created_at))
        db.session.commit()


def audit(app):
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def invoke(app, *args):
    return app.test_cli_runner().invoke(args=["idp", "audit", "prune", *args])


def test_prune_uses_the_retention_setting_by_default(app, clock):
    add_event(app, "test.outside", clock.now - timedelta(days=400, seconds=1))
    add_event(app, "test.inside", clock.now - timedelta(days=399, hours=23))

    result = invoke(app)

    assert result.exit_code == 0, result.output
    assert result.output == "audit_events: 1 deleted (older than 400 days)\n"
    inside, pruned = audit(app)
    assert inside.action == "test.inside"
    assert pruned.action == "audit.pruned"
    assert pruned.actor == "cli"
    assert pruned.created_at == clock.now
    assert pruned.after == {
        "count": 1,
        "older_than_days": 400,
        "cutoff": (clock.now - timedelta(days=400)).isoformat(),
    }


def test_older_than_deletes_younger_events_too(app, clock):
    for days in (3, 8, 9, 500):
        add_event(app, f"test.{days}_days_old", clock.now - timedelta(days=days))

    result = invoke(app, "--older-than", "7")

    assert result.exit_code == 0, result.output
    assert "audit_events: 3 deleted (older than 7 days)" in result.output
    assert [(e.action, (e.after or {}).get("count")) for e in audit(app)] == [
        ("test.3_days_old", None),
        ("audit.pruned", 3),
    ]


def test_only_audit_events_are_deleted(app, client, admin, clock):
    password_login(client, "root")
    clock.advance(days=30)  # the session is long dead; `poort prune` would delete it

    result = invoke(app, "--older-than", "1")

    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(select(func.count(UserSession.id))) > 0
    assert [e.action for e in audit(app)] == ["audit.pruned"]


def test_nothing_old_enough_deletes_and_records_nothing(app, clock):
    add_event(app, "test.recent", clock.now - timedelta(days=1))

    result = invoke(app)

    assert result.exit_code == 0, result.output
    assert "audit_events: 0 deleted" in result.output
    assert [e.action for e in audit(app)] == ["test.recent"]


def test_older_than_must_be_a_positive_number_of_days(app, clock):
    add_event(app, "test.recent", clock.now - timedelta(hours=1))

    for bad in ("0", "-5", "soon"):
        result = invoke(app, "--older-than", bad)
        assert result.exit_code == 2, result.output
        assert "--older-than" in result.output

    assert [e.action for e in audit(app)] == ["test.recent"]
