"""panva's openid-client (v6, npm), the strictest certified OIDC client, against a real Poort
served over https with a throwaway CA (security.md section 5).

The test installs openid-client into a temporary folder with npm (the registry must be
reachable) and runs ``openid_client_rp.mjs`` step by step: discovery, the authorization URL
(PKCE, state, nonce), then, after this test signs in as a browser would, the code exchange with
every check the library makes, userinfo, refresh with rotation, and the end-session URL.
Negative controls (a wrong ``iss``, a missing ``iss``, a wrong state, a nonce the client did not
expect) must make the library fail, which proves its checks are live. Skipped only when node is
not installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit, urlunsplit

import pyotp
import pytest
import requests

from idp.auth import credentials
from idp.clock import system_clock
from idp.extensions import db
from idp.models import User
from idp.plugins import Registry, from_classes
from idp_password import PasswordMethod
from idp_totp import TotpMethod
from tests.conftest import PASSWORD
from tests.oidc.live import LiveServer, make_tls
from tests.oidc.support import make_client

SCRIPT = Path(__file__).with_name("openid_client_rp.mjs")
REDIRECT = "https://rp.example/cb"
LOGOUT = "https://rp.example/bye"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
NODE = shutil.which("node")
NPM = shutil.which("npm")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(NODE is None, reason="node is not installed: openid-client cannot run"),
]


@pytest.fixture(scope="session")
def rp_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with openid-client 6 installed from npm and the relying-party script."""
    assert NPM is not None, "node is installed but npm is not"
    folder = tmp_path_factory.mktemp("openid-client")
    (folder / "package.json").write_text('{"name": "poort-rp", "private": true, "type": "module"}')
    done = subprocess.run(
        [NPM, "install", "--no-audit", "--no-fund", "--loglevel=error", "openid-client@6"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"npm install openid-client@6 failed:\n{done.stderr}"
    shutil.copy(SCRIPT, folder / SCRIPT.name)
    return folder


@pytest.fixture
def clock():
    return system_clock


@pytest.fixture
def registry() -> Registry:
    return from_classes(PasswordMethod, TotpMethod)


@pytest.fixture
def tls(tmp_path: Path):
    return make_tls(tmp_path)


@pytest.fixture
def poort_server(tls):
    _, context = tls
    server = LiveServer(ssl_context=context)
    yield server
    server.stop()


@pytest.fixture
def app_config(app_config, poort_server):
    return {**app_config, "issuer": poort_server.url}


class Node:
    def __init__(self, folder: Path, ca_file: Path, settings: dict[str, Any]) -> None:
        self.folder = folder
        self.ca_file = ca_file
        self.settings = settings

    def __call__(self, command: str, **values: Any) -> dict[str, Any]:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", str(self.folder)),
            "NODE_EXTRA_CA_CERTS": str(self.ca_file),
        }
        done = subprocess.run(
            [str(NODE), SCRIPT.name, command, json.dumps({**self.settings, **values})],
            cwd=self.folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def alice(app, make_user, make_authenticator):
    """Alice signs in with her password and an authenticator app."""
    make_authenticator("password")
    make_authenticator("totp", method="totp", title="Authenticator app")
    user = make_user(username="alice", nickname="Alice", phone="+31612345678")
    secret = pyotp.random_base32()
    with app.app_context():
        credential = credentials.begin(db.session.get(User, user.id), "totp", secret, data={})
        credentials.confirm(credential)
        db.session.commit()
    return secret


@pytest.fixture
def node(app, rp_dir, tls, poort_server, alice) -> Node:
    ca_file, _ = tls
    client_id, secret = make_client(
        app,
        name="openid-client",
        require_pkce=True,
        redirect_uris=[REDIRECT],
        post_logout_redirect_uris=[LOGOUT],
    )
    poort_server.start(app)
    return Node(
        rp_dir,
        ca_file,
        {
            "issuer": poort_server.url,
            "client_id": client_id,
            "client_secret": secret,
            "redirect_uri": REDIRECT,
            "scope": "openid profile phone offline_access",
            "post_logout_redirect_uri": LOGOUT,
        },
    )


@pytest.fixture
def browser(tls):
    ca_file, _ = tls
    with requests.Session() as session:
        session.trust_env = False  # else REQUESTS_CA_BUNDLE would override verify
        session.verify = str(ca_file)
        yield session


def _csrf(page: str) -> str:
    match = CSRF.search(page)
    assert match, page
    return match.group(1)


def sign_in(browser: requests.Session, url: str, totp_secret: str) -> str:
    """Follow the authorization URL as a browser, sign in with password and app code, and
    return the URL Poort sends the browser back to (the relying party's callback)."""
    login = browser.get(url)
    assert login.url.endswith("/login"), login.url
    second = browser.post(
        login.url.removesuffix("/login") + "/login/password",
        data={"login": "alice", "password": PASSWORD, "csrf_token": _csrf(login.text)},
    )
    assert second.url.endswith("/login/second"), second.text
    done = browser.post(
        second.url.removesuffix("/login/second") + "/m/totp/totp/verify",
        data={"code": pyotp.TOTP(totp_secret).now(), "csrf_token": _csrf(second.text)},
        allow_redirects=False,
    )
    assert done.status_code == 303, done.text
    back = browser.get(urljoin(done.url, done.headers["Location"]), allow_redirects=False)
    assert back.status_code == 302
    return back.headers["Location"]


def _with_query(url: str, **changes: str | None) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_openid_client_discovers_poort(node):
    result = node("discover")

    assert result == {"issuer": node.settings["issuer"], "supportsPKCE": True}


def test_openid_client_signs_in_refreshes_and_logs_out(app, node, browser, alice):
    started = node("authorize", nonce=True)
    assert started["supportsPKCE"] is True

    callback_url = sign_in(browser, started["url"], alice)
    result = node(
        "callback",
        callback_url=callback_url,
        verifier=started["verifier"],
        state=started["state"],
        nonce=started["nonce"],
    )

    assert "error" not in result, result
    claims = result["claims"]
    with app.app_context():
        subject = db.session.scalar(db.select(User.subject).where(User.username == "alice"))
    assert claims["sub"] == subject and claims["iss"] == node.settings["issuer"]
    assert claims["aud"] == node.settings["client_id"] and claims["nonce"] == started["nonce"]
    assert claims["amr"] == ["pwd", "otp", "mfa"] and claims["acr"] == "aal2"
    assert result["token_type"] == "bearer" and 0 < result["expires_in"] <= 600
    assert result["userinfo"]["sub"] == subject
    assert result["userinfo"]["phone_number"] == "+31612345678"
    assert result["refreshed_rotated"] is True
    assert result["userinfo_after_refresh"]["sub"] == subject
    assert result["replay"] == "invalid_grant"
    # The end-session URL openid-client built: Poort checks the hint and sends the user back.
    out = browser.get(result["end_session_url"], allow_redirects=False)
    assert out.status_code == 302 and out.headers["Location"] == f"{LOGOUT}?state=logout-state"
    again = browser.get(node("authorize", nonce=True)["url"], allow_redirects=False)
    assert again.headers["Location"].endswith("/login")


def test_openid_client_without_nonce_and_with_max_age(node, browser, alice):
    started = node("authorize", nonce=False, max_age=300)

    callback_url = sign_in(browser, started["url"], alice)
    result = node(
        "callback",
        callback_url=callback_url,
        verifier=started["verifier"],
        state=started["state"],
        nonce=None,
        max_age=300,
    )

    assert "error" not in result, result
    assert "nonce" not in result["claims"] and isinstance(result["claims"]["auth_time"], int)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"iss": "https://evil.example"}, "iss"),
        ({"iss": None}, "iss"),
        ({"state": "not-the-state"}, "state"),
    ],
    ids=["wrong-iss", "missing-iss", "wrong-state"],
)
def test_negative_controls_make_openid_client_fail(node, browser, alice, change, expected):
    started = node("authorize", nonce=True)
    callback_url = sign_in(browser, started["url"], alice)

    result = node(
        "callback",
        callback_url=_with_query(callback_url, **change),
        verifier=started["verifier"],
        state=started["state"],
        nonce=started["nonce"],
    )

    assert "error" in result, result
    assert expected in json.dumps(result["error"]).lower(), result


def test_a_nonce_the_client_did_not_send_makes_openid_client_fail(node, browser, alice):
    # The request carried a nonce, but the client is told it sent none: a stray nonce claim.
    started = node("authorize", nonce=True)
    callback_url = sign_in(browser, started["url"], alice)

    result = node(
        "callback",
        callback_url=callback_url,
        verifier=started["verifier"],
        state=started["state"],
        nonce=None,
    )

    assert "error" in result and "nonce" in json.dumps(result["error"]).lower(), result
