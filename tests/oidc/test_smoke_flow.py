"""One code flow end to end, the way a strict relying app sees it."""

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

from joserfc import jwt
from joserfc.jwk import KeySet

from tests.conftest import password_login


def _client(app, **fields):
    from idp.extensions import db
    from idp.oidc import clients

    with app.app_context():
        values = {
            "name": "Demo",
            "redirect_uris": ["https://rp.example/cb"],
            "scopes": "openid profile phone offline_access",
            "first_party": True,
        }
        values.update(fields)
        row, secret = clients.save(None, values)
        db.session.commit()
        return row.client_id, secret


def test_code_flow_with_pkce_gives_verifiable_tokens(app, client, admin):
    client_id, secret = _client(app)
    assert password_login(client, "root").status_code == 303
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    response = client.get(
        "/oauth/authorize",
        query_string={
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": "https://rp.example/cb",
            "scope": "openid profile offline_access",
            "state": "s1",
            "nonce": "n1",
            "code_challenge": challenge.decode(),
            "code_challenge_method": "S256",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    query = parse_qs(urlsplit(response.location).query)
    assert query["state"] == ["s1"] and query["iss"] == ["https://localhost"]
    token = client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": "https://rp.example/cb",
            "code_verifier": verifier,
        },
        auth=(client_id, secret),
    )
    assert token.status_code == 200, token.get_data(as_text=True)
    body = token.get_json()
    assert body["token_type"].lower() == "bearer" and body["refresh_token"]
    keyset = KeySet.import_key_set(client.get("/oauth/jwks").get_json())
    id_token = jwt.decode(body["id_token"], keyset)
    assert id_token.claims["aud"] == client_id
    assert id_token.claims["nonce"] == "n1"
    assert id_token.claims["amr"] == ["pwd"] and id_token.claims["acr"] == "aal1"
    info = client.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert info.status_code == 200 and info.get_json()["sub"] == id_token.claims["sub"]
    again = client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": "https://rp.example/cb",
            "code_verifier": verifier,
        },
        auth=(client_id, secret),
    )
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"
    # The second use revoked what the first one issued.
    info = client.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert info.status_code == 401


def test_an_anonymous_user_signs_in_and_comes_back_with_a_code(app, client, admin):
    client_id, secret = _client(app, scopes="openid phone")
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": "https://rp.example/cb",
        "scope": "openid",
        "state": "xyz",
        "code_challenge": base64.urlsafe_b64encode(hashlib.sha256(b"v" * 50).digest())
        .rstrip(b"=")
        .decode(),
        "code_challenge_method": "S256",
    }
    first = client.get("/oauth/authorize", query_string=params)
    assert first.status_code == 302 and first.location.endswith("/login")
    assert "Demo" in client.get("/login").get_data(as_text=True)
    done = password_login(client, "root")
    assert done.status_code == 303 and done.location.endswith("/oauth/authorize/resume")
    back = client.get(done.location)
    assert back.status_code == 302
    query = parse_qs(urlsplit(back.location).query)
    assert back.location.startswith("https://rp.example/cb?") and query["state"] == ["xyz"]
