"""Choices for select fields that work on every WTForms 3 (3.3 wants SelectChoice objects,
older versions know only ``(value, label)`` tuples)."""

from __future__ import annotations

from typing import Any

try:
    from wtforms.fields.choices import SelectChoice as _Choice
except ImportError:  # pragma: no cover - WTForms < 3.3

    def _Choice(value: str, label: str) -> Any:  # noqa: N802
        return (value, label)


def choices(*pairs: tuple[str, str]) -> list[Any]:
    """``choices(("plain", "None"), ("ssl", "SSL"))`` for a SelectField."""
    return [_Choice(value, label) for value, label in pairs]
