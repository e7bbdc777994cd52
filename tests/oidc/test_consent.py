"""Consent for third-party applications: asked once per user, client and scope set, and
revocable from the account's connected applications."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent, Consent
from tests.conftest import csrf_token, password_login, post_form
from tests.oidc.support import Rp, make_client


@pytest.fixture
def third(app, client, admin) -> Rp:
    client_id, secret = make_client(app, name="Third Party", first_party=False)
    return Rp(client, client_id, secret)


def _rid(page: str) -> str:
    match = re.search(r'name="rid" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def _decide(rp: Rp, page_response, decision: str = "allow"):
    page = page_response.get_data(as_text=True)
    response = rp.browser.post(
        "/oauth/authorize/consent",
        data={"csrf_token": csrf_token(rp.browser, "/"), "rid": _rid(page), "decision": decision},
    )
    response.sent = page_response.sent
    return response


def _consents(app) -> list[tuple[int, str]]:
    with app.app_context():
        return [(row.user_id, row.scopes) for row in db.session.scalars(select(Consent))]


def test_a_third_party_app_asks_for_consent_listing_the_scopes(third, signed_in):
    response = third.authorize(scope="openid phone")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Allow Third Party" in page and "your phone number" in page
    assert "Location" not in response.headers


def test_allowing_returns_a_code_and_remembers_the_consent(app, third, signed_in, admin):
    first = third.authorize(scope="openid phone")

    code = third.code(_decide(third, first))

    third.tokens(third.exchange(code))
    assert _consents(app) == [(admin.id, "openid phone")]
    # The same scopes, or fewer, are not asked again.
    third.code(third.authorize(scope="openid phone"))
    third.code(third.authorize(scope="openid"))


def test_more_scopes_ask_again_and_the_consent_grows(app, third, signed_in, admin):
    third.code(_decide(third, third.authorize(scope="openid phone")))

    wider = third.authorize(scope="openid email")

    assert wider.status_code == 200 and "your e-mail address" in wider.get_data(as_text=True)
    third.code(_decide(third, wider))
    assert _consents(app) == [(admin.id, "email openid phone")]


def test_consent_is_per_user(app, third, client, admin, alice):
    password_login(client, "root")
    third.code(_decide(third, third.authorize()))
    password_login(client, "alice")

    assert third.authorize().status_code == 200


def test_consent_is_per_client(app, third, client, signed_in):
    third.code(_decide(third, third.authorize()))
    other_id, other_secret = make_client(app, name="Another Party", first_party=False)
    other = Rp(client, other_id, other_secret)

    assert other.authorize().status_code == 200


def test_denying_redirects_with_access_denied_state_and_iss(app, third, signed_in):
    page = third.authorize()

    error = third.error(_decide(third, page, "deny"))

    assert error["error"] == "access_denied" and error["state"] == page.sent["state"]
    assert "code" not in error
    assert _consents(app) == []


def test_prompt_consent_asks_even_when_remembered(third, signed_in):
    third.code(_decide(third, third.authorize()))

    again = third.authorize(prompt="consent")

    assert again.status_code == 200
    third.code(_decide(third, again))


def test_prompt_none_without_consent_is_consent_required(third, signed_in):
    error = third.error(third.authorize(prompt="none"))

    assert error["error"] == "consent_required"


def test_a_first_party_app_asks_no_consent(rp, signed_in):
    rp.code(rp.authorize(scope="openid phone email"))


def test_a_consent_form_from_another_request_is_refused(third, signed_in):
    third.authorize()

    response = post_form(
        third.browser,
        "/oauth/authorize/consent",
        {"rid": "not-the-request", "decision": "allow"},
        page="/",
    )

    assert response.status_code == 400 and "Location" not in response.headers


def test_the_consent_form_needs_the_csrf_token(third, signed_in):
    page = third.authorize().get_data(as_text=True)

    response = third.browser.post(
        "/oauth/authorize/consent", data={"rid": _rid(page), "decision": "allow"}
    )

    assert response.status_code == 400 and "Location" not in response.headers


# -- connected applications on the account page -------------------------------------------


def test_the_account_page_links_to_connected_applications(signed_in):
    page = signed_in.get("/account").get_data(as_text=True)

    assert 'href="/account/applications"' in page


def test_connected_applications_need_a_login(client):
    response = client.get("/account/applications")

    assert response.status_code == 302 and "/login" in response.location


def test_connected_applications_list_consents_and_signed_in_apps(app, third, rp, signed_in):
    third.code(_decide(third, third.authorize(scope="openid phone")))
    rp.login_flow(scope="openid offline_access")

    page = signed_in.get("/account/applications").get_data(as_text=True)

    assert "Third Party" in page and "openid, phone" in page
    assert "Relying app" in page and "first-party" in page


def test_revoking_deletes_the_consent_and_the_apps_tokens(app, third, signed_in, admin):
    code = third.code(_decide(third, third.authorize(scope="openid offline_access")))
    tokens = third.tokens(third.exchange(code))

    response = post_form(
        signed_in,
        f"/account/applications/{third.client_id}/revoke",
        page="/account/applications",
    )

    assert response.status_code == 303 and response.location.endswith("/account/applications")
    assert _consents(app) == []
    assert third.userinfo(tokens.access_token).status_code == 401
    assert third.refresh(tokens.refresh_token).get_json()["error"] == "invalid_grant"
    # The next sign-in asks again.
    assert third.authorize().status_code == 200
    with app.app_context():
        event = db.session.scalar(
            select(AuditEvent).where(AuditEvent.action == "oidc.consent_revoke")
        )
        assert event.target == f"user:{admin.id}"
        assert event.before == {"client": third.client_id, "scopes": "offline_access openid"}


def test_revoking_leaves_other_users_and_other_apps_alone(
    app, third, rp, client, admin, alice, make_user
):
    password_login(client, "alice")
    alice_code = third.code(_decide(third, third.authorize()))
    alice_tokens = third.tokens(third.exchange(alice_code))
    password_login(client, "root")
    third.code(_decide(third, third.authorize()))
    root_first_party = rp.login_flow()

    post_form(client, f"/account/applications/{third.client_id}/revoke", page="/account")

    assert _consents(app) == [(alice.id, "openid")]
    assert third.userinfo(alice_tokens.access_token).status_code == 200
    assert rp.userinfo(root_first_party.access_token).status_code == 200


def test_revoking_needs_the_csrf_token(app, third, signed_in):
    third.code(_decide(third, third.authorize()))

    response = signed_in.post(f"/account/applications/{third.client_id}/revoke")

    assert response.status_code == 400
    assert len(_consents(app)) == 1
