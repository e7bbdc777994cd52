"""Authenticators in the admin panel: create, validate, enable, reorder, edit, delete, secrets."""

from __future__ import annotations

import html
import json
import re

import pytest
from markupsafe import Markup
from sqlalchemy import func, select, text
from wtforms import StringField
from wtforms.validators import URL, InputRequired, Optional

from idp import state
from idp.auth import AuthMethod
from idp.extensions import db
from idp.models import AuditEvent, Authenticator
from idp.options import SEALED, OptionsForm, SecretField, open_options
from idp.plugins import from_classes
from idp_password import FAILED, PasswordMethod
from tests.conftest import PASSWORD, password_login, post_form

ADMIN_IP = "198.51.100.7"
SECRET = "sk_live_Sentinel-4711-do-not-leak"
NEW_SECRET = "sk_live_Replacement-0815-also-secret"


class TokenOptions(OptionsForm):
    endpoint = StringField("Endpoint", validators=[Optional(), URL(require_tld=False)])
    api_key = SecretField("API key", validators=[InputRequired()])


class TokenMethod(AuthMethod):
    """A method with a secret option, the way an SMS or API-backed plugin would have one."""

    name = "token"
    title = "Token"
    options_form = TokenOptions

    def render_login(self, ctx):
        return Markup("<p>Sign in with a hardware token.</p>")


@pytest.fixture
def registry():
    return from_classes(PasswordMethod, TokenMethod)


@pytest.fixture
def panel(admin_client):
    admin_client.environ_base["REMOTE_ADDR"] = ADMIN_IP
    return admin_client


def body(response) -> str:
    return response.get_data(as_text=True)


def rows(app) -> list[Authenticator]:
    with app.app_context():
        found = db.session.scalars(select(Authenticator).order_by(Authenticator.id)).all()
        for row in found:
            db.session.expunge(row)
        return list(found)


def row(app, name: str) -> Authenticator | None:
    return next((r for r in rows(app) if r.name == name), None)


def admin_events(app) -> list[AuditEvent]:
    """Audit events the panel wrote (the admin's own sign-in left out)."""
    with app.app_context():
        found = db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action.startswith("authenticator."))
            .order_by(AuditEvent.id)
        ).all()
        for event in found:
            db.session.expunge(event)
        return list(found)


def create(client, method: str = "password", **fields: str):
    return post_form(
        client,
        f"/admin/authenticators/new?method={method}",
        {"method": method, **fields},
        page=f"/admin/authenticators/new?method={method}",
    )


def edit(client, authenticator: str, **fields: str):
    return post_form(
        client, f"/admin/authenticators/{authenticator}", fields, page="/admin/authenticators"
    )


def set_enabled(client, name: str, enabled: bool):
    return post_form(
        client,
        f"/admin/authenticators/{name}/enabled",
        {"enabled": "1" if enabled else "0"},
        page="/admin/authenticators",
    )


def move(client, name: str, direction: str):
    return post_form(
        client,
        f"/admin/authenticators/{name}/move",
        {"direction": direction},
        page="/admin/authenticators",
    )


def login_titles(app) -> list[str]:
    """The section headings of the login page, as an anonymous visitor sees them."""
    page = body(app.test_client().get("/login"))
    return re.findall(r'<h2 id="auth-[^"]+">([^<]+)</h2>', page)


def field_error(page: str, field: str) -> str | None:
    match = re.search(rf'<p class="field-error" id="{re.escape(field)}-error">([^<]*)</p>', page)
    return html.unescape(match.group(1)) if match else None


def assert_one_event(app, action: str, target: str, before, after) -> None:
    found = admin_events(app)
    assert len(found) == 1, [e.action for e in found]
    event = found[0]
    assert event.action == action
    assert event.target == target
    assert event.actor == "Root"
    assert event.actor_id is not None
    assert event.ip == ADMIN_IP
    assert event.before == before
    assert event.after == after


# -- create -------------------------------------------------------------------------------------


def test_the_new_form_shows_the_methods_options(panel):
    page = body(panel.get("/admin/authenticators/new?method=password"))

    assert "New Password authenticator" in page
    assert 'name="options-allow_email"' in page
    assert 'name="name"' in page and 'name="title"' in page


