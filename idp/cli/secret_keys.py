"""``poort rotate-secret-key``: a new key for the secrets Poort keeps at rest (verifier and
authenticator credentials), and every secret re-encrypted under it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click
from flask.cli import with_appcontext

from idp.errors import ConfigError


def _write_keys(path: Path, keys: list[str]) -> None:
    """Replace the key file in one step (readable by its owner only): never half-written."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret.keys.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("".join(f"{key}\n" for key in keys))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _key_list(keys: list[str]) -> str:
    if "IDP_SECRET_KEYS" in os.environ:
        return f"IDP_SECRET_KEYS={','.join(keys)}"
    quoted = ", ".join(f'"{key}"' for key in keys)
    return f"secret_keys = [{quoted}]   # in poort.toml"


@click.command("rotate-secret-key")
@click.option(
    "--drop-old",
    is_flag=True,
    help="After re-encrypting, keep only the newest key (old keys then open nothing).",
)
@click.option(
    "--reencrypt-only",
    is_flag=True,
    help="Make no new key: re-encrypt every secret under the newest key already configured.",
)
@with_appcontext
def rotate_secret_key_command(drop_old: bool, reencrypt_only: bool) -> None:
    """Make a new key for secrets at rest and re-encrypt every secret under it.

    With instance/secret.keys: the new key is written first in the file, the old ones after it
    (so old secrets stay readable), and every secret is re-encrypted in one transaction.
    With IDP_SECRET_KEYS (or secret_keys in poort.toml): the new key list is printed to put
    there; once every Poort process runs with it, `--reencrypt-only` re-encrypts the secrets.
    Restart every Poort process afterwards: they read the keys at start-up.
    """
    from idp import state
    from idp.extensions import db
    from idp.security import audit, key_rotation
    from idp.security.secret_box import KEYS_FILE, SecretBox, new_key, read_keys

    s = state.current()
    configured = list(s.settings.secret_keys)
    path = s.settings.instance_path / KEYS_FILE
    old_keys = configured or read_keys(s.settings.instance_path)
    if not old_keys:
        raise click.ClickException(
            f"There is no {path} and IDP_SECRET_KEYS is not set: no key to rotate. "
            "Run `poort init` to create one."
        )

    if configured and not reencrypt_only:
        if drop_old:
            raise click.ClickException(
                "--drop-old needs the secrets re-encrypted under the new key first: set the new "
                "key list, restart Poort, then run `poort rotate-secret-key --reencrypt-only "
                "--drop-old`."
            )
        click.echo("The keys come from the configuration, not from a file. Set:\n")
        click.echo(f"  {_key_list([new_key(), *old_keys])}\n")
        click.echo(
            "then restart every Poort process and run `poort rotate-secret-key --reencrypt-only` "
            "to re-encrypt the secrets under the new key (add --drop-old to retire the old keys). "
            "Nothing was changed yet."
        )
        return

    keys = old_keys if reencrypt_only else [new_key(), *old_keys]
    box = SecretBox(keys)
    try:
        count = key_rotation.reencrypt(box)
        audit.record(
            "secrets.rotate",
            "secret_keys",
            after={"reencrypted": count, "new_key": not reencrypt_only, "keys": len(keys)},
        )
        db.session.flush()
        if not configured and not reencrypt_only:
            _write_keys(path, keys)
    except (ConfigError, OSError) as exc:
        db.session.rollback()
        raise click.ClickException(f"Nothing was rotated: {exc}") from exc
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        if not configured and not reencrypt_only:
            _write_keys(path, old_keys)  # the database still holds the old tokens
        raise
    s.secret_box = box
    click.echo(f"Re-encrypted {count} secret(s) under the newest key.")

    if drop_old:
        newest = SecretBox(keys[:1])
        # Read back from the database: a process still on the old keys may have written since.
        db.session.expire_all()
        left = key_rotation.unreadable(newest)
        if left:
            raise click.ClickException(
                "Not dropping the old keys: these secrets are not under the newest key yet: "
                + ", ".join(map(str, left))
                + ". Run the command again."
            )
        if configured:
            click.echo("Every secret opens with the newest key alone. Set:\n")
            click.echo(f"  {_key_list(keys[:1])}\n")
            click.echo("and restart every Poort process.")
            return
        _write_keys(path, keys[:1])
        s.secret_box = newest
        audit.record("secrets.drop_old_keys", "secret_keys", after={"dropped": len(keys) - 1})
        db.session.commit()
        click.echo(f"Dropped {len(keys) - 1} old key(s) from {path}.")
    elif not configured and not reencrypt_only:
        click.echo(
            f"{path} now holds the new key first and {len(old_keys)} old key(s) after it. Once "
            "every Poort process was restarted, retire the old keys with "
            "`poort rotate-secret-key --reencrypt-only --drop-old`."
        )
    click.echo("Restart every Poort process so it reads the keys.")
