"""Signing keys: the newest signs; older ones stay in the JWKS until what they signed expired.

Private keys are kept as PEM sealed in the secret box; the JWKS publishes the public halves,
each with its ``kid``. ``flask idp keys rotate`` adds a new key and retires the current one.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import current_app
from joserfc.jwk import ECKey, KeySetSerialization, RSAKey
from sqlalchemy import or_, select

from idp import state
from idp.extensions import db
from idp.models import SigningKey
from idp.request_cache import forget, request_cache

RSA_BITS = 3072
#: A retired key stays published this long: longer than any token it signed lives.
KEEP_RETIRED = timedelta(days=1)


def _private_pem(alg: str) -> bytes:
    if alg == "ES256":
        key: Any = ec.generate_private_key(ec.SECP256R1())
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _import(alg: str, pem: bytes | str) -> RSAKey | ECKey:
    return ECKey.import_key(pem) if alg == "ES256" else RSAKey.import_key(pem)


def create_key(alg: str | None = None) -> SigningKey:
    """Make a new signing key and retire the current one. The caller commits."""
    s = state.current()
    alg = alg or s.settings.signing_alg
    now = s.clock()
    pem = _private_pem(alg)
    kid = f"{now:%Y%m%d}-{secrets.token_hex(4)}"
    # A key made a moment ago needs no consistency check (the slow part of loading RSA keys).
    loaded = serialization.load_pem_private_key(pem, None, unsafe_skip_rsa_key_validation=True)
    kind: Any = ECKey if alg == "ES256" else RSAKey
    private = kind.import_key(loaded, parameters={"kid": kid})
    public = private.as_dict(private=False)
    public.update({"kid": kid, "alg": alg, "use": "sig"})
    for current in db.session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None))):
        current.retired_at = now
    row = SigningKey(
        kid=kid,
        alg=alg,
        private_key=s.secret_box.seal(pem.decode()),
        public_jwk=public,
        created_at=now,
    )
    db.session.add(row)
    db.session.flush()
    _cache()[kid] = private
    forget(_ACTIVE)
    return row


_ACTIVE = "signing_key"


def active_key() -> SigningKey:
    """The key that signs now; made on first use when there is none.

    Read once per request: a token response signs an access token and an ID token and asks
    for the key, its algorithm and its header several times. The row handed out is detached
    from the session (read only), so a commit in between does not make it load again.
    """
    cache = request_cache()
    if cache is not None and cache.get(_ACTIVE) is not None:
        cached: SigningKey = cache[_ACTIVE]
        return cached
    row = db.session.scalar(
        select(SigningKey)
        .where(SigningKey.retired_at.is_(None))
        .order_by(SigningKey.created_at.desc())
        .limit(1)
    )
    if row is None:
        row = create_key()
        db.session.commit()
        db.session.refresh(row)
    if cache is not None:
        db.session.expunge(row)
        cache[_ACTIVE] = row
    return row


def _cache() -> dict[str, RSAKey | ECKey]:
    """Private keys already loaded by this app, by kid."""
    cache: dict[str, RSAKey | ECKey] = current_app.extensions.setdefault("idp.oidc.keys", {})
    return cache


def private_jwk(row: SigningKey) -> RSAKey | ECKey:
    """The private key of *row*, loaded once per app: loading (and checking) an RSA key costs
    a fraction of a second, too much for every token. A kid never changes its key."""
    cache = _cache()
    key = cache.get(row.kid)
    if key is None:
        pem = state.current().secret_box.open(row.private_key)
        cls = ECKey if row.alg == "ES256" else RSAKey
        key = cache[row.kid] = cls.import_key(pem, parameters={"kid": row.kid})
    return key


def published_keys() -> list[SigningKey]:
    """The active key and the retired ones still inside their grace period."""
    cutoff = state.current().clock() - KEEP_RETIRED
    return list(
        db.session.scalars(
            select(SigningKey)
            .where(or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > cutoff))
            .order_by(SigningKey.created_at.desc())
        )
    )


def jwks() -> KeySetSerialization:
    return {"keys": [dict(row.public_jwk) for row in published_keys()]}


def public_jwk(kid: str) -> RSAKey | ECKey | None:
    """A published public key by kid, to verify our own tokens (id_token_hint, access tokens)."""
    for row in published_keys():
        if row.kid == kid:
            return _import(row.alg, dict(row.public_jwk))  # type: ignore[arg-type]
    return None
