"""Helpers for the OpenID Connect tests: a relying party's moves, written once.

``Rp`` plays a registered client against the Flask test client: it builds authorization
requests, follows Poort's redirects, exchanges codes and checks tokens against the JWKS the
way a strict relying party does. ``FakeSms`` and ``FakeOtp`` are tiny auth methods with fixed
codes, so the tests can sign in "by SMS" or "with an authenticator app" without the real
plugins (their own tests cover those).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import Blueprint, redirect
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet
from markupsafe import Markup
from sqlalchemy import select
from wtforms import StringField

from idp.auth import AuthMethod, AuthResult, LoginContext, Role
from idp.extensions import db
from idp.models import User
from idp.options import OptionsForm
from tests.conftest import post_form

ISSUER = "https://localhost"
REDIRECT = "https://rp.example/cb"
LOGOUT = "https://rp.example/bye"
ALL_SCOPES = "openid profile email phone offline_access"
SMS_CODE = "246810"
OTP_CODE = "135791"
PHONE = "+31612345678"


# -- fake auth methods ------------------------------------------------------------------------


class FakeSmsOptions(OptionsForm):
    note = StringField("Note")


class FakeSms(AuthMethod):
    """Phone number plus a fixed code; amr ``sms``. First factor only."""

    name = "fakesms"
    title = "Text message"
    roles = frozenset({Role.FIRST_FACTOR})
    amr = ("sms",)
    options_form = FakeSmsOptions

    def render_login(self, ctx: LoginContext) -> Markup:
        hint = ctx.login_hint or ""
        return Markup(  # noqa: S704 - test markup, the hint is escaped below
            '<form method="post"><input name="phone" value="{}" id="fakesms-phone"></form>'
        ).format(hint)

    def authenticate(self, ctx: LoginContext, form: Mapping[str, str]) -> AuthResult:
        user = db.session.scalar(select(User).where(User.phone == form.get("phone", "")))
        if user is None or form.get("code") != SMS_CODE:
            return AuthResult.failure("Wrong number or code.", field="code")
        return AuthResult.success(user, self.amr)


fake_otp_bp = Blueprint("fake_otp", __name__)


class FakeOtp(AuthMethod):
    """A second factor with a fixed code; amr ``otp``. Every user "has" it."""

    name = "fakeotp"
    title = "Authenticator app"
    roles = frozenset({Role.SECOND_FACTOR})
    amr = ("otp",)
    blueprint = fake_otp_bp

    def render_login(self, ctx: LoginContext) -> Markup:
        return Markup("")

    def can_be_second_factor(self, user: User) -> bool:
        return True

    def render_second_factor(self, ctx: LoginContext, user: User) -> Markup:
        return Markup('<p id="fake-otp">Type the code from your app.</p>')


@fake_otp_bp.post("/<name>/verify")
def _fake_otp_verify(name: str) -> Any:
    from flask import request

    from idp.auth import flow
    from idp.auth.authenticators import get_enabled

    row = get_enabled(name)
    if request.form.get("code") != OTP_CODE:
        return "wrong code", 400
    return redirect(flow.second_factor_done(FakeOtp.amr, row), code=303)


def sms_login(client: FlaskClient, phone: str = PHONE, authenticator: str = "fakesms") -> Any:
    return post_form(client, f"/login/{authenticator}", {"phone": phone, "code": SMS_CODE})


def otp_step(client: FlaskClient, authenticator: str = "fakeotp") -> Any:
    return post_form(
        client, f"/m/fakeotp/{authenticator}/verify", {"code": OTP_CODE}, page="/login/second"
    )


# -- PKCE and URLs ----------------------------------------------------------------------------


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def make_client(app: Any, **fields: Any) -> tuple[str, str | None]:
    """Register a client directly; returns (client_id, secret)."""
    from idp.oidc import clients

    values: dict[str, Any] = {
        "name": "Relying app",
        "redirect_uris": [REDIRECT],
        "post_logout_redirect_uris": [LOGOUT],
        "scopes": ALL_SCOPES,
        "first_party": True,
        "require_pkce": False,
    }
    values.update(fields)
    with app.app_context():
        row, secret = clients.save(None, values)
        db.session.commit()
        return row.client_id, secret


# -- the relying party ------------------------------------------------------------------------


@dataclass
class Tokens:
    response: Any
    body: dict[str, Any]
    id_claims: dict[str, Any] = field(default_factory=dict)
    id_header: dict[str, Any] = field(default_factory=dict)

    @property
    def access_token(self) -> str:
        return str(self.body["access_token"])

    @property
    def refresh_token(self) -> str | None:
        return self.body.get("refresh_token")

    @property
    def id_token(self) -> str:
        return str(self.body["id_token"])


@dataclass
class Rp:
    """A registered relying party driving a browser (the test client) through Poort."""

    browser: FlaskClient
    client_id: str
    secret: str | None
    redirect_uri: str = REDIRECT
    pkce: bool = False
    verifier: str | None = None

    def params(self, **extra: Any) -> dict[str, str]:
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": "openid",
            "state": secrets.token_urlsafe(8),
        }
        if self.pkce:
            self.verifier, challenge = pkce_pair()
            params.update(code_challenge=challenge, code_challenge_method="S256")
        params.update({k: v for k, v in extra.items() if v is not None})
        return params

    def authorize(self, method: str = "GET", **extra: Any) -> Any:
        params = self.params(**extra)
        if method == "POST":
            response = self.browser.post("/oauth/authorize", data=params)
        else:
            response = self.browser.get("/oauth/authorize", query_string=params)
        response.sent = params  # type: ignore[attr-defined]
        return response

    def code(self, response: Any) -> str:
        """The code of a successful authorization response, after checking state and iss."""
        assert response.status_code == 302, response.get_data(as_text=True)
        assert response.location.startswith(self._back()), response.location
        query = query_of(response.location)
        assert "error" not in query, query
        assert query["iss"] == ISSUER
        assert query.get("state") == response.sent.get("state")
        return query["code"]

    def error(self, response: Any) -> dict[str, str]:
        """The error of an authorization response redirected back to the app."""
        assert response.status_code == 302, response.get_data(as_text=True)
        assert response.location.startswith(self._back()), response.location
        query = query_of(response.location)
        assert query["iss"] == ISSUER
        return query

    def _back(self) -> str:
        """How a response to this client's redirect URI starts."""
        return self.redirect_uri + ("&" if "?" in self.redirect_uri else "?")

    def exchange(
        self, code: str, *, auth: str = "basic", verifier: str | None = None, **extra: Any
    ) -> Any:
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri}
        if verifier or self.verifier:
            data["code_verifier"] = verifier or self.verifier  # type: ignore[assignment]
        data.update(extra)
        return self.token_request(data, auth=auth)

    def token_request(self, data: dict[str, Any], *, auth: str = "basic") -> Any:
        if auth == "basic" and self.secret:
            return self.browser.post("/oauth/token", data=data, auth=(self.client_id, self.secret))
        data = {**data, "client_id": self.client_id}
        if auth == "post" and self.secret:
            data["client_secret"] = self.secret
        return self.browser.post("/oauth/token", data=data)

    def tokens(self, response: Any, *, nonce: str | None = None) -> Tokens:
        """Check a token response the way a strict relying party does."""
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.headers["Cache-Control"] == "no-store"
        body = response.get_json()
        assert body["token_type"].lower() == "bearer"
        assert isinstance(body["expires_in"], int) and body["expires_in"] == 600
        tokens = Tokens(response, body)
        if "id_token" in body:
            decoded = jwt.decode(body["id_token"], self.keyset())
            tokens.id_claims, tokens.id_header = dict(decoded.claims), dict(decoded.header)
            claims = tokens.id_claims
            assert claims["iss"] == ISSUER
            assert claims["aud"] == self.client_id
            assert claims["sub"] and isinstance(claims["sub"], str)
            assert claims["exp"] > claims["iat"]
            assert isinstance(claims["auth_time"], int)
            assert claims["acr"] in ("aal1", "aal2")
            assert decoded.header["kid"] and decoded.header["alg"] == "RS256"
            if nonce is None:
                assert "nonce" not in claims
            else:
                assert claims["nonce"] == nonce
        return tokens

    def keyset(self) -> KeySet:
        return KeySet.import_key_set(self.browser.get("/oauth/jwks").get_json())

    def login_flow(self, **extra: Any) -> Tokens:
        """Authorize with an existing session, exchange the code, check the tokens."""
        response = self.authorize(**extra)
        return self.tokens(self.exchange(self.code(response)), nonce=extra.get("nonce"))

    def userinfo(self, token: str, how: str = "get") -> Any:
        if how == "get":
            return self.browser.get("/oauth/userinfo", headers={"Authorization": f"Bearer {token}"})
        if how == "post-header":
            return self.browser.post(
                "/oauth/userinfo", headers={"Authorization": f"Bearer {token}"}
            )
        return self.browser.post("/oauth/userinfo", data={"access_token": token})

    def refresh(self, refresh_token: str, *, auth: str = "basic") -> Any:
        return self.token_request(
            {"grant_type": "refresh_token", "refresh_token": refresh_token}, auth=auth
        )
