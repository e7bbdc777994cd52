"""When texts cannot go out: no verifier at all, a provider that fails, a refused number.
Each is a clear message on the same page, never a server error; admins see why."""

from __future__ import annotations

from pathlib import Path

import pytest

from idp.extensions import db
from idp.models import SmsLogEntry
from tests.conftest import password_login, post_form
from tests.plugins.idp_sms.conftest import add_verifier
from tests.plugins.idp_sms.support import KNOWN, body, challenges, outbox, start

UNAVAILABLE = "Sign-in by text message is not available right now."


@pytest.fixture
def bare_sms(make_authenticator):
    """An SMS authenticator, and no verifier anywhere."""
    return make_authenticator("sms", method="sms", title="Text message")


def test_without_any_verifier_people_see_a_plain_message(app, client, bare_sms, password):
    page = body(client.get("/login"))

    assert UNAVAILABLE in page
    assert 'action="/m/sms/sms/login"' not in page
    response = start(client, KNOWN)
    assert response.status_code == 503 and UNAVAILABLE in body(response)
    assert challenges(app) == []


def test_admins_see_why_in_the_authenticator_list(app, bare_sms, admin_client):
    page = body(admin_client.get("/admin/authenticators"))

    assert "Unavailable: No verifier is named, no enabled verifier is marked default" in page


def test_a_named_verifier_that_is_missing_is_reported(
    app, make_authenticator, admin_client, console
):
    make_authenticator("sms", method="sms", options={"verifier": "gone"})

    page = body(admin_client.get("/admin/authenticators"))

    assert "Unavailable: The verifier &#39;gone&#39; does not exist." in page
    assert UNAVAILABLE in body(admin_client.get("/login"))


def test_the_authenticator_may_name_its_verifier(app, client, clock, make_authenticator, console):
    add_verifier(app, clock, "other", "console", {"outbox": "other-outbox.jsonl"})
    make_authenticator("sms", method="sms", options={"verifier": "other"})

    assert start(client, KNOWN).status_code == 303
    assert outbox(app) == []  # not through the default verifier
    assert (Path(app.instance_path) / "other-outbox.jsonl").is_file()


@pytest.mark.parametrize("error", ["temporary", "recipient"])
def test_a_sign_in_send_that_fails_is_told_on_the_code_page(
    app, client, clock, make_authenticator, error, caplog
):
    """The text goes out after the answer (known and unknown numbers answer alike), so the
    code page, not the phone POST, says it could not be sent."""
    add_verifier(app, clock, "broken", "broken", {"error": error}, default=True)
    make_authenticator("sms", method="sms")

    response = start(client, KNOWN)

    assert response.status_code == 303
    page = body(client.get("/m/sms/sms/login/code"))
    assert "We could not send a text message to this number." in page
    [challenge] = challenges(app)
    assert challenge.delivery == "failed"
    with app.app_context():
        [entry] = db.session.query(SmsLogEntry).all()
        assert entry.status == "failed" and entry.purpose == "signup"
    assert KNOWN not in caplog.text


def test_a_failed_second_factor_send_is_shown_on_the_second_factor_page(
    app, client, clock, make_authenticator, make_user
):
    add_verifier(app, clock, "broken", "broken", default=True)
    make_authenticator("password")
    make_authenticator("sms", method="sms")
    make_user(username="alice", phone=KNOWN, phone_verified_at=clock())
    password_login(client, "alice")

    response = post_form(client, "/m/sms/sms/second", page="/login/second")

    assert response.status_code == 503
    assert "We could not send the code." in body(response)
    assert "Send a code to +31*******78" in body(response)


def test_the_options_form_in_the_admin_panel(app, admin_client, console):
    page = body(admin_client.get("/admin/authenticators/new?method=sms"))
    assert "The default verifier" in page and "Console (demo, delivers nothing) (console)" in page

    response = post_form(
        admin_client,
        "/admin/authenticators/new?method=sms",
        {
            "method": "sms",
            "name": "phone",
            "options-verifier": "console",
            "options-use_for": "both",
            "options-allow_signup": "y",
            "options-unknown_numbers": "silent",
            "options-countries": "be, XX",
        },
        page="/admin/authenticators/new?method=sms",
    )
    assert response.status_code == 400
    assert "Not a two-letter country code: XX" in body(response)

    response = post_form(
        admin_client,
        "/admin/authenticators/new?method=sms",
        {
            "method": "sms",
            "name": "phone",
            "options-verifier": "console",
            "options-use_for": "second",
            "options-unknown_numbers": "silent",
            "options-countries": "be",
        },
        page="/admin/authenticators/new?method=sms",
    )
    assert response.status_code == 303
    with app.app_context():
        from idp.models import Authenticator

        row = db.session.query(Authenticator).filter_by(name="phone").one()
        assert row.options == {
            "verifier": "console",
            "use_for": "second",
            "allow_signup": False,
            "unknown_numbers": "silent",
            "countries": "be",
        }
