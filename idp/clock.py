"""The clock seam: everything that reads the time asks here, so tests can move time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from flask import current_app, has_app_context

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The real time, timezone-aware UTC."""
    return datetime.now(UTC)


def now() -> datetime:
    """The current app's clock, or the system clock outside an app."""
    if has_app_context():
        state = current_app.extensions.get("idp")
        if state is not None:
            return state.clock()
    return system_clock()
