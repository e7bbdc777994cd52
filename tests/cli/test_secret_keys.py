"""``poort rotate-secret-key``: a new key first, every secret re-encrypted in one transaction,
and nothing half-done when a step fails."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

import idp
import idp.cli.secret_keys
from idp.errors import ConfigError
from idp.extensions import db
from idp.models import (
    AuditEvent,
    Authenticator,
    Credential,
    SigningKey,
    User,
    Verifier,
)
from idp.options import SEALED
from idp.plugins import Registry
from idp.security.secret_box import SecretBox, new_key, read_keys
from tests.cli.support import Idp, add
from tests.verification.providers import fake_registry


@pytest.fixture
def registry() -> Registry:
    """Password login, the console provider and both fakes."""
    return fake_registry()


SECRETS = {
    "verifier": "sk_verifier_SENTINEL",
    "authenticator": "authn_SENTINEL",
    "credential": "JBSWY3DPEHPK3PXP",
    "signing": "-----BEGIN PRIVATE KEY-----SENTINEL",
}


@pytest.fixture
def old_key() -> str:
    return new_key()


@pytest.fixture
def keyed_app(app_config: dict[str, Any], request: pytest.FixtureRequest, old_key: str) -> Flask:
    """An app whose secret box reads instance/secret.keys (not the configuration)."""
    del app_config["secret_keys"]
    instance = Path(app_config["instance_path"])
    instance.mkdir(parents=True, exist_ok=True)
    (instance / "secret.keys").write_text(old_key + "\n", encoding="utf-8")
    app: Flask = request.getfixturevalue("app")
    return app


def seed_secrets(app: Flask, make_user: Callable[..., User]) -> None:
    """One sealed secret in every table that keeps them."""
    user = make_user()
    idp_cli = Idp(app)
    add(idp_cli, "main", "--option", f"api_key={SECRETS['verifier']}")
    with app.app_context():
        box = app.extensions["idp"].secret_box
        db.session.add_all(
            [
                Authenticator(
                    name="sms",
                    method="password",
                    title="SMS",
                    position=1,
                    enabled=False,
                    options={"nested": {"token": {SEALED: box.seal(SECRETS["authenticator"])}}},
                ),
                Credential(user_id=user.id, method="totp", secret=box.seal(SECRETS["credential"])),
                Credential(user_id=user.id, method="none", secret=None),
                SigningKey(
                    kid="k1",
                    alg="RS256",
                    private_key=box.seal(SECRETS["signing"]),
                    public_jwk={"kty": "RSA"},
                ),
            ]
        )
        db.session.commit()


def stored_tokens(app: Flask) -> dict[str, str]:
    with app.app_context():
        verifier = db.session.scalar(select(Verifier))
        authenticator = db.session.scalar(select(Authenticator))
        credential = db.session.scalar(select(Credential).where(Credential.method == "totp"))
        signing = db.session.scalar(select(SigningKey))
        return {
            "verifier": verifier.options["api_key"][SEALED],
            "authenticator": authenticator.options["nested"]["token"][SEALED],
            "credential": credential.secret,
            "signing": signing.private_key,
        }


def opened(tokens: dict[str, str], keys: list[str]) -> dict[str, str]:
    box = SecretBox(keys)
    return {name: box.open(token) for name, token in tokens.items()}


def test_rotate_writes_the_new_key_first_and_reencrypts_everything(keyed_app, make_user, old_key):
    seed_secrets(keyed_app, make_user)
    before = stored_tokens(keyed_app)
    instance = Path(keyed_app.instance_path)

    out = Idp(keyed_app).ok("rotate-secret-key")

    keys = read_keys(instance)
    assert len(keys) == 2
    assert keys[1] == old_key and keys[0] != old_key
    assert stat.S_IMODE((instance / "secret.keys").stat().st_mode) == 0o600
    assert "Re-encrypted 4 secret(s) under the newest key." in out
    assert "poort rotate-secret-key --reencrypt-only --drop-old" in out
    after = stored_tokens(keyed_app)
    assert all(after[name] != before[name] for name in after)
    assert opened(after, keys[:1]) == SECRETS  # the new key alone opens every secret
    assert opened(before, keys) == SECRETS  # and old tokens still open during the rotation
    assert not any(old_key in line or keys[0] in line for line in out.splitlines())
    with keyed_app.app_context():
        # The running app uses the new keys at once.
        box = keyed_app.extensions["idp"].secret_box
        assert box.open(after["verifier"]) == SECRETS["verifier"]
        [event] = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "secrets.rotate")
        ).all()
        assert (event.actor, event.after) == (
            "cli",
            {"reencrypted": 4, "new_key": True, "keys": 2},
        )
        assert old_key not in json.dumps(event.after)


def test_rotate_with_drop_old_leaves_only_the_new_key(keyed_app, make_user, old_key):
    seed_secrets(keyed_app, make_user)
    instance = Path(keyed_app.instance_path)

    out = Idp(keyed_app).ok("rotate-secret-key", "--drop-old")

    keys = read_keys(instance)
    assert len(keys) == 1 and keys[0] != old_key
    assert "Dropped 1 old key(s)" in out
    tokens = stored_tokens(keyed_app)
    assert opened(tokens, keys) == SECRETS
    for token in tokens.values():
        with pytest.raises(ConfigError):
            SecretBox([old_key]).open(token)
    with keyed_app.app_context():
        actions = [e.action for e in db.session.scalars(select(AuditEvent))]
    assert actions[-2:] == ["secrets.rotate", "secrets.drop_old_keys"]


def test_reencrypt_only_then_drop_old_retires_the_old_key(keyed_app, make_user, old_key):
    seed_secrets(keyed_app, make_user)
    idp_cli = Idp(keyed_app)
    idp_cli.ok("rotate-secret-key")
    newest = read_keys(Path(keyed_app.instance_path))[0]

    out = idp_cli.ok("rotate-secret-key", "--reencrypt-only", "--drop-old")

    assert read_keys(Path(keyed_app.instance_path)) == [newest]
    assert "Dropped 1 old key(s)" in out
    assert opened(stored_tokens(keyed_app), [newest]) == SECRETS


def test_a_secret_no_key_opens_stops_the_rotation_with_nothing_changed(
    keyed_app, make_user, old_key
):
    seed_secrets(keyed_app, make_user)
    with keyed_app.app_context():
        stray = db.session.scalar(select(Credential).where(Credential.method == "none"))
        stray.secret = SecretBox([new_key()]).seal("sealed with a lost key")
        db.session.commit()
    before = stored_tokens(keyed_app)
    key_file = Path(keyed_app.instance_path) / "secret.keys"
    file_before = key_file.read_text()

    out = Idp(keyed_app).fails("rotate-secret-key", "--drop-old")

    assert "Nothing was rotated: The secret of credential" in out
    assert "cannot be decrypted" in out
    assert key_file.read_text() == file_before
    assert stored_tokens(keyed_app) == before
    assert [a for a, _, _ in Idp(keyed_app).audit()] == ["verifier.create"]


def test_a_key_file_that_cannot_be_written_rolls_the_database_back(
    keyed_app, make_user, monkeypatch
):
    seed_secrets(keyed_app, make_user)
    before = stored_tokens(keyed_app)
    key_file = Path(keyed_app.instance_path) / "secret.keys"
    file_before = key_file.read_text()

    def disk_full(path: Path, keys: list[str]) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(idp.cli.secret_keys, "_write_keys", disk_full)

    out = Idp(keyed_app).fails("rotate-secret-key")

    assert "Nothing was rotated:" in out
    assert "No space left on device" in out
    assert stored_tokens(keyed_app) == before
    assert key_file.read_text() == file_before
    assert opened(before, read_keys(key_file.parent)) == SECRETS


def test_a_failed_commit_restores_the_key_file(keyed_app, make_user, monkeypatch, old_key):
    seed_secrets(keyed_app, make_user)
    before = stored_tokens(keyed_app)
    key_file = Path(keyed_app.instance_path) / "secret.keys"

    def connection_lost(self: Session) -> None:
        raise OperationalError("COMMIT", {}, Exception("server closed the connection"))

    with monkeypatch.context() as patch:
        patch.setattr(Session, "commit", connection_lost)
        result = Idp(keyed_app)("rotate-secret-key")

    assert isinstance(result.exception, OperationalError)
    assert read_keys(key_file.parent) == [old_key]
    assert stored_tokens(keyed_app) == before


def test_rotate_without_any_key_says_so(app_config, request):
    del app_config["secret_keys"]
    app_config["dev"] = True
    app = request.getfixturevalue("app")

    out = Idp(app).fails("rotate-secret-key")

    assert "no key to rotate" in out
    assert "poort init" in out


def test_keys_from_the_environment_are_printed_not_written(app, make_user, monkeypatch, fernet_key):
    seed_secrets(app, make_user)
    before = stored_tokens(app)
    monkeypatch.setenv("IDP_SECRET_KEYS", fernet_key)

    out = Idp(app).ok("rotate-secret-key")

    [line] = [line.strip() for line in out.splitlines() if "IDP_SECRET_KEYS=" in line]
    new, old = line.removeprefix("IDP_SECRET_KEYS=").split(",")
    assert old == fernet_key
    Fernet(new.encode())  # a valid key
    assert "Nothing was changed yet." in out
    assert not (Path(app.instance_path) / "secret.keys").exists()
    assert stored_tokens(app) == before
    assert "--drop-old needs the secrets re-encrypted" in Idp(app).fails(
        "rotate-secret-key", "--drop-old"
    )


def test_keys_from_the_environment_reencrypt_only_then_print_the_short_list(
    app_config, registry, clock, app, make_user, monkeypatch, fernet_key
):
    seed_secrets(app, make_user)
    new = new_key()
    monkeypatch.setenv("IDP_SECRET_KEYS", f"{new},{fernet_key}")
    restarted = idp.create_app(
        {**app_config, "secret_keys": [new, fernet_key]}, registry=registry, clock=clock
    )
    try:
        out = Idp(restarted).ok("rotate-secret-key", "--reencrypt-only", "--drop-old")
    finally:
        with restarted.app_context():
            db.session.remove()
            db.engine.dispose()

    assert f"IDP_SECRET_KEYS={new}\n" in out
    assert opened(stored_tokens(app), [new]) == SECRETS
    assert not (Path(app.instance_path) / "secret.keys").exists()
