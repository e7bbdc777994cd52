"""Verifiers in the admin panel: create, prove with a test code, enable, default, edit, delete."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from idp.extensions import db
from idp.models import User, Verifier
from idp.plugins import from_classes
from idp.sms.errors import SmsConfigurationError, SmsRecipientError, SmsTemporaryError
from idp_password import PasswordMethod
from idp_sms_providers.console import ConsoleProvider
from tests.admin.sms_support import (
    PHONE,
    SECRET,
    audit_events,
    challenge_of,
    code_in,
    confirm,
    console_outbox,
    count_verifiers,
    create,
    fake_provider_class,
    log_entries,
    post,
    send_test_code,
    type_code,
    verifier,
)


@pytest.fixture
def fake():
    return fake_provider_class()


@pytest.fixture
def registry(fake):
    return from_classes(PasswordMethod, ConsoleProvider, fake)


def body(response) -> str:
    return response.get_data(as_text=True)


def actions(app) -> list[str]:
    return [event.action for event in audit_events(app)]


def ready(client, fake, name="primary", **overrides):
    """A created, confirmed and enabled fake verifier."""
    assert create(client, name=name, **overrides).status_code == 303
    assert confirm(client, name, fake.outbox).status_code == 303
    assert post(client, f"/admin/verifiers/{name}/enabled", {"enabled": "1"}).status_code == 303


# -- the whole way through the panel ------------------------------------------------------------


def test_create_test_confirm_enable_and_make_default(app, admin_client, fake):
    page = body(admin_client.get("/admin/verifiers"))
    assert "No verifier is available" in page
    assert "no enabled verifier is marked default" in page

    response = create(admin_client)
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/verifiers/primary/test"
    row = verifier(app, "primary")
    assert (row.enabled, row.confirmed_at, row.is_default) == (False, None, False)
    assert row.sender == "Poort" and str(row.price_per_segment) == "0.0560"

    # Enabling before the test code came back is refused, with the reason.
    refused = post(admin_client, "/admin/verifiers/primary/enabled", {"enabled": "1"})
    assert refused.status_code == 303
    page = body(admin_client.get("/admin/verifiers"))
    assert "Send a test code through this verifier and type it back before enabling it" in page
    assert verifier(app, "primary").enabled is False

    # The test page offers the admin's own phone when there is one.
    with app.app_context():
        db.session.execute(update(User).where(User.username == "root").values(phone=PHONE))
        db.session.commit()
    assert f'value="{PHONE}"' in body(admin_client.get("/admin/verifiers/primary/test"))

    sent = send_test_code(admin_client, "primary", "06 1234 5678")
    challenge = challenge_of(sent)
    assert len(fake.outbox) == 1
    message = fake.outbox[0]
    assert (message.recipient, message.sender, message.purpose) == (PHONE, "Poort", "admin_test")
    confirm_page = body(admin_client.get(sent.headers["Location"]))
    assert "+31*******78" in confirm_page and "A test code was sent" in confirm_page

    done = type_code(admin_client, "primary", challenge, code_in(message.text))
    assert done.status_code == 303
    assert verifier(app, "primary").confirmed_at is not None

    assert (
        post(admin_client, "/admin/verifiers/primary/enabled", {"enabled": "1"}).status_code == 303
    )
    assert (
        post(admin_client, "/admin/verifiers/primary/default", {"default": "1"}).status_code == 303
    )
    row = verifier(app, "primary")
    assert (row.enabled, row.is_default) == (True, True)

    page = body(admin_client.get("/admin/verifiers"))
    assert "send through <strong>primary</strong>" in page
    assert "(the verifier marked default)" in page
    assert actions(app) == [
        "verifier.create",
        "verifier.test_code",
        "verifier.confirm",
        "verifier.enable",
        "verifier.default",
    ]
    events = audit_events(app)
    assert {event.target for event in events} == {"verifier:primary"}
    assert events[0].actor == "Root"
    assert events[1].after == {"recipient": "+31*******78", "outcome": "sent"}
    assert events[2].before["confirmed"] is False and events[2].after["confirmed"] is True
    assert events[4].after["is_default"] is True

    [entry] = log_entries(app)
    assert (entry.verifier_name, entry.purpose, entry.status) == (
        "primary",
        "admin_test",
        "accepted",
    )


def test_console_verifier_code_comes_from_the_outbox_and_the_panel_warns(app, admin_client):
    assert create(admin_client, provider="console", name="demo").status_code == 303
    page = body(admin_client.get("/admin/verifiers"))
    assert "Delivers nothing" in page
    assert "codes only land in <code>instance/sms-outbox.jsonl</code>" in page
    assert "Delivers nothing" in body(admin_client.get("/admin/verifiers/demo/test"))
    assert "Delivers nothing" in body(admin_client.get("/admin/verifiers/demo"))

    challenge = challenge_of(send_test_code(admin_client, "demo"))
    [record] = console_outbox(app)
    assert record["to"] == PHONE
    assert type_code(admin_client, "demo", challenge, code_in(record["text"])).status_code == 303
    assert post(admin_client, "/admin/verifiers/demo/enabled", {"enabled": "1"}).status_code == 303
    assert verifier(app, "demo").enabled is True


def test_no_banner_without_a_console_verifier(admin_client):
    assert create(admin_client).status_code == 303
    assert "Delivers nothing" not in body(admin_client.get("/admin/verifiers"))


def test_an_unknown_or_missing_provider_is_404(app, admin_client):
    assert admin_client.get("/admin/verifiers/new?provider=nope").status_code == 404
    assert admin_client.get("/admin/verifiers/new").status_code == 404
    assert create(admin_client, provider="nope").status_code == 404
    assert count_verifiers(app) == 0
    assert actions(app) == []


def test_the_new_form_lists_installed_providers_and_their_options(admin_client):
    page = body(admin_client.get("/admin/verifiers"))
    assert 'value="console"' in page and 'value="fake"' in page
    form = body(admin_client.get("/admin/verifiers/new?provider=fake"))
    assert 'name="options-api_key"' in form and 'name="options-region"' in form
    assert 'type="password"' in form


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"name": "Bad Name!"}, "name", "lower-case letters, digits and hyphens"),
        ({"name": ""}, "name", "lower-case letters, digits and hyphens"),
        ({"sender": "ThisIsTooLongASender"}, "sender", "at most 11 characters"),
        ({"sender": ""}, "sender", "Enter a sender"),
        ({"sender": "12345678901234567"}, "sender", "at most 16 digits"),
        ({"price_per_segment": "-0.01"}, "price_per_segment", "cannot be negative"),
        ({"price_per_segment": "cheap"}, "price_per_segment", "Enter a price"),
        ({"currency": "EURO"}, "currency", "three-letter currency code"),
        ({"currency": "€"}, "currency", "three-letter currency code"),
        ({"title": "x" * 81}, "title", "at most 80 characters"),
        ({"fallback": "ghost"}, "fallback", "no verifier called"),
        ({"options-api_key": ""}, "options-api_key", "This secret is required"),
        ({"options-region": "x" * 11}, "options-region", "Too long."),
    ],
)
def test_bad_input_is_refused_next_to_the_field(app, admin_client, overrides, field, message):
    response = create(admin_client, **overrides)

    assert response.status_code == 400
    page = body(response)
    assert f'id="{field}-error"' in page
    assert message in page
    assert "Please correct the fields marked below" in page
    assert count_verifiers(app) == 0
    assert actions(app) == []


def test_a_taken_name_is_refused(app, admin_client):
    assert create(admin_client).status_code == 303
    response = create(admin_client, title="Another")
    assert response.status_code == 400
    assert "exists already" in body(response)
    assert count_verifiers(app) == 1
    assert actions(app) == ["verifier.create"]


def test_a_fallback_cycle_is_refused(app, admin_client):
    assert create(admin_client, name="a").status_code == 303
    assert create(admin_client, name="b", fallback="a").status_code == 303
    assert create(admin_client, name="c", fallback="b").status_code == 303
    before = actions(app)

    fields = {"name": "a", "sender": "Poort", "fallback": "c", "options-region": "eu"}
    response = post(admin_client, "/admin/verifiers/a", fields)

    assert response.status_code == 400
    assert 'id="fallback-error"' in body(response) and "cycle" in body(response)
    assert verifier(app, "a").fallback is None
    assert actions(app) == before


def test_a_verifier_cannot_fall_back_to_itself(app, admin_client):
    assert create(admin_client, name="a").status_code == 303
    response = post(
        admin_client, "/admin/verifiers/a", {"name": "a", "sender": "Poort", "fallback": "a"}
    )
    assert response.status_code == 400
    assert "cycle" in body(response)


def test_the_edit_form_offers_only_other_verifiers_as_fallback(admin_client):
    assert create(admin_client, name="a").status_code == 303
    assert create(admin_client, name="b").status_code == 303
    page = body(admin_client.get("/admin/verifiers/a"))
    assert '<option value="b"' in page and '<option value="a"' not in page


# -- secrets ----------------------------------------------------------------------------------


def test_secrets_are_never_shown_audited_or_exported(app, admin_client, fake):
    assert create(admin_client, name="a", price_per_segment="0.05").status_code == 303
    ready(admin_client, fake, name="b")
    stored = json.dumps(verifier(app, "a").options)
    assert SECRET not in stored  # sealed at rest

    pages = [
        admin_client.get("/admin/verifiers"),
        admin_client.get("/admin/verifiers/a"),
        admin_client.get("/admin/verifiers/a/test"),
        admin_client.get("/admin/sms-log"),
        admin_client.get("/admin/sms-log.csv"),
        admin_client.get("/admin/audit"),
        admin_client.get("/admin/"),
        create(admin_client, name="c", sender=""),  # a form sent back with an error
    ]
    edit = body(pages[1])
    assert "set — leave empty to keep" in edit
    for response in pages:
        assert SECRET not in body(response)
        assert "$sealed" not in body(response)
    for event in audit_events(app, prefix=""):
        dumped = json.dumps([event.before, event.after])
        assert SECRET not in dumped and "sealed" not in dumped
    assert any(
        event.after and event.after["options"]["api_key"] == "set" for event in audit_events(app)
    )


def test_a_blank_secret_keeps_the_stored_one_and_the_confirmation(app, admin_client, fake):
    ready(admin_client, fake)
    before = verifier(app, "primary").options

    fields = {
        "name": "primary",
        "title": "Renamed title",
        "sender": "Poort",
        "options-region": "eu",
    }
    response = post(admin_client, "/admin/verifiers/primary", fields)

    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/verifiers"
    row = verifier(app, "primary")
    assert row.options == before
    assert row.title == "Renamed title"
    assert row.enabled is True and row.confirmed_at is not None
    assert actions(app)[-1] == "verifier.update"


@pytest.mark.parametrize(
    "change",
    [{"options-api_key": "sk-new-key"}, {"options-region": "us"}, {"sender": "Other"}],
)
def test_changed_options_or_sender_clear_the_confirmation(app, admin_client, fake, clock, change):
    ready(admin_client, fake)
    clock.advance(seconds=61)
    old_challenge = challenge_of(send_test_code(admin_client, "primary"))
    old_code = code_in(fake.outbox[-1].text)

    fields = {"name": "primary", "sender": "Poort", "options-region": "eu", **change}
    response = post(admin_client, "/admin/verifiers/primary", fields)

    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/verifiers/primary/test"
    page = body(admin_client.get(response.headers["Location"]))
    assert "needs a new test code before it can be enabled" in page
    assert "It has been disabled until then" in page
    row = verifier(app, "primary")
    assert (row.enabled, row.confirmed_at) == (False, None)
    event = audit_events(app)[-1]
    assert event.action == "verifier.update"
    assert event.before["enabled"] is True and event.after["enabled"] is False
    assert event.after["confirmed"] is False

    # A code sent before the change proves nothing about the new settings.
    stale = type_code(admin_client, "primary", old_challenge, old_code)
    assert stale.status_code == 400
    assert "sent before the verifier&#39;s settings changed" in body(stale)
    assert verifier(app, "primary").confirmed_at is None


# -- codes that do not confirm ----------------------------------------------------------------


def test_wrong_expired_and_used_codes_give_clear_messages(app, admin_client, fake, clock):
    assert create(admin_client).status_code == 303
    challenge = challenge_of(send_test_code(admin_client, "primary"))
    code = code_in(fake.outbox[-1].text)
    wrong = "000000" if code != "000000" else "111111"

    response = type_code(admin_client, "primary", challenge, wrong)
    assert response.status_code == 400
    assert "That code is not right" in body(response) and "4 attempts left" in body(response)

    response = type_code(admin_client, "primary", challenge, "12ab")
    assert response.status_code == 400
    assert "Enter the digits of the code" in body(response)

    clock.advance(minutes=6)
    response = type_code(admin_client, "primary", challenge, code)
    assert response.status_code == 400
    assert "This code has expired" in body(response)
    assert verifier(app, "primary").confirmed_at is None

    challenge = challenge_of(send_test_code(admin_client, "primary"))
    code = code_in(fake.outbox[-1].text)
    assert type_code(admin_client, "primary", challenge, code).status_code == 303
    response = type_code(admin_client, "primary", challenge, code)
    assert response.status_code == 400
    assert "This code has been used already" in body(response)
    assert actions(app).count("verifier.confirm") == 1


def test_too_many_wrong_codes(admin_client, fake):
    assert create(admin_client).status_code == 303
    challenge = challenge_of(send_test_code(admin_client, "primary"))
    code = code_in(fake.outbox[-1].text)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        response = type_code(admin_client, "primary", challenge, wrong)
    assert "Too many wrong codes" in body(response)
    response = type_code(admin_client, "primary", challenge, code)
    assert response.status_code == 400
    assert "Too many wrong codes" in body(response)


def test_a_code_of_one_verifier_does_not_confirm_another(app, admin_client, fake):
    assert create(admin_client, name="a").status_code == 303
    assert create(admin_client, name="b").status_code == 303
    challenge = challenge_of(send_test_code(admin_client, "a"))
    response = type_code(admin_client, "b", challenge, code_in(fake.outbox[-1].text))
    assert response.status_code == 400
    assert verifier(app, "b").confirmed_at is None


def test_the_confirm_page_without_a_code_sent_says_what_to_do(admin_client):
    assert create(admin_client).status_code == 303
    page = admin_client.get("/admin/verifiers/primary/confirm")
    assert page.status_code == 200
    assert "There is no test code waiting here" in body(page)
    response = type_code(admin_client, "primary", "", "123456")
    assert response.status_code == 400
    assert "Send a test code first" in body(response)


def test_a_second_test_code_must_wait_for_the_cooldown(admin_client, fake, clock):
    assert create(admin_client).status_code == 303
    assert send_test_code(admin_client, "primary").status_code == 303
    response = send_test_code(admin_client, "primary")
    assert response.status_code == 429
    assert "Please wait" in body(response)
    clock.advance(seconds=61)
    assert send_test_code(admin_client, "primary").status_code == 303
    assert len(fake.outbox) == 2


@pytest.mark.parametrize("phone", ["", "call me", "+31 6 1"])
def test_a_bad_test_number_is_refused_next_to_the_field(app, admin_client, fake, phone):
    assert create(admin_client).status_code == 303
    response = send_test_code(admin_client, "primary", phone)
    assert response.status_code == 400
    assert 'id="phone-error"' in body(response)
    assert fake.outbox == [] and log_entries(app) == []


# -- provider failures ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status", "error_class"),
    [
        (
            SmsConfigurationError(
                "refused", provider="fake", raw_code="401", raw_meaning="authentication failed"
            ),
            502,
            "sms_configuration",
        ),
        (
            SmsTemporaryError(
                "busy", provider="fake", raw_code="800", raw_meaning="technical error"
            ),
            503,
            "sms_temporary",
        ),
        (
            SmsRecipientError("no", provider="fake", raw_code="105", raw_meaning="invalid number"),
            400,
            "sms_recipient",
        ),
    ],
)
def test_a_provider_failure_shows_its_class_and_meaning(
    app, admin_client, fake, error, status, error_class
):
    assert create(admin_client).status_code == 303
    fake.failures.append(error)

    response = send_test_code(admin_client, "primary")

    assert response.status_code == status
    page = body(response)
    assert "The provider did not take the message" in page
    assert f"<code>{error_class}</code>" in page
    assert f"<code>{error.raw_code}</code>" in page and error.raw_meaning in page
    assert "test code is" not in page  # never the message text
    assert SECRET not in page
    [entry] = log_entries(app)
    assert (entry.status, entry.error_class, entry.raw_code) == (
        "failed",
        error_class,
        error.raw_code,
    )
    event = audit_events(app)[-1]
    assert event.action == "verifier.test_code"
    assert event.after == {
        "recipient": "+31*******78",
        "outcome": "failed",
        "error_class": error_class,
    }
    assert verifier(app, "primary").confirmed_at is None


def test_a_provider_bug_is_shown_as_such(app, admin_client, fake):
    assert create(admin_client).status_code == 303
    fake.failures.append(ValueError("boom"))
    response = send_test_code(admin_client, "primary")
    assert response.status_code == 503
    assert "<code>provider_bug</code>" in body(response)
    assert log_entries(app)[0].error_class == "provider_bug"


def test_a_test_code_goes_through_this_verifier_alone(app, admin_client, fake):
    """No fallback for a test: the backup must not prove the primary works."""
    assert create(admin_client, provider="console", name="backup").status_code == 303
    assert create(admin_client, name="primary", fallback="backup").status_code == 303
    fake.failures.append(SmsTemporaryError("busy", provider="fake"))

    assert send_test_code(admin_client, "primary").status_code == 503
    assert console_outbox(app) == []
    assert [entry.verifier_name for entry in log_entries(app)] == ["primary"]


# -- enable, default, delete ------------------------------------------------------------------


def test_disable_and_enable_are_audited(app, admin_client, fake):
    ready(admin_client, fake)
    assert (
        post(admin_client, "/admin/verifiers/primary/enabled", {"enabled": "0"}).status_code == 303
    )
    assert verifier(app, "primary").enabled is False
    assert actions(app)[-2:] == ["verifier.enable", "verifier.disable"]
    # Asking for the state it is in changes nothing and records nothing.
    assert (
        post(admin_client, "/admin/verifiers/primary/enabled", {"enabled": "0"}).status_code == 303
    )
    assert actions(app)[-1] == "verifier.disable" and len(actions(app)) == 5


def test_only_one_verifier_is_default(app, admin_client, fake, clock):
    ready(admin_client, fake, name="a")
    clock.advance(seconds=61)
    ready(admin_client, fake, name="b")

    assert post(admin_client, "/admin/verifiers/a/default", {"default": "1"}).status_code == 303
    assert post(admin_client, "/admin/verifiers/b/default", {"default": "1"}).status_code == 303
    assert (verifier(app, "a").is_default, verifier(app, "b").is_default) == (False, True)
    defaults = [e for e in audit_events(app) if e.action == "verifier.default"]
    assert [(e.target, e.after["is_default"]) for e in defaults] == [
        ("verifier:a", True),
        ("verifier:a", False),
        ("verifier:b", True),
    ]
    assert "send through <strong>b</strong>" in body(admin_client.get("/admin/verifiers"))

    assert post(admin_client, "/admin/verifiers/b/default", {"default": "0"}).status_code == 303
    assert verifier(app, "b").is_default is False
    assert "No verifier is available" in body(admin_client.get("/admin/verifiers"))


def test_the_database_refuses_a_second_default(app, admin_client, fake):
    assert create(admin_client, name="a").status_code == 303
    assert create(admin_client, name="b").status_code == 303
    with app.app_context():
        db.session.execute(update(Verifier).where(Verifier.name == "a").values(is_default=True))
        db.session.commit()
        with pytest.raises(IntegrityError):
            db.session.execute(update(Verifier).where(Verifier.name == "b").values(is_default=True))
            db.session.commit()
        db.session.rollback()


def test_a_disabled_default_is_flagged_and_skipped(app, admin_client, fake):
    assert create(admin_client).status_code == 303
    response = post(admin_client, "/admin/verifiers/primary/default", {"default": "1"})
    assert response.status_code == 303
    page = body(admin_client.get("/admin/verifiers"))
    assert "it is not enabled: SMS authenticators skip it" in page
    assert "No verifier is available" in page


def test_the_default_with_its_fallback_is_shown(app, admin_client, fake, clock):
    ready(admin_client, fake, name="backup")
    clock.advance(seconds=61)
    ready(admin_client, fake, name="primary", fallback="backup")
    post(admin_client, "/admin/verifiers/primary/default", {"default": "1"})
    page = body(admin_client.get("/admin/verifiers"))
    assert "send through <strong>primary</strong>" in page
    assert "falling back to <strong>backup</strong>" in page


def test_deleting_a_fallback_unhooks_the_verifiers_that_used_it(app, admin_client, fake):
    assert create(admin_client, name="backup").status_code == 303
    assert create(admin_client, name="primary", fallback="backup").status_code == 303
    challenge_of(send_test_code(admin_client, "backup"))

    response = post(admin_client, "/admin/verifiers/backup/delete")

    assert response.status_code == 303
    assert "primary no longer falls back to it" in body(admin_client.get("/admin/verifiers"))
    assert verifier(app, "backup") is None
    assert verifier(app, "primary").fallback is None
    events = audit_events(app)[-2:]
    assert [(e.action, e.target) for e in events] == [
        ("verifier.delete", "verifier:backup"),
        ("verifier.update", "verifier:primary"),
    ]
    assert events[0].before["name"] == "backup" and events[0].after is None
    assert events[1].before["fallback"] == "backup" and events[1].after["fallback"] is None
    # The log keeps the attempt under its name; it no longer points at a verifier row.
    [entry] = log_entries(app)
    assert (entry.verifier_name, entry.verifier_id) == ("backup", None)


def test_routes_of_a_missing_verifier_are_404(admin_client):
    for path in (
        "/admin/verifiers/ghost",
        "/admin/verifiers/ghost/test",
        "/admin/verifiers/ghost/confirm",
    ):
        assert admin_client.get(path).status_code == 404
    for path in ("enabled", "default", "delete", "test", "confirm"):
        assert post(admin_client, f"/admin/verifiers/ghost/{path}").status_code == 404


def test_changing_routes_need_the_csrf_token(app, admin_client, fake):
    assert create(admin_client).status_code == 303
    response = admin_client.post("/admin/verifiers/primary/delete")
    assert response.status_code == 400
    assert verifier(app, "primary") is not None


def test_the_nav_links_to_verifiers_and_the_message_log(admin_client):
    page = body(admin_client.get("/admin/verifiers"))
    assert 'href="/admin/verifiers" aria-current="page"' in page
    assert 'href="/admin/sms-log"' in page


def test_the_console_warning_is_only_for_non_dev_mode(app, admin_client):
    """In dev mode the console provider is the point; outside it, it is a trap."""
    import dataclasses

    from idp import state
    from idp.admin.verifiers import _console_warnings
    from idp.verification import verifiers as store

    assert create(admin_client, provider="console", name="demo").status_code == 303
    assert create(admin_client, name="real").status_code == 303
    with app.test_request_context():
        rows = store.all_verifiers()
        assert _console_warnings(rows) == ["demo"]
        s = state.current()
        s.settings = dataclasses.replace(s.settings, dev=True)
        assert _console_warnings(rows) == []


def test_deleting_a_verifier_an_authenticator_names_warns(app, admin_client, make_authenticator):
    make_authenticator("text-code", method="sms", enabled=False, options={"verifier": "primary"})
    assert create(admin_client).status_code == 303

    assert post(admin_client, "/admin/verifiers/primary/delete").status_code == 303

    page = body(admin_client.get("/admin/verifiers"))
    assert "The authenticator text-code still names it" in page
    assert verifier(app, "primary") is None
