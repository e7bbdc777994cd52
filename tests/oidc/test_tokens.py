"""Refresh tokens (rotation, reuse detection, expiry), revocation (RFC 7009) and
introspection (RFC 7662)."""

from __future__ import annotations

from tests.oidc.support import Rp, make_client


def _refreshable(rp: Rp):
    return rp.login_flow(scope="openid offline_access")


def test_no_refresh_token_without_offline_access(rp, signed_in):
    tokens = rp.login_flow(scope="openid profile")

    assert "refresh_token" not in tokens.body


def test_each_refresh_rotates_the_refresh_token(rp, signed_in):
    first = _refreshable(rp)

    second = rp.tokens(rp.refresh(first.refresh_token))
    third = rp.tokens(rp.refresh(second.refresh_token))

    assert len({first.refresh_token, second.refresh_token, third.refresh_token}) == 3
    assert rp.userinfo(third.access_token).status_code == 200
    assert second.body["scope"] == "openid offline_access"


def test_reusing_an_old_refresh_token_revokes_the_whole_family(rp, signed_in):
    first = _refreshable(rp)
    second = rp.tokens(rp.refresh(first.refresh_token))
    third = rp.tokens(rp.refresh(second.refresh_token))

    replay = rp.refresh(first.refresh_token)

    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_grant"
    # The newest refresh token and its access token are dead too.
    newest = rp.refresh(third.refresh_token)
    assert newest.status_code == 400 and newest.get_json()["error"] == "invalid_grant"
    assert rp.userinfo(third.access_token).status_code == 401
    assert rp.userinfo(second.access_token).status_code == 401


def test_a_reused_refresh_token_leaves_other_families_alone(rp, signed_in):
    mine = _refreshable(rp)
    other_login = _refreshable(rp)
    rp.tokens(rp.refresh(mine.refresh_token))

    rp.refresh(mine.refresh_token)

    assert rp.tokens(rp.refresh(other_login.refresh_token)).refresh_token


def test_a_refresh_token_expires_after_30_days(rp, signed_in, clock):
    first = _refreshable(rp)
    clock.advance(days=29, hours=23)
    second = rp.tokens(rp.refresh(first.refresh_token))
    clock.advance(days=30, seconds=1)

    response = rp.refresh(second.refresh_token)

    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"


def test_a_refresh_may_narrow_the_scope_but_not_widen_it(rp, signed_in):
    first = rp.login_flow(scope="openid profile offline_access")

    narrowed = rp.token_request(
        {
            "grant_type": "refresh_token",
            "refresh_token": first.refresh_token,
            "scope": "openid offline_access",
        }
    )
    assert narrowed.status_code == 200, narrowed.get_json()
    assert narrowed.get_json()["scope"] == "openid offline_access"
    widened = rp.token_request(
        {
            "grant_type": "refresh_token",
            "refresh_token": narrowed.get_json()["refresh_token"],
            "scope": "openid profile phone offline_access",
        }
    )

    assert widened.status_code == 400 and widened.get_json()["error"] == "invalid_scope"


def test_a_public_client_refreshes_without_a_secret(app, client, signed_in):
    client_id, _ = make_client(app, public=True)
    rp = Rp(client, client_id, None, pkce=True)
    first = rp.tokens(
        rp.exchange(rp.code(rp.authorize(scope="openid offline_access")), auth="none")
    )

    second = rp.tokens(rp.refresh(first.refresh_token, auth="none"))

    assert second.refresh_token != first.refresh_token


# -- revocation -------------------------------------------------------------------------------


def _revoke(rp: Rp, token: str, hint: str | None = None):
    data = {"token": token}
    if hint:
        data["token_type_hint"] = hint
    return rp.browser.post("/oauth/revoke", data=data, auth=(rp.client_id, rp.secret))


def test_revoking_the_access_token_ends_it_and_its_refresh_token(rp, signed_in):
    tokens = _refreshable(rp)

    assert _revoke(rp, tokens.access_token, "access_token").status_code == 200

    assert rp.userinfo(tokens.access_token).status_code == 401
    assert rp.refresh(tokens.refresh_token).status_code == 400


def test_revoking_the_refresh_token_ends_the_family(rp, signed_in):
    tokens = _refreshable(rp)

    assert _revoke(rp, tokens.refresh_token, "refresh_token").status_code == 200

    assert rp.refresh(tokens.refresh_token).get_json()["error"] == "invalid_grant"
    assert rp.userinfo(tokens.access_token).status_code == 401


def test_revoking_an_unknown_token_answers_200(rp):
    assert _revoke(rp, "no-such-token").status_code == 200


def test_revocation_needs_client_authentication(rp, signed_in):
    tokens = _refreshable(rp)

    response = rp.browser.post("/oauth/revoke", data={"token": tokens.access_token})

    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"
    assert rp.userinfo(tokens.access_token).status_code == 200


def test_a_client_cannot_revoke_another_clients_token(app, rp, signed_in):
    tokens = _refreshable(rp)
    other_id, other_secret = make_client(app, name="Other")
    other = Rp(rp.browser, other_id, other_secret)

    _revoke(other, tokens.access_token)

    assert rp.userinfo(tokens.access_token).status_code == 200


# -- introspection ----------------------------------------------------------------------------


def _introspect(rp: Rp, token: str):
    return rp.browser.post(
        "/oauth/introspect", data={"token": token}, auth=(rp.client_id, rp.secret)
    )


def test_a_resource_server_introspects_a_live_access_token(app, rp, signed_in):
    tokens = rp.login_flow(scope="openid profile")
    api_id, api_secret = make_client(app, name="API")
    api = Rp(rp.browser, api_id, api_secret)

    body = _introspect(api, tokens.access_token).get_json()

    assert body["active"] is True
    assert body["sub"] == tokens.id_claims["sub"]
    assert body["client_id"] == rp.client_id
    assert body["scope"] == "openid profile"
    assert body["amr"] == ["pwd"] and body["acr"] == "aal1"


def test_a_live_refresh_token_introspects_as_active(rp, signed_in):
    tokens = _refreshable(rp)

    assert _introspect(rp, tokens.refresh_token).get_json()["active"] is True


def test_revoked_rotated_and_expired_tokens_introspect_as_inactive(rp, signed_in, clock):
    revoked = _refreshable(rp)
    _revoke(rp, revoked.access_token)
    rotated = _refreshable(rp)
    rp.tokens(rp.refresh(rotated.refresh_token))
    expired = rp.login_flow()
    clock.advance(seconds=601)

    for token in (
        revoked.access_token,
        revoked.refresh_token,
        rotated.refresh_token,
        expired.access_token,
        "garbage",
    ):
        assert _introspect(rp, token).get_json() == {"active": False}, token


def test_public_clients_may_not_introspect(app, rp, signed_in):
    tokens = rp.login_flow()
    client_id, _ = make_client(app, public=True)

    response = rp.browser.post(
        "/oauth/introspect", data={"token": tokens.access_token, "client_id": client_id}
    )

    assert response.status_code in (400, 401, 403)
    assert "active" not in (response.get_json() or {})
