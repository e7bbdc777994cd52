"""The demo relying application: "Log in with Poort" and a page of verified claims."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from authlib.integrations.flask_client import OAuth
from flask import Flask, abort, redirect, render_template_string, request, session, url_for
from werkzeug.wrappers import Response

CREDENTIALS_FILE = "demo_app.json"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Demo app</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }
a.button, button { display: inline-block; padding: .6rem 1.1rem; background: #2d6a4f; color: #fff;
  border: 0; border-radius: 6px; text-decoration: none; font: inherit; cursor: pointer; }
pre { background: #f4f6f9; padding: 1rem; border-radius: 6px; overflow-x: auto; }
</style></head><body>
<h1>Demo app</h1>
{% if claims %}
<p>You are signed in through Poort. These are the claims of your ID token, checked against
Poort's published keys:</p>
<pre>{{ claims | tojson(indent=2) }}</pre>
{% if userinfo %}<p>And this is what Poort's userinfo endpoint says:</p>
<pre>{{ userinfo | tojson(indent=2) }}</pre>{% endif %}
{% if refreshed %}<p id="refreshed">Tokens refreshed {{ refreshed }} time(s); the refresh token
rotated each time.</p>{% endif %}
<p><a class="button" href="{{ url_for('refresh') }}">Refresh the tokens</a>
<a class="button" href="{{ url_for('logout') }}">Log out</a></p>
{% else %}
<p>This application does not keep passwords. It asks Poort who you are.</p>
<p><a class="button" href="{{ url_for('login') }}">Log in with Poort</a></p>
<p><a href="{{ url_for('login', acr='aal2') }}">Log in with a second factor (acr aal2)</a></p>
{% endif %}
</body></html>"""


def load_credentials(instance_path: Path) -> dict[str, Any]:
    """The client id and secret `poort demo` registered for this app."""
    return json.loads((instance_path / CREDENTIALS_FILE).read_text(encoding="utf-8"))


def create_demo_app(credentials: dict[str, Any]) -> Flask:
    """Build the demo app from the credentials `poort demo` wrote (issuer, id, secret, URL)."""
    app = Flask(__name__)
    app.secret_key = secrets.token_urlsafe(32)
    app.config["SESSION_COOKIE_NAME"] = "demo_app_session"  # not Poort's cookie on 127.0.0.1
    oauth = OAuth(app)
    issuer = credentials["issuer"]
    oauth.register(
        "poort",
        client_id=credentials["client_id"],
        client_secret=credentials["client_secret"],
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={
            "scope": "openid profile email phone offline_access",
            "code_challenge_method": "S256",
        },
    )
    redirect_uri = credentials["redirect_uri"]
    # Tokens stay on the server (a cookie is too small and too exposed for them), by session.
    tokens: dict[str, dict[str, Any]] = {}

    @app.get("/")
    def home() -> str:
        return render_template_string(
            PAGE,
            claims=session.get("claims"),
            userinfo=session.get("userinfo"),
            refreshed=session.get("refreshed", 0),
        )

    @app.get("/login")
    @app.get("/login/<acr>")
    def login(acr: str | None = None) -> Response:
        extra = {"acr_values": acr} if acr else {}
        return oauth.poort.authorize_redirect(redirect_uri, **extra)

    @app.get("/callback")
    def callback() -> Response:
        # RFC 9207: the answer must come from the issuer this app sent the user to.
        if request.args.get("iss") != oauth.poort.load_server_metadata()["issuer"]:
            abort(400, "The authorization response names another issuer.")
        token = oauth.poort.authorize_access_token()
        session["claims"] = dict(token["userinfo"])  # the validated ID token claims
        session["id_token"] = token["id_token"]
        session["userinfo"] = dict(oauth.poort.userinfo(token=token))
        session["sid"] = secrets.token_urlsafe(16)
        tokens[session["sid"]] = {k: v for k, v in token.items() if k != "userinfo"}
        return redirect(url_for("home"))

    @app.get("/refresh")
    def refresh() -> Response:
        """Trade the refresh token for new tokens (Poort rotates the refresh token)."""
        old = tokens.get(session.get("sid", ""))
        if not old or not old.get("refresh_token"):
            return redirect(url_for("home"))
        new = oauth.poort.fetch_access_token(
            grant_type="refresh_token", refresh_token=old["refresh_token"]
        )
        tokens[session["sid"]] = {**old, **new}
        session["userinfo"] = dict(oauth.poort.userinfo(token=new))
        session["refreshed"] = session.get("refreshed", 0) + 1
        return redirect(url_for("home"))

    @app.get("/logout")
    def logout() -> Response:
        id_token = session.pop("id_token", None)
        tokens.pop(session.get("sid", ""), None)
        session.clear()
        metadata = oauth.poort.load_server_metadata()
        query = {"post_logout_redirect_uri": url_for("home", _external=True)}
        if id_token:
            query["id_token_hint"] = id_token
        return redirect(f"{metadata['end_session_endpoint']}?{urlencode(query)}")

    return app
