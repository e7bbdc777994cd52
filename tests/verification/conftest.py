"""Fixtures for the verification tests: fake providers registered, verifiers made by save()."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask

from idp.extensions import db
from idp.models import Verifier
from idp.plugins import Registry
from idp.verification import verifiers
from tests.verification.providers import SENT, fake_registry


@pytest.fixture(autouse=True)
def _clear_sent() -> Iterator[None]:
    SENT.clear()
    yield
    SENT.clear()


@pytest.fixture
def registry() -> Registry:
    return fake_registry()


CONFIRMED = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def make_verifier(app: Flask) -> Callable[..., Verifier]:
    """Save a verifier through verifiers.save; by default confirmed and enabled.

    Call inside an app context; the row stays attached to that context's session.
    """

    def make(
        name: str,
        *,
        provider: str = "fake",
        options: dict[str, Any] | None = None,
        sender: str = "Poort",
        price: str = "0.056",
        currency: str = "EUR",
        fallback: str | None = None,
        enabled: bool = True,
        default: bool = False,
    ) -> Verifier:
        row, _ = verifiers.save(
            None,
            {
                "name": name,
                "provider": provider,
                "sender": sender,
                "price_per_segment": price,
                "currency": currency,
                "fallback": fallback,
            },
            options or {},
        )
        if enabled:
            row.confirmed_at = CONFIRMED
            verifiers.set_enabled(row, True)
        if default:
            verifiers.set_default(row)
        db.session.commit()
        return row

    return make
