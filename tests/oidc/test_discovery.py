"""Discovery and JWKS, as the conformance suite's config plan
(``oidcc-discovery-endpoint-verification``, security.md 4.2) and strict clients check them."""

from __future__ import annotations

import base64

import pytest

from idp import create_app
from tests.oidc.support import ISSUER


@pytest.fixture
def metadata(client):
    response = client.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    return response.get_json()


def test_oidcc_discovery_endpoint_verification(client, metadata):
    assert metadata["issuer"] == ISSUER
    for name in (
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "revocation_endpoint",
        "introspection_endpoint",
        "end_session_endpoint",
    ):
        assert metadata[name].startswith(ISSUER + "/"), name
        assert metadata[name].startswith("https://"), name
    assert metadata["response_types_supported"] == ["code"]
    assert set(metadata["grant_types_supported"]) == {"authorization_code", "refresh_token"}
    assert metadata["subject_types_supported"] == ["public"]
    assert "RS256" in metadata["id_token_signing_alg_values_supported"]
    assert "openid" in metadata["scopes_supported"]
    assert {"sub", "iss", "acr", "amr", "auth_time", "phone_number"} <= set(
        metadata["claims_supported"]
    )
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert metadata["acr_values_supported"] == ["aal1", "aal2"]
    assert set(metadata["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "none",
    }
    assert metadata["request_parameter_supported"] is False
    assert metadata["request_uri_parameter_supported"] is False
    # No dynamic registration (ASVS 10.4.7): admins register clients.
    assert "registration_endpoint" not in metadata
    assert client.post(
        "/register", json={"redirect_uris": ["https://x.example/cb"]}
    ).status_code in (
        404,
        405,
    )
    # Every list-valued field really is a list.
    for name, value in metadata.items():
        if name.endswith("_supported") and not isinstance(value, bool):
            assert isinstance(value, list), name


def test_the_jwks_uri_serves_valid_public_signing_keys(client, metadata):
    path = metadata["jwks_uri"].removeprefix(ISSUER)

    response = client.get(path)

    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    keys = response.get_json()["keys"]
    assert keys
    for key in keys:
        assert key["kid"] and key["use"] == "sig" and key["alg"] in ("RS256", "ES256")
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key), "a private part is published"
        if key["kty"] == "RSA":
            modulus = base64.urlsafe_b64decode(key["n"] + "=" * (-len(key["n"]) % 4))
            assert len(modulus) >= 384, "RSA keys have at least 3072 bits (ASVS 11.2.3)"
    assert len({k["kid"] for k in keys}) == len(keys)


def test_discovery_and_jwks_allow_cross_origin_reads(client):
    for path in ("/.well-known/openid-configuration", "/oauth/jwks"):
        assert client.get(path).headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("configured", ["https://login.example.org", "https://login.example.org/"])
def test_the_issuer_has_one_form_with_or_without_a_trailing_slash(app_config, configured):
    app = create_app({**app_config, "issuer": configured})

    metadata = app.test_client().get("/.well-known/openid-configuration").get_json()

    assert metadata["issuer"] == "https://login.example.org"
    assert metadata["token_endpoint"] == "https://login.example.org/oauth/token"


def test_es256_is_advertised_when_configured(app_config):
    app = create_app({**app_config, "signing_alg": "ES256"})

    metadata = app.test_client().get("/.well-known/openid-configuration").get_json()

    assert metadata["id_token_signing_alg_values_supported"] == ["ES256"]