def test_create_makes_a_disabled_authenticator_and_audits_it(app, panel):
    response = create(panel, name="staff", title="Staff sign-in", **{"options-allow_email": "y"})

    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/authenticators"
    made = row(app, "staff")
    assert made.method == "password"
    assert made.title == "Staff sign-in"
    assert made.enabled is False
    assert made.options == {"allow_email": True}
    assert_one_event(
        app,
        "authenticator.create",
        "authenticator:staff",
        None,
        {
            "name": "staff",
            "method": "password",
            "title": "Staff sign-in",
            "enabled": False,
            "position": made.position,
            "options": {"allow_email": True},
        },
    )
    listing = body(panel.get("/admin/authenticators"))
    assert "Authenticator staff created" in listing
    assert "Staff sign-in" in listing
    assert "Staff sign-in" not in login_titles(app)


def test_an_empty_title_takes_the_methods_title(app, panel):
    assert create(panel, name="second", title="   ").status_code == 303

    assert row(app, "second").title == "Password"


def test_the_name_is_stored_lower_case(app, panel):
    assert create(panel, name="  Staff-2  ").status_code == 303

    assert row(app, "staff-2") is not None


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": ""}, "name", "Use 1 to 40 lower-case letters"),
        ({"name": "staff sign-in"}, "name", "Use 1 to 40 lower-case letters"),
        ({"name": "-staff"}, "name", "Use 1 to 40 lower-case letters"),
        ({"name": "staff/../x"}, "name", "Use 1 to 40 lower-case letters"),
        ({"name": "a" * 41}, "name", "Use 1 to 40 lower-case letters"),
        ({"name": "password"}, "name", "An authenticator called 'password' exists already."),
        ({"name": "PASSWORD"}, "name", "An authenticator called 'password' exists already."),
        ({"name": "staff", "title": "x" * 81}, "title", "Use at most 80 characters."),
    ],
)
def test_bad_input_rerenders_the_form_and_writes_nothing(app, panel, fields, field, message):
    before = rows(app)

    response = create(panel, **fields)

    assert response.status_code == 400
    page = body(response)
    assert "Please correct the fields marked below." in page
    assert message in (field_error(page, field) or "")
    assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', page, re.S)
    if "title" in fields:
        assert f'value="{fields["title"]}"' in page  # what was typed is kept
    assert [r.name for r in rows(app)] == [r.name for r in before]
    assert admin_events(app) == []


def test_title_of_exactly_80_characters_is_fine(app, panel):
    assert create(panel, name="long", title="x" * 80).status_code == 303
    assert row(app, "long").title == "x" * 80


@pytest.mark.parametrize("method", ["sms", "", "../password"])
def test_unknown_method_is_404_and_writes_nothing(app, panel, method):
    assert panel.get(f"/admin/authenticators/new?method={method}").status_code == 404

    response = post_form(
        panel,
        f"/admin/authenticators/new?method={method}",
        {"method": method, "name": "ghost"},
        page="/admin/authenticators",
    )

    assert response.status_code == 404
    assert row(app, "ghost") is None
    assert admin_events(app) == []


def test_invalid_options_are_reported_next_to_the_option(app, panel):
    response = create(panel, "token", name="hw", **{"options-endpoint": "not a url"})

    assert response.status_code == 400
    page = body(response)
    assert field_error(page, "options-endpoint") == "Invalid URL."
    assert field_error(page, "options-api_key")  # required and missing
    assert 'value="not a url"' in page
    assert row(app, "hw") is None
    assert admin_events(app) == []


# -- enable, disable, order -----------------------------------------------------------------------


def test_enable_and_disable_change_the_login_page(app, panel):
    create(panel, name="staff", title="Staff sign-in")
    assert login_titles(app) == ["Password"]

    assert set_enabled(panel, "staff", True).status_code == 303
    assert login_titles(app) == ["Password", "Staff sign-in"]
    enabled_event = admin_events(app)[-1]
    assert enabled_event.action == "authenticator.enable"
    assert enabled_event.before["enabled"] is False
    assert enabled_event.after["enabled"] is True

    assert set_enabled(panel, "password", False).status_code == 303
    assert login_titles(app) == ["Staff sign-in"]
    disabled_event = admin_events(app)[-1]
    assert disabled_event.action == "authenticator.disable"
    assert disabled_event.target == "authenticator:password"
    assert (disabled_event.before["enabled"], disabled_event.after["enabled"]) == (True, False)
    assert disabled_event.ip == ADMIN_IP

    anonymous = app.test_client()
    assert password_login(anonymous, "root", authenticator="password").status_code == 404
    assert password_login(anonymous, "root", authenticator="staff").status_code == 303


def test_enabling_what_is_already_enabled_writes_no_event(app, panel):
    assert set_enabled(panel, "password", True).status_code == 303

    assert admin_events(app) == []
    assert login_titles(app) == ["Password"]


