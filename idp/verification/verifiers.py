"""Verifiers: validating and saving them, the default flag, fallbacks, and confirmation.

Everything the admin panel and the CLI change about a verifier goes through here, so both
refuse the same bad input with the same messages, naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select, update

from idp import state
from idp.errors import InvalidInput, NotFound
from idp.extensions import db
from idp.models import SmsLogEntry, Verifier
from idp.models.base import SLUG
from idp.options import public_options, validate_options
from idp.sms.sender import check_sender

CURRENCY = re.compile(r"[A-Z]{3}")
MAX_PRICE = Decimal("100")


def get(name: str) -> Verifier:
    row = db.session.scalar(select(Verifier).where(Verifier.name == name))
    if row is None:
        raise NotFound(f"There is no verifier called {name!r}.")
    return row


def all_verifiers() -> list[Verifier]:
    return list(db.session.scalars(select(Verifier).order_by(Verifier.name)))


def public_view(row: Verifier) -> dict[str, Any]:
    """The verifier without secrets, for audit entries and pages."""
    return {
        "name": row.name,
        "title": row.title,
        "provider": row.provider,
        "options": public_options(row.options),
        "sender": row.sender,
        "price_per_segment": str(row.price_per_segment),
        "currency": row.currency,
        "is_default": bool(row.is_default),
        "fallback": row.fallback.name if row.fallback else None,
        "enabled": row.enabled,
        "confirmed": row.confirmed_at is not None,
    }


def _price(raw: Any) -> Decimal:
    try:
        price = Decimal(str(raw if raw not in (None, "") else "0").replace(",", "."))
    except InvalidOperation:
        raise InvalidInput("Enter a price such as 0.056.", field="price_per_segment") from None
    if not price.is_finite():  # NaN and Infinity parse as Decimals but are no price
        raise InvalidInput("Enter a price such as 0.056.", field="price_per_segment")
    if price < 0:
        raise InvalidInput("The price cannot be negative.", field="price_per_segment")
    if price > MAX_PRICE:
        raise InvalidInput(
            f"A price above {MAX_PRICE} per segment is surely a typo.", field="price_per_segment"
        )
    return price.quantize(Decimal("0.0001"))


def _fallback(name: str | None, row: Verifier | None) -> Verifier | None:
    if not name:
        return None
    target = db.session.scalar(select(Verifier).where(Verifier.name == name))
    if target is None:
        raise InvalidInput(f"There is no verifier called {name!r}.", field="fallback")
    # Walk the chain from the proposed fallback; meeting this verifier again is a cycle.
    seen: set[int] = set()
    node: Verifier | None = target
    while node is not None and node.id not in seen:
        if row is not None and node.id == row.id:
            raise InvalidInput(
                f"{name!r} falls back (directly or not) to this verifier: that is a cycle.",
                field="fallback",
            )
        seen.add(node.id)
        node = node.fallback
    return target


def save(
    row: Verifier | None,
    fields: Mapping[str, Any],
    options: Any,
) -> tuple[Verifier, bool]:
    """Validate *fields* (name, title, provider, sender, price_per_segment, currency, fallback)
    and the provider *options*, and apply them to *row* (or a new verifier). The caller audits
    and commits.

    :returns: the verifier and whether it needs a new test code (provider, options or sender
        changed), in which case it was also disabled.
    :raises InvalidInput: naming the field; ``OptionsInvalid`` for provider options.
    """
    s = state.current()
    provider = row.provider if row is not None else str(fields.get("provider") or "")
    cls = s.registry.sms_provider(provider)
    if cls is None:
        raise InvalidInput(f"No SMS provider called {provider!r} is installed.", field="provider")
    name = str(fields.get("name") or (row.name if row else "")).strip().lower()
    if not SLUG.fullmatch(name):
        raise InvalidInput("Use 1 to 40 lower-case letters, digits and hyphens.", field="name")
    clash = db.session.scalar(select(Verifier).where(Verifier.name == name))
    if clash is not None and clash is not row:
        raise InvalidInput(f"A verifier called {name!r} exists already.", field="name")
    title = str(fields.get("title") or "").strip() or cls.title
    if len(title) > 80:
        raise InvalidInput("Use at most 80 characters.", field="title")
    sender = check_sender(str(fields.get("sender") or "").strip())
    price = _price(fields.get("price_per_segment"))
    currency = str(fields.get("currency") or "EUR").strip().upper()
    if not CURRENCY.fullmatch(currency):
        raise InvalidInput("Use a three-letter currency code such as EUR.", field="currency")
    fallback = _fallback(str(fields.get("fallback") or "").strip() or None, row)
    stored = validate_options(cls.options_form, options, s.secret_box, row.options if row else None)

    if row is None:
        row = Verifier(provider=provider, enabled=False, is_default=False)
        db.session.add(row)
        needs_test = True
    else:
        needs_test = stored != row.options or sender != row.sender
    row.name, row.title, row.sender = name, title, sender
    row.price_per_segment, row.currency, row.options = price, currency, stored
    row.fallback = fallback
    if needs_test:
        row.confirmed_at = None
        row.confirmed_by = None
        row.enabled = False
    db.session.flush()
    return row, needs_test


def set_enabled(row: Verifier, enabled: bool) -> None:
    if enabled and row.confirmed_at is None:
        raise InvalidInput(
            "Send a test code through this verifier and type it back before enabling it.",
            field="enabled",
        )
    if enabled and state.current().registry.sms_provider(row.provider) is None:
        raise InvalidInput(f"The provider {row.provider!r} is not loaded.", field="enabled")
    row.enabled = enabled


def set_default(row: Verifier | None) -> None:
    """Make *row* the default verifier (None: no default). At most one is, by a unique index."""
    db.session.execute(
        update(Verifier)
        .where(Verifier.is_default.is_(True))
        .values(is_default=False)
        .execution_options(synchronize_session="fetch")
    )
    db.session.flush()
    if row is not None:
        row.is_default = True
        db.session.flush()


def delete(row: Verifier) -> None:
    # What ON DELETE SET NULL does on PostgreSQL, done here too because SQLite does not
    # enforce foreign keys: a later verifier may get this id, and must not inherit the log.
    db.session.execute(
        update(SmsLogEntry)
        .where(SmsLogEntry.verifier_id == row.id)
        .values(verifier_id=None)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(Verifier)
        .where(Verifier.fallback_id == row.id)
        .values(fallback_id=None)
        .execution_options(synchronize_session="fetch")
    )
    db.session.delete(row)
    db.session.flush()
