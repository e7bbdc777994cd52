"""Browser hardening: the security headers every response carries.

One ``after_request`` hook adds them, so no view can forget them. A view that sets one of these
headers itself (its own ``Content-Security-Policy``, its own ``Cache-Control``) keeps its own.

- ``Content-Security-Policy`` allows scripts, styles and images from Poort itself only: no
  inline script, no inline style, no plugins, no ``<base>``, and no framing by any site
  (clickjacking, RFC 9700 section 4.16). Images may also be ``data:`` URIs and https URLs,
  because the login page shows the logo a relying application registered.
  There is no ``form-action``: Chromium applies it to the redirect that follows a login POST,
  and that redirect goes to the relying application's origin.
- ``Cache-Control: no-store`` on every response that does not choose its own caching: pages
  carry form tokens, codes, secrets and tokens. Static files and the public OpenID documents
  (discovery and JWKS) may be cached for a few minutes.
- ``Strict-Transport-Security`` on https responses, for ``hsts_seconds``.
"""

from __future__ import annotations

from flask import Flask, Response, request

from idp import state

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # data: for QR codes and icons; https: for the logos of relying applications, which
        # the login page shows from wherever the admin said they are.
        "img-src 'self' data: https:",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)

HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "X-Content-Type-Options": "nosniff",
    # Not no-referrer: with no-referrer, browsers send ``Origin: null`` on same-origin form
    # POSTs, and idp.security.origin refuses those as cross-site. same-origin still sends no
    # Referer (with its codes and states in the query) to any other site.
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}

#: What may be cached, and for how long: public documents that hold no secret.
PUBLIC_CACHE = "public, max-age=300"
#: Endpoints whose successful answers are public: OpenID discovery and the signing keys.
PUBLIC_ENDPOINTS = frozenset({"oidc.discovery", "oidc.jwks"})


def _is_static(endpoint: str) -> bool:
    """Flask's static files, the app's own or a blueprint's."""
    return endpoint == "static" or endpoint.endswith(".static")


def _cache_control(response: Response, endpoint: str) -> None:
    if (
        _is_static(endpoint)
        and response.status_code in (200, 304)
        and response.cache_control.no_cache
    ):
        # Flask sends static files with "no-cache" unless SEND_FILE_MAX_AGE_DEFAULT says
        # otherwise; that setting would also make every other send_file public, so the
        # static files get their short cache here instead.
        response.headers["Cache-Control"] = PUBLIC_CACHE
        return
    if "Cache-Control" in response.headers:
        return
    if endpoint in PUBLIC_ENDPOINTS and response.status_code == 200:
        response.headers["Cache-Control"] = PUBLIC_CACHE
    else:
        response.headers["Cache-Control"] = "no-store"


def add_security_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    hsts_seconds = state.current().settings.hsts_seconds
    if request.is_secure and hsts_seconds > 0:
        response.headers.setdefault(
            "Strict-Transport-Security", f"max-age={hsts_seconds}; includeSubDomains"
        )
    _cache_control(response, request.endpoint or "")
    return response


def init_app(app: Flask) -> None:
    app.after_request(add_security_headers)