def test_move_up_and_down_change_the_login_order(app, panel, make_authenticator):
    make_authenticator("second", title="Second")
    make_authenticator("third", title="Third")
    assert login_titles(app) == ["Password", "Second", "Third"]

    assert move(panel, "third", "up").status_code == 303
    assert login_titles(app) == ["Password", "Third", "Second"]
    [event] = admin_events(app)
    assert event.action == "authenticator.reorder"
    assert event.target == "authenticator:third"
    assert event.before == {"order": ["password", "second", "third"]}
    assert event.after == {"order": ["password", "third", "second"]}

    move(panel, "password", "down")
    assert login_titles(app) == ["Third", "Password", "Second"]
    move(panel, "second", "up")
    assert login_titles(app) == ["Third", "Second", "Password"]
    assert len(admin_events(app)) == 3
    listing = body(panel.get("/admin/authenticators"))
    order = re.findall(r"<br><code>([^<]+)</code>", listing)
    assert order == ["third", "second", "password"]


@pytest.mark.parametrize(("name", "direction"), [("password", "up"), ("third", "down")])
def test_moving_past_either_end_changes_nothing(app, panel, make_authenticator, name, direction):
    make_authenticator("second", title="Second")
    make_authenticator("third", title="Third")

    assert move(panel, name, direction).status_code == 303

    assert login_titles(app) == ["Password", "Second", "Third"]
    assert admin_events(app) == []


def test_disabled_authenticators_keep_their_place(app, panel, make_authenticator):
    make_authenticator("second", title="Second", enabled=False)
    make_authenticator("third", title="Third")

    move(panel, "third", "up")
    set_enabled(panel, "second", True)

    assert login_titles(app) == ["Password", "Third", "Second"]


# -- edit and delete ------------------------------------------------------------------------------


def test_edit_title_and_options(app, panel, make_user):
    make_user(username="alice", email="alice@example.org")
    page = body(panel.get("/admin/authenticators/password"))
    assert 'value="Password"' in page
    assert re.search(r'<input checked[^>]*name="options-allow_email"', page)

    # Leaving allow_email out is how a browser sends an unticked box.
    response = edit(panel, "password", name="password", title="Staff sign-in")

    assert response.status_code == 303
    assert login_titles(app) == ["Staff sign-in"]
    assert row(app, "password").options == {"allow_email": False}
    assert_one_event(
        app,
        "authenticator.update",
        "authenticator:password",
        {
            "name": "password",
            "method": "password",
            "title": "Password",
            "enabled": True,
            "position": 1,
            "options": {},
        },
        {
            "name": "password",
            "method": "password",
            "title": "Staff sign-in",
            "enabled": True,
            "position": 1,
            "options": {"allow_email": False},
        },
    )
    anonymous = app.test_client()
    assert body(password_login(anonymous, "alice@example.org")).count(FAILED) == 1
    assert password_login(anonymous, "alice").status_code == 303


def test_edit_with_bad_input_keeps_the_row_as_it_was(app, panel):
    response = edit(panel, "password", name="password", title="y" * 81)

    assert response.status_code == 400
    assert field_error(body(response), "title") == "Use at most 80 characters."
    assert row(app, "password").title == "Password"
    assert admin_events(app) == []


def test_rename_to_an_existing_name_is_refused(app, panel, make_authenticator):
    make_authenticator("staff")

    response = edit(panel, "password", name="staff", title="Password")

    assert response.status_code == 400
    assert "exists already" in field_error(body(response), "name")
    assert {r.name for r in rows(app)} == {"password", "staff"}


def test_unknown_authenticator_is_404_on_every_route(panel):
    assert panel.get("/admin/authenticators/nope").status_code == 404
    for action in ("", "/enabled", "/move", "/delete"):
        response = post_form(panel, f"/admin/authenticators/nope{action}", page="/admin/")
        assert response.status_code == 404, action


def test_delete(app, panel, make_authenticator):
    make_authenticator("staff", title="Staff sign-in")

    response = post_form(panel, "/admin/authenticators/staff/delete", page="/admin/")

    assert response.status_code == 303
    assert row(app, "staff") is None
    assert login_titles(app) == ["Password"]
    assert_one_event(
        app,
        "authenticator.delete",
        "authenticator:staff",
        {
            "name": "staff",
            "method": "password",
            "title": "Staff sign-in",
            "enabled": True,
            "position": 2,
            "options": {},
        },
        None,
    )
    assert password_login(app.test_client(), "root", authenticator="staff").status_code == 404


# -- secrets --------------------------------------------------------------------------------------


