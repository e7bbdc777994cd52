"""Values read once per request: site settings, the signing key, and the like.

The cache hangs on the request's WSGI environ, so it lives exactly as long as one request
(``flask.g`` would not do: a test or a command holding an app context shares one ``g``
across every request made inside it). Outside a request there is no cache, and callers read
the database each time, as they would without it.
"""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request

_KEY = "poort.request_cache"


def request_cache() -> dict[str, Any] | None:
    """This request's cache, or None outside a request."""
    if not has_request_context():
        return None
    cache: dict[str, Any] = request.environ.setdefault(_KEY, {})
    return cache


def forget(name: str) -> None:
    """Drop *name* from this request's cache (after a write that changes it)."""
    cache = request_cache()
    if cache is not None:
        cache.pop(name, None)
