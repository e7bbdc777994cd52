"""Browser hardening: security headers on every response, caching, and templates that keep
working under the Content-Security-Policy (no inline script, no inline style)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from idp.security.headers import CONTENT_SECURITY_POLICY
from tests.conftest import password_login
from tests.oidc.support import Rp, make_client

CHECKOUT = Path(__file__).resolve().parents[2]
TEMPLATE_DIRS = [CHECKOUT / "templates", *sorted((CHECKOUT / "plugins").glob("*/templates"))]

HTTP = "http://localhost"
HTTPS = "https://localhost"


def assert_hardened(response: Any) -> None:
    headers = response.headers
    csp = headers["Content-Security-Policy"]
    assert csp == CONTENT_SECURITY_POLICY
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "data:" in directives["img-src"].split()
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    # Chromium applies form-action to the redirect after a login POST, to the app's origin.
    assert "form-action" not in directives
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    # Not no-referrer: that makes browsers send "Origin: null", which the CSRF check refuses.
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"


def assert_not_stored(response: Any) -> None:
    assert "no-store" in response.headers["Cache-Control"]


def assert_cacheable(response: Any) -> None:
    cache = response.cache_control
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert cache.public and cache.max_age == 300 and not cache.no_store


# -- the headers, on every kind of response ---------------------------------------------------


def test_the_login_page_is_hardened_and_not_stored(client, make_authenticator):
    make_authenticator()
    response = client.get("/login")

    assert response.status_code == 200
    assert 'name="csrf_token"' in response.get_data(as_text=True)
    assert_hardened(response)
    assert_not_stored(response)


def test_an_error_page_is_hardened(client):
    response = client.get("/no-such-page")

    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert_hardened(response)
    assert_not_stored(response)


def test_a_json_error_is_hardened(client):
    response = client.get("/no-such-page", headers={"Accept": "application/json"})

    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"
    assert_hardened(response)
    assert_not_stored(response)


def test_a_refused_form_is_hardened(client):
    response = client.post("/login/password", data={"login": "x", "password": "y"})

    assert response.status_code == 400  # no CSRF token
    assert_hardened(response)
    assert_not_stored(response)


def test_an_admin_page_is_hardened_and_not_stored(admin_client):
    response = admin_client.get("/admin/")

    assert response.status_code == 200
    assert 'name="csrf_token"' in response.get_data(as_text=True)
    assert_hardened(response)
    assert_not_stored(response)


def test_a_redirect_is_hardened_and_not_stored(client):
    response = client.get("/admin/")

    assert response.status_code in (302, 303)
    assert_hardened(response)
    assert_not_stored(response)


@pytest.fixture
def rp(app, admin_client) -> Rp:
    client_id, secret = make_client(app)
    return Rp(admin_client, client_id, secret)


def test_the_redirect_carrying_a_code_is_not_stored(rp):
    response = rp.authorize()

    assert rp.code(response)
    assert_hardened(response)
    assert_not_stored(response)


def test_the_token_endpoint_answer_is_hardened_and_not_stored(rp):
    response = rp.exchange(rp.code(rp.authorize()))

    assert response.status_code == 200
    assert "access_token" in response.get_json()
    assert_hardened(response)
    assert_not_stored(response)


def test_a_token_endpoint_error_is_not_stored(rp):
    response = rp.exchange("not-a-code")

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"
    assert_hardened(response)
    assert_not_stored(response)


def test_the_session_cookie_keeps_its_flags_beside_the_headers(client, admin):
    response = password_login(client, "root")

    cookie = next(
        h for h in response.headers.getlist("Set-Cookie") if h.startswith("__Host-poort_session=")
    )
    flags = {part.strip().split("=")[0].lower(): part for part in cookie.split(";")[1:]}
    assert {"secure", "httponly", "samesite", "path"} <= set(flags)
    assert flags["samesite"].strip() == "SameSite=Lax"
    assert flags["path"].strip() == "Path=/"
    assert_hardened(response)
    assert_not_stored(response)


# -- a view's own choice wins -----------------------------------------------------------------


def test_headers_a_view_sets_itself_are_kept(app):
    @app.get("/own-headers")
    def own_headers() -> Any:
        return (
            "ok",
            200,
            {
                "Content-Security-Policy": "default-src 'none'",
                "Cache-Control": "private, max-age=60",
                "Referrer-Policy": "no-referrer",
            },
        )

    response = app.test_client().get("/own-headers")

    assert response.headers["Content-Security-Policy"] == "default-src 'none'"
    assert response.headers["Cache-Control"] == "private, max-age=60"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"


# -- HSTS -------------------------------------------------------------------------------------


def test_hsts_on_https(client):
    response = client.get("/login", base_url=HTTPS)

    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_no_hsts_over_plain_http(client):
    response = client.get("/login", base_url=HTTP)

    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response.headers
    assert_hardened(response)


class TestHstsSetting:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "hsts_seconds": 600}

    def test_hsts_uses_the_configured_max_age(self, client):
        response = client.get("/login", base_url=HTTPS)

        assert response.headers["Strict-Transport-Security"] == "max-age=600; includeSubDomains"


class TestHstsOff:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "hsts_seconds": 0}

    def test_zero_sends_no_hsts_even_on_https(self, client):
        response = client.get("/login", base_url=HTTPS)

        assert response.status_code == 200
        assert "Strict-Transport-Security" not in response.headers
        assert_hardened(response)


# -- what may be cached -----------------------------------------------------------------------


def test_the_stylesheet_is_cacheable(client):
    response = client.get("/static/poort.css")
    try:
        assert response.status_code == 200
        assert_cacheable(response)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        etag = response.headers["ETag"]
    finally:
        response.close()

    again = client.get("/static/poort.css", headers={"If-None-Match": etag})
    try:
        assert again.status_code == 304
        assert_cacheable(again)
    finally:
        again.close()


def test_a_missing_static_file_is_not_cached(client):
    response = client.get("/static/no-such-file.css")

    assert response.status_code == 404
    assert_not_stored(response)


@pytest.mark.parametrize("path", ["/.well-known/openid-configuration", "/oauth/jwks"])
def test_discovery_and_jwks_are_cacheable(client, path):
    response = client.get(path)

    assert response.status_code == 200
    assert_cacheable(response)
    assert_hardened(response)


# -- templates that work under the policy -----------------------------------------------------

#: (what is wrong, pattern): each would be blocked by the Content-Security-Policy.
FORBIDDEN = [
    (
        "inline <script> (put the script in static/ and load it with src=)",
        r"<script\b(?![^>]*\ssrc\s*=)[^>]*>",
    ),
    ("<style> element (use classes in static/poort.css)", r"<style\b"),
    ("style= attribute (use classes in static/poort.css)", r"<[a-zA-Z][^>]*?\sstyle\s*="),
    ("on* event handler attribute", r"<[a-zA-Z][^>]*?\son[a-z]+\s*="),
    ("javascript: URL", r"javascript:"),
]


def _template_files() -> list[Path]:
    files = sorted(path for d in TEMPLATE_DIRS for path in d.rglob("*.html"))
    assert len(files) > 20, TEMPLATE_DIRS  # the scan must not pass by finding nothing
    return files


def _problems(text: str) -> list[tuple[int, str]]:
    text = re.sub(r"\{#.*?#\}", lambda m: "\n" * m.group().count("\n"), text, flags=re.S)
    found = []
    for what, pattern in FORBIDDEN:
        for match in re.finditer(pattern, text, flags=re.I | re.S):
            found.append((text.count("\n", 0, match.start()) + 1, what))
    return sorted(found)


def test_no_template_has_inline_script_style_or_handlers():
    problems = [
        f"{path.relative_to(CHECKOUT)}:{line}: {what}"
        for path in _template_files()
        for line, what in _problems(path.read_text(encoding="utf-8"))
    ]

    assert not problems, "blocked by the Content-Security-Policy:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "markup",
    [
        "<script>alert(1)</script>",
        '<p>\n<a href="/" onclick="go()">x</a>',
        '<h2 class="x" style="margin:0">',
        "<style>p{}</style>",
        '<a href="javascript:go()">',
    ],
)
def test_the_template_scan_catches(markup):
    assert _problems(markup)


@pytest.mark.parametrize(
    "markup",
    [
        '<script src="/static/app.js"></script>',
        '<p class="stylish">one stone</p>',
        "<p>Turn on = off</p>",
        '{# <p style="x"> #}',
    ],
)
def test_the_template_scan_lets_pass(markup):
    assert not _problems(markup)


def test_the_totp_qr_code_is_inline_svg_without_style_or_script():
    from idp_totp import qr_svg

    svg = str(qr_svg("otpauth://totp/Poort:alice?secret=JBSWY3DPEHPK3PXP&issuer=Poort"))

    assert svg.startswith("<svg")
    assert not _problems(svg)
