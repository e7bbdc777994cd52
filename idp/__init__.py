"""Poort: a phone-first identity provider."""

from idp.app import create_app

__version__ = "0.1.0"
__all__ = ["__version__", "create_app"]
