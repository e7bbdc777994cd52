"""Signing keys: rotation keeps the old key published (``oidcc-server-rotate-keys``, K3, K4),
private keys are sealed at rest, and every token names its key."""

from __future__ import annotations

from joserfc import jwt
from sqlalchemy import select

from idp.extensions import db
from idp.models import SigningKey
from idp.oidc import keys


def _rotate(app, alg: str | None = None) -> str:
    with app.app_context():
        row = keys.create_key(alg)
        db.session.commit()
        return row.kid


def _kids(client) -> list[str]:
    return [key["kid"] for key in client.get("/oauth/jwks").get_json()["keys"]]


def test_oidcc_server_rotate_keys(app, rp, signed_in, clock):
    before = rp.login_flow()
    old_kid = before.id_header["kid"]
    clock.advance(minutes=1)

    new_kid = _rotate(app)

    assert new_kid != old_kid
    assert set(_kids(rp.browser)) == {old_kid, new_kid}
    # What the old key signed still verifies: at userinfo and against the published JWKS.
    assert rp.userinfo(before.access_token).status_code == 200
    jwt.decode(before.id_token, rp.keyset())
    after = rp.login_flow()
    assert after.id_header["kid"] == new_kid
    assert jwt.decode(after.access_token, rp.keyset()).header["kid"] == new_kid


def test_a_retired_key_leaves_the_jwks_after_the_grace_period(app, rp, signed_in, clock):
    old_kid = rp.login_flow().id_header["kid"]
    new_kid = _rotate(app)

    clock.advance(seconds=keys.KEEP_RETIRED.total_seconds() - 1)
    assert old_kid in _kids(rp.browser)
    clock.advance(seconds=2)

    assert _kids(rp.browser) == [new_kid]


def test_the_grace_period_outlives_every_token_the_old_key_signed():
    from idp.oidc.server import ACCESS_LIFETIME, ID_TOKEN_LIFETIME

    assert keys.KEEP_RETIRED > max(ACCESS_LIFETIME, ID_TOKEN_LIFETIME)


def test_two_rotations_keep_both_retired_keys_within_the_grace_period(app, client, clock):
    first = _rotate(app)
    clock.advance(hours=1)
    second = _rotate(app)
    clock.advance(hours=1)
    third = _rotate(app)

    assert _kids(client) == [third, second, first]
    with app.app_context():
        active = db.session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None)))
        assert [row.kid for row in active] == [third]


def test_a_rotation_may_switch_to_es256(app, rp, signed_in):
    kid = _rotate(app, "ES256")

    tokens = rp.exchange(rp.code(rp.authorize())).get_json()
    decoded = jwt.decode(tokens["id_token"], rp.keyset(), algorithms=["ES256"])

    assert decoded.header == {"alg": "ES256", "kid": kid, "typ": "JWT"}
    [published] = [k for k in rp.browser.get("/oauth/jwks").get_json()["keys"] if k["kid"] == kid]
    assert published["kty"] == "EC" and published["crv"] == "P-256" and "d" not in published


def test_private_keys_are_sealed_at_rest(app):
    with app.app_context():
        row = keys.create_key()
        db.session.commit()
        stored = db.session.scalar(select(SigningKey.private_key).where(SigningKey.id == row.id))

    assert "PRIVATE KEY" not in stored
    assert "BEGIN" not in stored


def test_a_key_still_signs_after_the_app_restarts(app, app_config, registry, clock, rp, signed_in):
    from idp import create_app

    kid = rp.login_flow().id_header["kid"]
    fresh = create_app(app_config, registry=registry, clock=clock)

    with fresh.app_context():
        row = keys.active_key()
        signed = jwt.encode({"alg": row.alg, "kid": row.kid}, {"x": 1}, keys.private_jwk(row))
        assert row.kid == kid
        db.session.remove()
        db.engine.dispose()
    jwt.decode(signed, rp.keyset())
