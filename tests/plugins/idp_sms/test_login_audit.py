"""Signing in by text message leaves ``login.success`` and ``login.failure`` events with the
authenticator, and the account when a real code went to it; never a code, and never a phone
number in clear."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent, User
from tests.conftest import password_login, post_form
from tests.plugins.idp_sms.support import (
    KNOWN,
    OTHER,
    enter,
    events,
    last_code,
    sms_login,
    start,
    wrong,
)


def stored(app) -> str:
    """Every column of every audit event, as one text."""
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent)).all()
        return json.dumps(
            [{c.key: getattr(r, c.key) for c in AuditEvent.__table__.columns} for r in rows],
            default=str,
        )


def no_number_or_code_in_clear(app, *codes: str) -> None:
    text = stored(app)
    for number in (KNOWN, OTHER):
        assert number not in text and number[1:] not in text
    for code in codes:
        assert code not in text


@pytest.mark.usefixtures("sms")
def test_a_known_number_signs_in_with_sms_and_a_wrong_code_names_the_account(app, client, known):
    start(client, KNOWN)
    right = last_code(app)
    enter(client, wrong(right))
    assert enter(client, right).status_code == 303

    [failure] = events(app, "login.failure")
    assert failure.target == f"user:{known.id}"
    assert failure.after == {"method": "sms", "reason": "wrong"}
    assert failure.actor_id is None
    [success] = events(app, "login.success")
    assert success.target == f"user:{known.id}"
    assert success.after == {"method": "sms", "amr": ["sms"]}
    no_number_or_code_in_clear(app, right, wrong(right))


@pytest.mark.usefixtures("sms")
def test_a_wrong_code_at_sign_up_names_nobody(app, client):
    start(client, OTHER)
    enter(client, wrong(last_code(app)))
    sms_login(app, client, OTHER)  # a new code, and the account is made

    [failure] = events(app, "login.failure")
    assert failure.target is None
    assert failure.after == {"method": "sms", "reason": "wrong"}
    [signup] = events(app, "user.signup")
    assert events(app, "login.success")[0].target == signup.target
    no_number_or_code_in_clear(app, last_code(app))


class TestSignUpOff:
    @pytest.fixture
    def sms_options(self, sms_options):
        """Sign-up off, unknown numbers answered like known ones (the default)."""
        return {**sms_options, "allow_signup": False}

    @pytest.mark.usefixtures("sms", "known")
    def test_a_wrong_code_for_a_number_without_an_account_names_nobody(self, app, client):
        start(client, OTHER)
        enter(client, "123456")

        [failure] = events(app, "login.failure")
        assert failure.target is None
        assert failure.after == {"method": "sms", "reason": "wrong"}
        no_number_or_code_in_clear(app, "123456")


@pytest.mark.usefixtures("sms")
def test_an_account_switched_off_after_the_code_was_sent_is_a_failure(app, client, known):
    start(client, KNOWN)
    with app.app_context():
        db.session.get(User, known.id).active = False
        db.session.commit()

    enter(client, last_code(app))

    [failure] = events(app, "login.failure")
    assert (failure.target, failure.after) == (
        f"user:{known.id}",
        {"method": "sms", "reason": "inactive"},
    )
    assert events(app, "login.success") == []


@pytest.mark.usefixtures("password", "sms")
def test_password_then_a_wrong_then_the_right_sms_code(app, client, make_user, clock):
    alice = make_user(username="alice", nickname="Alice", phone=KNOWN, phone_verified_at=clock())
    password_login(client, "alice")
    post_form(client, "/m/sms/sms/second", page="/login/second")
    right = last_code(app)
    enter(client, wrong(right), kind="second")
    enter(client, right, kind="second")

    [failure] = events(app, "login.failure")
    assert failure.target == f"user:{alice.id}"
    assert failure.after == {"method": "sms", "reason": "wrong"}
    [success] = events(app, "login.success")
    assert success.after == {"method": "password+sms", "amr": ["pwd", "sms", "mfa"]}
    no_number_or_code_in_clear(app, right, wrong(right))


def test_a_phone_number_in_the_actors_name_is_masked_even_an_old_one():
    from idp.security.audit import actor_name

    renumbered = User(nickname=f"{OTHER} (work)", phone=KNOWN)

    assert actor_name(renumbered) == "+31*******21 (work)"
    assert actor_name(User(nickname="Alice +1 for tea")) == "Alice +1 for tea"