def stored_options_text(app) -> str:
    """The options column as the database holds it, read without the ORM."""
    with app.app_context():
        values = db.session.execute(text("SELECT options FROM authenticators")).scalars().all()
    return " ".join(v if isinstance(v, str) else json.dumps(v) for v in values)


def audit_text(app) -> str:
    with app.app_context():
        found = db.session.scalars(select(AuditEvent)).all()
        return json.dumps(
            [{c.key: getattr(e, c.key) for c in AuditEvent.__table__.columns} for e in found],
            default=str,
        )


def plaintext_secret(app, name: str) -> str:
    with app.app_context():
        box = state.current().secret_box
        return open_options(row(app, name).options, box)["api_key"]


@pytest.fixture
def with_secret(app, panel):
    response = create(
        panel,
        "token",
        name="hw",
        title="Hardware token",
        **{"options-endpoint": "https://tokens.example/api", "options-api_key": SECRET},
    )
    assert response.status_code == 303, body(response)
    return row(app, "hw")


def test_a_saved_secret_is_sealed_in_the_row(app, with_secret):
    sealed = with_secret.options["api_key"]

    assert set(sealed) == {SEALED}
    assert SECRET not in sealed[SEALED]
    assert SECRET not in stored_options_text(app)
    assert plaintext_secret(app, "hw") == SECRET
    assert with_secret.options["endpoint"] == "https://tokens.example/api"


def test_the_secret_never_appears_on_pages_or_in_the_audit_log(app, panel, with_secret):
    sealed = with_secret.options["api_key"][SEALED]
    pages = [
        body(panel.get(path))
        for path in ("/admin/authenticators/hw", "/admin/authenticators", "/admin/audit", "/admin/")
    ]

    for page in pages:
        assert SECRET not in page
        assert sealed not in page
    edit_page = pages[0]
    assert "A value is stored." in edit_page
    assert re.search(r'name="options-api_key"[^>]*placeholder="set', edit_page)
    assert 'value="https://tokens.example/api"' in edit_page
    assert SECRET not in audit_text(app)
    assert sealed not in audit_text(app)
    [event] = admin_events(app)
    assert event.after["options"] == {"endpoint": "https://tokens.example/api", "api_key": "set"}


def test_submitting_the_secret_blank_keeps_it(app, panel, with_secret):
    response = edit(
        panel,
        "hw",
        name="hw",
        title="Hardware token v2",
        **{"options-endpoint": "https://tokens.example/v2", "options-api_key": ""},
    )

    assert response.status_code == 303, body(response)
    again = row(app, "hw")
    assert again.title == "Hardware token v2"
    assert again.options["endpoint"] == "https://tokens.example/v2"
    assert again.options["api_key"] == with_secret.options["api_key"]
    assert plaintext_secret(app, "hw") == SECRET


def test_submitting_a_new_secret_replaces_it(app, panel, with_secret):
    response = edit(
        panel,
        "hw",
        name="hw",
        title="Hardware token",
        **{"options-endpoint": "https://tokens.example/api", "options-api_key": NEW_SECRET},
    )

    assert response.status_code == 303
    assert plaintext_secret(app, "hw") == NEW_SECRET
    for leak in (SECRET, NEW_SECRET):
        assert leak not in stored_options_text(app)
        assert leak not in audit_text(app)
        assert leak not in body(panel.get("/admin/authenticators/hw"))


def test_a_rejected_edit_does_not_echo_or_store_the_new_secret(app, panel, with_secret):
    response = edit(panel, "hw", name="hw", title="z" * 81, **{"options-api_key": NEW_SECRET})

    assert response.status_code == 400
    assert NEW_SECRET not in body(response)
    assert plaintext_secret(app, "hw") == SECRET


def test_a_secret_is_required_when_none_is_stored(app, panel):
    response = create(panel, "token", name="hw", **{"options-api_key": ""})

    assert response.status_code == 400
    assert field_error(body(response), "options-api_key")
    with app.app_context():
        assert db.session.scalar(select(func.count(Authenticator.id))) == 1


def test_the_method_receives_the_secret_in_plaintext(app, with_secret):
    from idp.auth.authenticators import method_for

    with app.app_context():
        method = method_for(db.session.get(Authenticator, with_secret.id))
        assert method.options["api_key"] == SECRET


def test_a_secret_method_can_be_enabled_and_shows_on_the_login_page(app, panel, with_secret):
    set_enabled(panel, "hw", True)

    assert login_titles(app) == ["Password", "Hardware token"]
    assert PASSWORD not in audit_text(app)
