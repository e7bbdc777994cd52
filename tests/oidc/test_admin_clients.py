"""Applications in the admin panel: register, secret shown once, edit, enable and disable,
delete; bad input re-renders with the message by the field; every change audited."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from sqlalchemy import func, select

from idp.extensions import db
from idp.models import AuditEvent, Consent, OAuthClient, OAuthToken
from tests.conftest import password_login, post_form
from tests.oidc.support import Rp

NEW = "/admin/clients/new"


def _form(**overrides):
    data = {
        "name": "Shop",
        "client_type": "confidential",
        "redirect_uris": "https://shop.example/cb\r\nhttps://shop.example/cb2\r\n",
        "post_logout_redirect_uris": "https://shop.example/\r\n",
        "scopes": ["profile", "phone", "offline_access"],
        "require_pkce": "1",
        "logo_url": "https://shop.example/logo.png",
        "verifier": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def _create(panel, **overrides):
    return post_form(panel, NEW, _form(**overrides), page=NEW)


def _secret(response) -> tuple[str, str]:
    page = response.get_data(as_text=True)
    client_id = re.search(r'id="client-id">([^<]+)<', page).group(1)
    secret = re.search(r'id="client-secret">([^<]+)<', page).group(1)
    return client_id, secret


def _rows(app) -> list[OAuthClient]:
    with app.app_context():
        rows = list(db.session.scalars(select(OAuthClient).order_by(OAuthClient.id)))
        for row in rows:
            db.session.expunge(row)
        return rows


def _events(app, prefix: str = "client.") -> list[AuditEvent]:
    with app.app_context():
        rows = list(
            db.session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action.startswith(prefix))
                .order_by(AuditEvent.id)
            )
        )
        for row in rows:
            db.session.expunge(row)
        return rows


def _body(response) -> str:
    return response.get_data(as_text=True)


def test_the_panel_lists_applications_with_a_nav_entry(admin_client):
    page = _body(admin_client.get("/admin/clients"))

    assert "No applications yet" in page
    assert 'href="/admin/clients" aria-current="page">Applications' in page
    assert 'href="/admin/clients"' in _body(admin_client.get("/admin/"))


def test_only_admins_reach_the_panel(client, make_user, admin):
    assert client.get("/admin/clients").status_code == 302
    make_user(username="eve")
    password_login(client, "eve")

    assert client.get("/admin/clients").status_code == 403
    assert client.get(NEW).status_code == 403


def test_registering_a_confidential_app_shows_its_secret_once(app, admin_client):
    response = _create(admin_client)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    client_id, secret = _secret(response)
    [row] = _rows(app)
    assert row.client_id == client_id and row.name == "Shop" and not row.public
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert row.redirect_uris == ["https://shop.example/cb", "https://shop.example/cb2"]
    assert row.post_logout_redirect_uris == ["https://shop.example/"]
    assert row.scopes == "openid profile phone offline_access"
    assert row.require_pkce and not row.first_party and row.enabled
    assert row.logo_url == "https://shop.example/logo.png"
    # Never again: not on the list, not on the edit page.
    assert secret not in _body(admin_client.get("/admin/clients"))
    assert secret not in _body(admin_client.get(f"/admin/clients/{client_id}"))


def test_the_audit_record_has_no_secret(app, admin_client):
    client_id, secret = _secret(_create(admin_client))
    [row] = _rows(app)

    [event] = _events(app)

    assert event.action == "client.create" and event.target == f"client:{client_id}"
    text = json.dumps([event.before, event.after])
    assert secret not in text and row.secret_hash not in text
    assert event.after["redirect_uris"] == ["https://shop.example/cb", "https://shop.example/cb2"]


def test_the_new_secret_works_at_the_token_endpoint(app, admin_client, client):
    client_id, secret = _secret(_create(admin_client, require_pkce=None, first_party="1"))
    rp = Rp(client, client_id, secret, redirect_uri="https://shop.example/cb")

    rp.tokens(rp.exchange(rp.code(rp.authorize())))


def test_a_public_app_has_no_secret_and_always_pkce(app, admin_client):
    response = _create(admin_client, client_type="public", require_pkce=None)

    assert response.status_code == 303
    [row] = _rows(app)
    assert row.public and row.secret_hash is None and row.require_pkce
    page = _body(admin_client.get(response.location))
    assert row.client_id in page and "Make a new secret" not in page


def test_pkce_can_be_switched_off_for_a_confidential_app(app, admin_client):
    _create(admin_client, require_pkce=None)

    [row] = _rows(app)
    assert not row.require_pkce


def test_the_first_party_switch(app, admin_client):
    _create(admin_client, first_party="1")

    assert _rows(app)[0].first_party


def test_openid_is_always_allowed(app, admin_client):
    _create(admin_client, scopes=[])

    assert _rows(app)[0].scopes == "openid"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"name": ""}, "name", "Give the application a name"),
        ({"name": "x" * 81}, "name", "at most 80"),
        ({"redirect_uris": ""}, "redirect_uris", "at least one redirect URI"),
        ({"redirect_uris": "https://shop.example/cb#top"}, "redirect_uris", "fragment"),
        ({"redirect_uris": "http://shop.example/cb"}, "redirect_uris", "https"),
        ({"redirect_uris": "not a url"}, "redirect_uris", "https"),
        ({"post_logout_redirect_uris": "https://s.example/#x"}, "post_logout_redirect_uris", "#"),
        ({"logo_url": "javascript:alert(1)"}, "logo_url", "https URL"),
        ({"verifier": "nope"}, "verifier", "no SMS verifier"),
    ],
)
def test_bad_input_is_shown_by_the_field_and_changes_nothing(
    app, admin_client, overrides, field, message
):
    response = _create(admin_client, **overrides)

    assert response.status_code == 400
    page = _body(response)
    match = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', page)
    assert match and message in match.group(1), page
    assert f'aria-describedby="{field}-error"' in page or field == "scopes"
    assert 'value="Shop"' in page or field == "name"
    assert _rows(app) == [] and _events(app) == []


def test_unknown_scopes_from_a_forged_form_are_refused(app, admin_client):
    response = _create(admin_client, scopes=["profile", "admin"])

    # The form only offers known scopes; anything else is dropped, never stored.
    assert response.status_code == 200
    assert _rows(app)[0].scopes == "openid profile"


def test_editing_saves_and_audits_the_change(app, admin_client):
    client_id, secret = _secret(_create(admin_client))
    path = f"/admin/clients/{client_id}"

    response = post_form(
        admin_client,
        path,
        _form(name="Shop 2", redirect_uris="https://shop.example/new", first_party="1"),
        page=path,
    )

    assert response.status_code == 303
    [row] = _rows(app)
    assert (row.name, row.redirect_uris, row.first_party) == (
        "Shop 2",
        ["https://shop.example/new"],
        True,
    )
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    [_, event] = _events(app)
    assert event.action == "client.update"
    assert event.before["name"] == "Shop" and event.after["name"] == "Shop 2"
    assert secret not in json.dumps([event.before, event.after])


def test_a_type_cannot_be_changed_by_editing(app, admin_client):
    client_id, _ = _secret(_create(admin_client))
    path = f"/admin/clients/{client_id}"

    post_form(admin_client, path, _form(client_type="public"), page=path)

    assert not _rows(app)[0].public


def test_bad_input_when_editing_changes_nothing(app, admin_client):
    client_id, _ = _secret(_create(admin_client))
    path = f"/admin/clients/{client_id}"

    response = post_form(
        admin_client, path, _form(name="Renamed", redirect_uris="https://a.example/#x"), page=path
    )

    assert response.status_code == 400
    assert 'id="redirect_uris-error"' in _body(response)
    assert 'value="Renamed"' in _body(response)
    [row] = _rows(app)
    assert row.name == "Shop" and len(_events(app)) == 1


def test_resetting_the_secret_shows_the_new_one_once(app, admin_client, client):
    client_id, old = _secret(_create(admin_client, require_pkce=None, first_party="1"))

    response = post_form(
        admin_client, f"/admin/clients/{client_id}/secret", page=f"/admin/clients/{client_id}"
    )

    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    same_id, new = _secret(response)
    assert same_id == client_id and new != old
    assert "no longer works" in _body(response)
    [_, event] = _events(app)
    assert event.action == "client.reset_secret"
    assert new not in json.dumps(event.after) and old not in json.dumps(event.after)
    rp = Rp(client, client_id, old, redirect_uri="https://shop.example/cb")
    password_login(client, "root")
    code = rp.code(rp.authorize())
    assert rp.exchange(code).status_code == 401
    rp.secret = new
    rp.tokens(rp.exchange(code))


def test_a_public_app_has_no_secret_to_reset(app, admin_client):
    _create(admin_client, client_type="public")
    [row] = _rows(app)

    response = post_form(
        admin_client,
        f"/admin/clients/{row.client_id}/secret",
        page=f"/admin/clients/{row.client_id}",
    )

    assert response.status_code == 303
    assert _rows(app)[0].secret_hash is None


def test_disabling_stops_sign_ins_and_revokes_tokens(app, admin_client, client):
    client_id, secret = _secret(_create(admin_client, require_pkce=None, first_party="1"))
    rp = Rp(client, client_id, secret, redirect_uri="https://shop.example/cb")
    tokens = rp.tokens(rp.exchange(rp.code(rp.authorize())))

    response = post_form(
        admin_client, f"/admin/clients/{client_id}/enabled", {"enabled": "0"}, page="/admin/clients"
    )

    assert response.status_code == 303
    assert not _rows(app)[0].enabled
    assert rp.userinfo(tokens.access_token).status_code == 401
    assert rp.authorize().status_code == 400
    assert [e.action for e in _events(app)] == ["client.create", "client.disable"]
    post_form(
        admin_client, f"/admin/clients/{client_id}/enabled", {"enabled": "1"}, page="/admin/clients"
    )
    assert _rows(app)[0].enabled
    rp.code(rp.authorize())
    assert _events(app)[-1].action == "client.enable"


def test_deleting_removes_the_app_its_tokens_and_consents(app, admin_client, client, admin):
    client_id, secret = _secret(_create(admin_client, require_pkce=None, first_party="1"))
    rp = Rp(client, client_id, secret, redirect_uri="https://shop.example/cb")
    tokens = rp.tokens(rp.exchange(rp.code(rp.authorize())))
    with app.app_context():
        row = db.session.scalar(select(OAuthClient))
        db.session.add(Consent(user_id=admin.id, client_id=row.id, scopes="openid"))
        db.session.commit()

    response = post_form(admin_client, f"/admin/clients/{client_id}/delete", page="/admin/clients")

    assert response.status_code == 303
    assert _rows(app) == []
    with app.app_context():
        assert db.session.scalar(select(func.count(OAuthToken.id))) == 0
        assert db.session.scalar(select(func.count(Consent.id))) == 0
    assert rp.userinfo(tokens.access_token).status_code == 401
    event = _events(app)[-1]
    assert event.action == "client.delete" and event.before["client_id"] == client_id


def test_every_form_needs_the_csrf_token(app, admin_client):
    client_id, _ = _secret(_create(admin_client))

    for path in (
        NEW,
        f"/admin/clients/{client_id}",
        f"/admin/clients/{client_id}/secret",
        f"/admin/clients/{client_id}/enabled",
        f"/admin/clients/{client_id}/delete",
    ):
        assert admin_client.post(path, data=_form()).status_code == 400, path
    assert len(_rows(app)) == 1 and len(_events(app)) == 1


def test_an_unknown_client_id_is_a_404(admin_client):
    assert admin_client.get("/admin/clients/nope").status_code == 404
