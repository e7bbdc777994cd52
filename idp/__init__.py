"""Poort: a phone-first identity provider.

Importing ``idp`` (or any light module such as ``idp.clock``) builds nothing: ``create_app`` is
looked up from :mod:`idp.app` on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from idp.app import create_app

__version__ = "0.1.0"
__all__ = ["__version__", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from idp.app import create_app

        return create_app
    raise AttributeError(f"module 'idp' has no attribute {name!r}")
