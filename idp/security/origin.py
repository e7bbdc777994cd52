"""A second CSRF defence beside the form token: refuse state changes sent from other sites.

Browsers send ``Origin`` (and ``Sec-Fetch-Site``) on POST; when either says the form came from
another site, the request is refused before any view runs. Flask-WTF's Referer check is off,
because pages sent with ``Referrer-Policy: no-referrer`` make honest browsers omit it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, request
from flask_babel import lazy_gettext

from idp.errors import Forbidden

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

#: Endpoints other sites may POST to by design (OAuth token, authorization and logout
#: endpoints); they authenticate the caller another way and carry no form token.
CROSS_SITE_ENDPOINTS: set[str] = set()


def allow_cross_site(view: Callable[..., Any]) -> Callable[..., Any]:
    """Let other sites POST to *view*; it must not rely on the browser's session cookie alone."""
    CROSS_SITE_ENDPOINTS.add(f"{view.__module__}.{view.__name__}")
    return view


class CrossSiteRequest(Forbidden):
    """This form was sent from another site; reload the page here and try again."""

    code = "cross_site_request"
    default_message = lazy_gettext(
        "This form was sent from another site; reload the page here and try again."
    )


def check_origin() -> None:
    if request.method in SAFE_METHODS:
        return
    view = current_app.view_functions.get(request.endpoint or "")
    if view is not None and f"{view.__module__}.{view.__name__}" in CROSS_SITE_ENDPOINTS:
        return
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        raise CrossSiteRequest()
    origin = request.headers.get("Origin")
    if origin is None:
        return  # an old client; the form token still protects it
    if origin != request.host_url.rstrip("/"):
        raise CrossSiteRequest()


def init_app(app: Flask) -> None:
    app.config["WTF_CSRF_SSL_STRICT"] = False
    app.before_request(check_origin)
