"""Re-encrypting every sealed secret in the database under the newest key of the secret box.

Secrets live in two shapes: inside options JSON as ``{"$sealed": token}`` (authenticators and
verifiers, through :mod:`idp.options`), and as a bare token in a text column (a user's TOTP
secret, an OIDC signing key). :data:`SEALED_COLUMNS` lists them all; a new table that keeps a
sealed secret must be added there, or a key rotation with ``--drop-old`` would lock it out.

Nothing here commits: the caller re-encrypts in its open transaction and commits once, so a
failure leaves every secret as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from idp.errors import ConfigError
from idp.extensions import db
from idp.models import Authenticator, Credential, SigningKey, Verifier
from idp.options import SEALED, is_sealed
from idp.security.secret_box import SecretBox

JSON_SHAPE = "json"  # options JSON holding {"$sealed": token} values, at any depth
TOKEN_SHAPE = "token"  # noqa: S105 - a column holding one token (or nothing)

#: Every place a sealed secret is stored: (model, attribute, shape, how to name a row).
SEALED_COLUMNS: tuple[tuple[type, str, str, str], ...] = (
    (Authenticator, "options", JSON_SHAPE, "name"),
    (Verifier, "options", JSON_SHAPE, "name"),
    (Credential, "secret", TOKEN_SHAPE, "id"),
    (SigningKey, "private_key", TOKEN_SHAPE, "id"),
)


@dataclass(frozen=True)
class Sealed:
    """Where one sealed secret lives, for messages: ``verifier spryng-nl: password``."""

    table: str
    row: str
    key: str

    def __str__(self) -> str:
        return f"{self.table} {self.row}: {self.key}" if self.key else f"{self.table} {self.row}"


def _walk(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, token) of every sealed value inside options JSON."""
    if is_sealed(value):
        yield path, value[SEALED]
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")


def _rotate_json(value: Any, box: SecretBox) -> Any:
    if is_sealed(value):
        return {SEALED: box.rotate(value[SEALED])}
    if isinstance(value, dict):
        return {key: _rotate_json(item, box) for key, item in value.items()}
    if isinstance(value, list):
        return [_rotate_json(item, box) for item in value]
    return value


def _rows() -> Iterator[tuple[Any, str, str, Sealed]]:
    """(row, attribute, shape, where) for every row of every table that holds secrets."""
    for model, attribute, shape, label in SEALED_COLUMNS:
        table = str(model.__tablename__).removesuffix("s")  # type: ignore[attr-defined]
        row: Any
        for row in db.session.scalars(select(model).order_by(model.id)):  # type: ignore[attr-defined]
            yield row, attribute, shape, Sealed(table, str(getattr(row, label)), "")


def sealed_secrets() -> Iterator[tuple[Sealed, str]]:
    """Every sealed secret in the database with its token."""
    for row, attribute, shape, where in _rows():
        value = getattr(row, attribute)
        if shape == JSON_SHAPE:
            for path, token in _walk(value or {}):
                yield Sealed(where.table, where.row, path), token
        elif value:
            yield Sealed(where.table, where.row, attribute), value


def reencrypt(box: SecretBox) -> int:
    """Re-encrypt every sealed secret under *box*'s newest key, in the open transaction.

    :returns: how many secrets were re-encrypted.
    :raises ConfigError: naming the first secret no key of *box* opens; the caller rolls back.
    """
    count = 0
    for row, attribute, shape, where in _rows():
        value = getattr(row, attribute)
        try:
            if shape == JSON_SHAPE:
                found = sum(1 for _ in _walk(value or {}))
                if found:
                    # A new object, so the ORM sees the JSON column change.
                    setattr(row, attribute, _rotate_json(value, box))
            elif value:
                found = 1
                setattr(row, attribute, box.rotate(value))
            else:
                found = 0
        except ConfigError as exc:
            raise ConfigError(
                f"The secret of {where} cannot be decrypted with the configured keys; "
                "nothing was re-encrypted.",
                setting="secret_keys",
            ) from exc
        count += found
    db.session.flush()
    return count


def unreadable(box: SecretBox) -> list[Sealed]:
    """The sealed secrets in the database that *box* cannot open (none, after a rotation)."""
    problems = []
    for where, token in sealed_secrets():
        try:
            box.open(token)
        except ConfigError:
            problems.append(where)
    return problems
