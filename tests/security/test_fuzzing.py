"""Every public form and endpoint, fuzzed: malformed, oversized and odd-Unicode input gets a
4xx with a message (in the page or in JSON), never a 500.

The public surface comes from the app's url_map: every rule (and method) is either a
:data:`TARGETS` entry, fuzzed by :func:`test_fuzz`, an :data:`ADMIN_TARGETS` entry, fuzzed by
:func:`test_fuzz_admin_forms`, or on :data:`SKIPPED` with the reason. A new endpoint fails
:func:`test_every_endpoint_is_fuzzed_or_skipped` until it is added to one of them.

Each target names the state a browser must be in for the fuzz to reach the view's own checks
(signed in, in the middle of a login, waiting for a texted code, ...). A browser is brought
into a state through the real pages, and every example gets a new browser, from an address of
its own, holding a copy of that browser's server-side session (see :meth:`World.in_state`).
The public targets share one app with its own database (module scope); the admin forms get
the usual per-test app. The strategies and the property live in :mod:`tests.fuzzing`.

Explore without shrinking (faster while fixing many failures at once): register a Hypothesis
profile with ``phases=[Phase.explicit, Phase.generate]`` in a plugin and load it with ``-p``.
"""

from __future__ import annotations

import base64
import itertools
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from secrets import token_urlsafe
from typing import Any
from urllib.parse import quote

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, select

from idp import create_app, site_settings
from idp import state as idp_state
from idp.abuse import limits
from idp.auth import credentials, recovery
from idp.auth.sessions import hash_token
from idp.extensions import db
from idp.models import Authenticator, User, UserSession
from idp.plugins import Registry, from_classes
from idp.verification import delivery_reports, verifiers
from idp_password import PasswordMethod
from idp_sms import SmsMethod
from idp_sms_providers.clickatell import ClickatellProvider
from idp_sms_providers.console import ConsoleProvider
from idp_sms_providers.spryng import SpryngProvider
from idp_sms_providers.vonage import VonageProvider
from idp_totp import TotpMethod
from tests.conftest import PASSWORD, SECRET_KEY
from tests.database import throwaway_postgres
from tests.fakes.clock import FakeClock
from tests.fuzzing import Probe, assert_clear, malformed, probes, send
from tests.oidc.support import LOGOUT, REDIRECT, make_client

FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)

#: Examples served by copies of one set-up browser before a new one is set up.
REUSE = 12
SESSION_COOKIE = "__Host-poort_session"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_RID = re.compile(r'name="rid" value="([^"]+)"')

# -- plausible values: enough to get past the first check of a view ---------------------------

PHONES = (
    "+31612345678",
    "06-12345678",
    "0612345678",
    "+1 202 555 0100",
    "+44 7700 900123",
    "+31 6 1234 5678",
    "+31 (0)6 12345678",
    "+999 1234567890123",
    "+",
    "\uff0b\uff13\uff11\uff16\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18",
    "\u0660\u0666\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668",
)
CODES = (
    "123456",
    "12345",
    "1234567",
    "12345678",
    "123 456",
    "12-34-56",
    "000000",
    "\u0661\u0662\u0663\u0664\u0665\u0666",
    "\uff11\uff12\uff13\uff14\uff15\uff16",
    "\u0967\u0968\u0969\u096a\u096b\u096c",
    "ABCD-EFGH-IJKL-MNOP",
    "abcd efgh ijkl mnop",
)
LOGINS = ("alice", "ALICE", " alice ", "alice@example.org", "\uff41lice", "root", "nobody")
NEXT = (
    "/",
    "/account",
    "//evil.example",
    "/\\evil.example",
    "https://evil.example/",
    "javascript:alert(1)",
    "/account?x=\u202e",
)
SCOPES = (
    "openid",
    "openid profile email phone offline_access",
    "openid openid",
    "profile",
    "openid \u00e9",
    "",
)
JWTS = (
    "a.b.c",
    "eyJhbGciOiJub25lIn0.e30.",
    "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.sig",
    "....",
    "eyJ" + "A" * 3000 + ".e30.x",
)


def authorize_fields(world: World) -> dict[str, Sequence[str]]:
    return {
        "response_type": ("code", "token", "code id_token", "none", ""),
        "client_id": world.client_ids,
        "redirect_uri": (REDIRECT, REDIRECT + "/x", "https://evil.example/cb", "/relative"),
        "scope": SCOPES,
        "state": ("xyz", "\u202e"),
        "nonce": ("n-0S6_WzA2Mj",),
        "code_challenge": ("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "short"),
        "code_challenge_method": ("S256", "plain", "S512"),
        "prompt": ("none", "login", "consent", "select_account", "login none"),
        "max_age": ("0", "60", "-1", "1e3", "99999999999999999999999", "\u0661", "\u00b2"),
        "acr_values": ("urn:poort:acr:mfa", "urn:poort:acr:pwd"),
        "login_hint": ("alice", "+31612345678"),
        "ui_locales": ("nl", "\u00e9\u00e9"),
        "request": JWTS,
        "request_uri": ("https://evil.example/r",),
        "response_mode": ("query", "fragment", "form_post"),
        "id_token_hint": JWTS,
        "claims": ('{"userinfo":{"email":null}}', "{"),
    }


def token_fields(world: World) -> dict[str, Sequence[str]]:
    return {
        "grant_type": (
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "password",
            "urn:ietf:params:oauth:grant-type:device_code",
        ),
        "code": ("abc", "x" * 48),
        "redirect_uri": (REDIRECT,),
        "client_id": world.client_ids,
        "client_secret": world.secrets,
        "code_verifier": ("a" * 43, "short"),
        "refresh_token": ("abc",),
        "scope": SCOPES,
        "client_assertion_type": ("urn:ietf:params:oauth:client-assertion-type:jwt-bearer",),
        "client_assertion": JWTS,
    }


def endpoint_fields(world: World) -> dict[str, Sequence[str]]:
    return {
        "token": ("abc", "x" * 48),
        "token_type_hint": ("access_token", "refresh_token", "id_token", ""),
        "client_id": world.client_ids,
        "client_secret": world.secrets,
    }


def logout_fields(world: World) -> dict[str, Sequence[str]]:
    return {
        "id_token_hint": JWTS,
        "post_logout_redirect_uri": (LOGOUT, "https://evil.example/"),
        "client_id": world.client_ids,
        "state": ("xyz",),
        "logout_hint": ("alice",),
        "ui_locales": ("nl",),
    }


def authorize_base(world: World) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": world.client_ids[0],
        "redirect_uri": REDIRECT,
        "scope": "openid profile",
        "state": "xyz",
        "nonce": "n-1",
    }


def client_base(world: World) -> dict[str, str]:
    """A confidential client authenticating in the body (client_secret_post)."""
    return {"client_id": world.client_ids[0], "client_secret": world.secrets[0]}


def token_base(world: World) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",
        "code": "abc",
        "redirect_uri": REDIRECT,
        **client_base(world),
    }


def endpoint_base(world: World) -> dict[str, str]:
    return {"token": "abc", **client_base(world)}


def logout_base(world: World) -> dict[str, str]:
    return {"client_id": world.client_ids[0], "post_logout_redirect_uri": LOGOUT, "state": "x"}


REPORT_FIELDS: dict[str, Sequence[str]] = {
    # Spryng (GET), Clickatell, Vonage: the fields their callbacks carry.
    "ID": ("abc123",),
    "STATUS": ("10", "20", "x"),
    "REASON": ("0", "99"),
    "REFERENCE": ("ref",),
    "apiKey": ("clickatell-key",),
    "messageId": ("abc123",),
    "statusCode": ("004", "-1", "99999999999999999999"),
    "status": ("delivered", "failed", "DELIVERED_TO_GATEWAY"),
    "clientMessageId": ("ref",),
    "message-id": ("abc123",),
    "client-ref": ("ref",),
    "err-code": ("0", "1"),
    "sig": ("x",),
}


# -- the world: users, authenticators, verifiers and clients of one app ------------------------


def _registry() -> Registry:
    return from_classes(
        PasswordMethod,
        SmsMethod,
        TotpMethod,
        ConsoleProvider,
        SpryngProvider,
        ClickatellProvider,
        VonageProvider,
    )


@pytest.fixture
def registry() -> Registry:
    return _registry()


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "code_resend_seconds": 1}


@dataclass
class World:
    """What one test's app holds, and browsers brought into each state."""

    app: Flask
    clock: Any
    client_ids: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    third_party: str = ""
    report_tokens: tuple[str, ...] = ()
    alice_id: int = 0
    counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    #: state -> [session row id, CSRF token, examples served] of the browser set up last
    templates: dict[str, list[Any]] = field(default_factory=dict)

    def in_state(self, state: str) -> tuple[FlaskClient, str]:
        """A new browser in *state*, and its CSRF token.

        Bringing a browser into a state takes several requests (a login, a texted code), so
        it is done once per :data:`REUSE` examples; each example gets a copy of that
        browser's server-side session under an id of its own, sharing its pending login or
        code the way a second tab would. The set-up browser itself is never fuzzed.
        """
        template = self.templates.get(state)
        if template is None or template[2] >= REUSE:
            setup = self.browser()
            token = STATES[state](self, setup)
            cookie = setup.get_cookie(SESSION_COOKIE)
            assert cookie is not None, f"no session in state {state}"
            with self.app.app_context():
                row_id = db.session.scalar(
                    select(UserSession.id).where(UserSession.token_hash == hash_token(cookie.value))
                )
            template = self.templates[state] = [row_id, token, 0]
        template[2] += 1
        session_id = token_urlsafe(32)
        with self.app.app_context():
            row = db.session.get(UserSession, template[0])
            assert row is not None
            now = self.clock()
            db.session.add(
                UserSession(
                    token_hash=hash_token(session_id),
                    user_id=row.user_id,
                    data=dict(row.data or {}),
                    auth_time=row.auth_time,
                    amr=row.amr,
                    created_at=now,
                    last_seen_at=now,
                )
            )
            db.session.commit()
        client = self.browser()
        client.set_cookie(SESSION_COOKIE, session_id)
        return client, template[1]

    # -- helpers --------------------------------------------------------------------------

    def browser(self) -> FlaskClient:
        """A new browser, from its own address (so no per-address limit links examples)."""
        n = next(self.counter)
        client = self.app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
        return client

    def phone(self) -> str:
        """A mobile number no other example used."""
        return f"+3161{next(self.counter):07d}"

    @staticmethod
    def token(client: FlaskClient, path: str) -> str:
        page = client.get(path)
        match = _CSRF.search(page.get_data(as_text=True))
        assert match, f"no CSRF token on {path} ({page.status_code})"
        return match.group(1)

    def post(self, client: FlaskClient, path: str, token: str, **data: str) -> Any:
        return client.post(path, data={"csrf_token": token, **data})

    def login(self, client: FlaskClient, login: str) -> Any:
        response = self.post(
            client, "/login/password", self.token(client, "/login"), login=login, password=PASSWORD
        )
        assert response.status_code == 303, response.get_data(as_text=True)
        return response

    def second_factor_user(self) -> str:
        """A new user with a password, a verified phone, an authenticator app and recovery
        codes: a password login leaves them at the second step. Returns the username."""
        n = next(self.counter)
        user = _user(
            self.app,
            username=f"bob{n}",
            email=f"bob{n}@example.org",
            phone=self.phone(),
            phone_verified_at=self.clock(),
        )
        with self.app.app_context():
            row = db.session.get(User, user.id)
            credential = credentials.begin(row, "totp", pyotp.random_base32(), data={"digits": 6})
            credentials.confirm(credential)
            recovery.regenerate(row)
            db.session.commit()
        return str(user.username)


#: Limits that 0 switches off (or, for the verified share of a prefix, never trips).
NO_LIMIT = {
    "number_cooldown_seconds",
    "human_check_after",
    "global_cost_per_hour",
    "global_cost_per_day",
    "prefix_min_verified_percent",
}


def _user(app: Flask, **values: Any) -> User:
    """A user with the password PASSWORD."""
    with app.app_context():
        user = User(nickname=values.get("username", "User"), **values)
        user.password_hash = idp_state.current().passwords.hash(PASSWORD)
        db.session.add(user)
        db.session.commit()
        db.session.refresh(user)
        db.session.expunge(user)
        return user


def _world(app: Flask, clock: Any) -> World:
    """Password, SMS (console verifier) and authenticator-app sign-in, users, OIDC clients and
    verifiers whose providers report delivery."""
    sms_options = {
        "verifier": "",
        "use_for": "both",
        "allow_signup": True,
        "unknown_numbers": "silent",
        "countries": "",
    }
    with app.app_context():
        for position, (name, title, options) in enumerate(
            (("password", "Password", {}), ("sms", "Text message", sms_options),
             ("totp", "Authenticator app", {})),
        ):  # fmt: skip
            db.session.add(
                Authenticator(
                    name=name,
                    method=name,
                    title=title,
                    enabled=True,
                    position=position,
                    options=options,
                )
            )
        db.session.commit()
    alice = _user(app, username="alice", email="alice@example.org")
    _user(app, username="carol", email="carol@example.org")
    _user(app, username="root", email="root@example.org", is_admin=True)
    first_party, secret = make_client(app)
    third_party, third_secret = make_client(app, name="Third party", first_party=False)
    public, _ = make_client(app, name="Public", public=True, require_pkce=True)
    tokens = []
    with app.app_context():
        row, _ = verifiers.save(
            None, {"name": "console", "provider": "console", "sender": "Poort"}, {}
        )
        row.confirmed_at = clock()
        verifiers.set_enabled(row, True)
        verifiers.set_default(row)
        for name, options in (
            (
                "spryng",
                {
                    "endpoint": "https://127.0.0.1:9/api/send.php",
                    "username": "user",
                    "password": "secret",
                },
            ),
            ("clickatell", {"endpoint": "https://127.0.0.1:9", "api_key": "clickatell-key"}),
            ("vonage", {"endpoint": "https://127.0.0.1:9", "api_key": "key", "api_secret": "s"}),
        ):
            row, _ = verifiers.save(
                None, {"name": name, "provider": name, "sender": "Poort"}, options
            )
            tokens.append(delivery_reports.ensure_token(row))
        # Limits and fraud signals are tested in tests/abuse; here the fuzz must get as far as
        # the views' own checks, with many codes texted from few addresses.
        relaxed, errors = limits.parse(
            {name: 0 if name in NO_LIMIT else limit.high for name, limit in limits.LIMITS.items()}
        )
        assert not errors, errors
        limits.save(relaxed)
        db.session.commit()
    return World(
        app,
        clock,
        client_ids=(first_party, third_party, public, "unknown-client"),
        secrets=tuple(s for s in (secret, third_secret, "wrong") if s),
        third_party=third_party,
        report_tokens=tuple(tokens),
        alice_id=alice.id,
    )


def _no_sync(connection: Any, _: Any) -> None:
    connection.execute("PRAGMA synchronous = OFF")


@pytest.fixture(scope="module")
def world(postgres_url: str | None, tmp_path_factory, fernet_key: str) -> Iterator[World]:
    """One app for every public target, in a database of its own: set up once, since most
    targets need the same users and states (the admin test, which changes settings, gets the
    usual app of its own)."""
    folder = tmp_path_factory.mktemp("fuzzing")
    with ExitStack() as stack:
        url = (
            stack.enter_context(throwaway_postgres(postgres_url))
            if postgres_url
            else f"sqlite:///{folder / 'poort.sqlite3'}"
        )
        clock = FakeClock()
        app = create_app(
            {
                "instance_path": str(folder / "instance"),
                "secret_key": SECRET_KEY,
                "secret_keys": [fernet_key],
                "database_url": url,
                "password_hash_profile": "cheapest",
                "issuer": "https://localhost",
                "code_resend_seconds": 1,
            },
            registry=_registry(),
            clock=clock,
        )
        app.config["TESTING"] = True
        with app.app_context():
            if not postgres_url:  # a throwaway file: no need to wait for the disk at commits
                event.listen(db.engine, "connect", _no_sync)
            db.create_all()
        yield _world(app, clock)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


# -- the states a browser is brought into -------------------------------------------------------


def policy(w: World, value: str) -> None:
    """The second-factor policy a state needs (an earlier example may have changed it)."""
    with w.app.app_context():
        site_settings.put("second_factor_policy", value)
        db.session.commit()


def anonymous(w: World, c: FlaskClient) -> str:
    return w.token(c, "/login")


def signed_in(w: World, c: FlaskClient) -> str:
    policy(w, "optional")
    w.login(c, "alice")
    return w.token(c, "/account")


def fresh(w: World, c: FlaskClient) -> str:
    """Signed in and just confirmed it's them (may change how they sign in)."""
    token = signed_in(w, c)
    confirmed = w.post(c, "/account/confirm", token, **{"with": "password", "password": PASSWORD})
    assert confirmed.status_code == 303, confirmed.get_data(as_text=True)
    return token


def second(w: World, c: FlaskClient) -> str:
    """Past the password, at the second step."""
    policy(w, "optional")
    response = w.login(c, w.second_factor_user())
    assert response.headers["Location"] == "/login/second"
    return w.token(c, "/login/second")


def sms_second(w: World, c: FlaskClient) -> str:
    """At the second step, with a code texted."""
    token = second(w, c)
    sent = w.post(c, "/m/sms/sms/second", token)
    assert sent.status_code == 303, sent.get_data(as_text=True)
    return token


def sms_login(w: World, c: FlaskClient) -> str:
    """Signing in by text message, with a code sent to a new number."""
    token = anonymous(w, c)
    sent = w.post(c, "/m/sms/sms/login", token, phone=w.phone())
    assert sent.status_code == 303, sent.get_data(as_text=True)
    return token


def sms_phone(w: World, c: FlaskClient) -> str:
    """Signed in, adding a phone number, with a code sent to it."""
    token = fresh(w, c)
    sent = w.post(c, "/m/sms/sms/phone", token, phone=w.phone())
    assert sent.status_code == 303, sent.get_data(as_text=True)
    return token


def enrol(w: World, c: FlaskClient) -> str:
    """Past the password, made to set up a second factor (the policy wants one for everyone)."""
    policy(w, "everyone")
    response = w.login(c, "carol")
    assert response.headers["Location"] == "/login/enrol"
    return w.token(c, "/login/enrol")


def consent(w: World, c: FlaskClient) -> str:
    """Signed in, on the consent page of a third-party application."""
    token = signed_in(w, c)
    page = c.get(
        "/oauth/authorize",
        query_string={
            "response_type": "code",
            "client_id": w.third_party,
            "redirect_uri": REDIRECT,
            "scope": "openid email",
            "prompt": "consent",  # asked even if a fuzzed request managed to consent before
        },
    )
    assert _RID.search(page.get_data(as_text=True)), page.get_data(as_text=True)
    return token


def admin(w: World, c: FlaskClient) -> str:
    """Signed in as an admin."""
    policy(w, "optional")
    w.login(c, "root")
    return w.token(c, "/admin/policy")


STATES: dict[str, Callable[[World, FlaskClient], str]] = {
    f.__name__: f
    for f in (
        anonymous,
        signed_in,
        fresh,
        second,
        sms_second,
        sms_login,
        sms_phone,
        enrol,
        consent,
        admin,
    )
}


# -- the targets ------------------------------------------------------------------------------

Fields = dict[str, Sequence[str]] | Callable[[World], dict[str, Sequence[str]]]


@dataclass(frozen=True)
class Target:
    """One rule and method of the url_map, and how to reach its view."""

    endpoint: str
    method: str
    rule: str
    states: tuple[str, ...] = ("anonymous",)
    fields: Fields = field(default_factory=dict)
    #: Plausible values of the rule's path arguments (a fuzzed segment is tried as well).
    args: dict[str, Sequence[str] | Callable[[World], Sequence[str]]] = field(default_factory=dict)
    examples: int = 25
    #: A request the view accepts, which the fuzz mostly changes in a few fields.
    base: dict[str, str] | Callable[[World], dict[str, str]] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.endpoint}-{self.method}"

    def fields_for(self, w: World) -> dict[str, Sequence[str]]:
        return self.fields(w) if callable(self.fields) else self.fields

    def base_for(self, w: World) -> dict[str, str]:
        return self.base(w) if callable(self.base) else self.base

    def args_for(self, w: World) -> dict[str, Sequence[str]]:
        return {k: (v(w) if callable(v) else v) for k, v in self.args.items()}


SMS = {"name": ("sms", "password", "totp", "SMS")}
TOTP = {"name": ("totp", "sms")}
CODE = {"code": CODES}
PHONE = {"phone": PHONES}


def T(endpoint: str, method: str, rule: str, *states: str, **kw: Any) -> Target:  # noqa: N802
    return Target(endpoint, method, rule, tuple(states) or ("anonymous",), **kw)


TARGETS: tuple[Target, ...] = (
    # the login page, the method-neutral submit, the login flow
    T("auth.home", "GET", "/", "anonymous", "signed_in"),
    T("auth.login", "GET", "/login", fields={"next": NEXT}),
    T(
        "auth.submit",
        "POST",
        "/login/<name>",
        examples=30,
        fields={"login": LOGINS, "password": (PASSWORD, "x"), "phone": PHONES},
        base={"login": "alice", "password": PASSWORD},
        args={"name": ("password", "sms", "totp", "nope")},
    ),
    T("auth.cancel", "POST", "/login/cancel", "anonymous", "second"),
    T("auth.logout", "POST", "/logout", "anonymous", "signed_in"),
    T("auth.second_factor", "GET", "/login/second", "second", "anonymous"),
    T("auth.enrol", "GET", "/login/enrol", "enrol", "anonymous"),
    T("auth.recovery_code", "GET", "/login/recovery", "second", "anonymous"),
    T("auth.recovery_code", "POST", "/login/recovery", "second", fields=CODE),
    # SMS: sign in or up with a number
    T("idp_sms.login_start", "POST", "/m/sms/<name>/login", fields=PHONE, args=SMS, examples=30),
    T("idp_sms.login_code", "GET", "/m/sms/<name>/login/code", "sms_login", "anonymous", args=SMS),
    T(
        "idp_sms.login_code",
        "POST",
        "/m/sms/<name>/login/code",
        "sms_login",
        fields=CODE,
        args=SMS,
        examples=30,
    ),
    T("idp_sms.login_resend", "POST", "/m/sms/<name>/login/resend", "sms_login", args=SMS),
    T("idp_sms.login_restart", "POST", "/m/sms/<name>/login/restart", "sms_login", args=SMS),
    # SMS: add or change the phone number (signed in, or forced enrolment in a login)
    T("idp_sms.phone", "GET", "/m/sms/<name>/phone", "fresh", "enrol", "signed_in", args=SMS),
    T(
        "idp_sms.phone",
        "POST",
        "/m/sms/<name>/phone",
        "fresh",
        "enrol",
        fields=PHONE,
        args=SMS,
        examples=30,
    ),
    T("idp_sms.phone_code", "GET", "/m/sms/<name>/phone/code", "sms_phone", args=SMS),
    T("idp_sms.phone_code", "POST", "/m/sms/<name>/phone/code", "sms_phone", fields=CODE, args=SMS),
    T("idp_sms.phone_resend", "POST", "/m/sms/<name>/phone/resend", "sms_phone", args=SMS),
    T("idp_sms.phone_restart", "POST", "/m/sms/<name>/phone/restart", "sms_phone", args=SMS),
    # SMS as the second factor
    T("idp_sms.second_send", "POST", "/m/sms/<name>/second", "second", "anonymous", args=SMS),
    T("idp_sms.second_code", "GET", "/m/sms/<name>/second/code", "sms_second", args=SMS),
    T(
        "idp_sms.second_code",
        "POST",
        "/m/sms/<name>/second/code",
        "sms_second",
        fields=CODE,
        args=SMS,
    ),
    T("idp_sms.second_resend", "POST", "/m/sms/<name>/second/resend", "sms_second", args=SMS),
    # authenticator app
    T("idp_totp.enrol", "GET", "/m/totp/<name>/enrol", "fresh", "enrol", args=TOTP),
    T("idp_totp.enrol", "POST", "/m/totp/<name>/enrol", "fresh", "enrol", fields=CODE, args=TOTP),
    T(
        "idp_totp.verify",
        "POST",
        "/m/totp/<name>/verify",
        "second",
        fields=CODE,
        args=TOTP,
        examples=30,
    ),
    T("idp_totp.remove", "POST", "/m/totp/<name>/remove", "signed_in", "fresh", args=TOTP),
    # OpenID Connect
    T("oidc.discovery", "GET", "/.well-known/openid-configuration"),
    T("oidc.jwks", "GET", "/oauth/jwks"),
    T(
        "oidc.authorize",
        "GET",
        "/oauth/authorize",
        "anonymous",
        "signed_in",
        fields=authorize_fields,
        base=authorize_base,
        examples=40,
    ),
    T(
        "oidc.authorize",
        "POST",
        "/oauth/authorize",
        "anonymous",
        "signed_in",
        fields=authorize_fields,
        base=authorize_base,
        examples=30,
    ),
    T("oidc.resume", "GET", "/oauth/authorize/resume", "consent", "anonymous"),
    T(
        "oidc.consent",
        "POST",
        "/oauth/authorize/consent",
        "consent",
        fields={"rid": ("x",), "decision": ("allow", "deny", "")},
    ),
    T("oidc.token", "POST", "/oauth/token", fields=token_fields, base=token_base, examples=40),
    T("oidc.userinfo", "GET", "/oauth/userinfo", fields={"access_token": ("abc",)}),
    T("oidc.userinfo", "POST", "/oauth/userinfo", fields={"access_token": ("abc",)}),
    T(
        "oidc.revoke",
        "POST",
        "/oauth/revoke",
        fields=endpoint_fields,
        base=endpoint_base,
        examples=30,
    ),
    T(
        "oidc.introspect",
        "POST",
        "/oauth/introspect",
        fields=endpoint_fields,
        base=endpoint_base,
        examples=30,
    ),
    T(
        "oidc.end_session",
        "GET",
        "/oauth/logout",
        "anonymous",
        "signed_in",
        fields=logout_fields,
        base=logout_base,
        examples=30,
    ),
    T("oidc.end_session", "POST", "/oauth/logout", "anonymous", "signed_in", fields=logout_fields),
    T("oidc.end_session_confirm", "POST", "/oauth/logout/confirm", "anonymous", "signed_in"),
    # the account of a signed-in user
    T("account.index", "GET", "/account", "signed_in", "anonymous"),
    T("account.confirm", "GET", "/account/confirm", "signed_in", fields={"next": NEXT}),
    T(
        "account.confirm",
        "POST",
        "/account/confirm",
        "signed_in",
        examples=30,
        fields={
            "with": ("password", "recovery", "totp", ""),
            "password": (PASSWORD, "x"),
            "code": CODES,
            "next": NEXT,
        },
        base={"with": "password", "password": PASSWORD, "next": "/account"},
    ),
    T(
        "account.sign_in_again",
        "POST",
        "/account/confirm/sign-in-again",
        "signed_in",
        fields={"next": NEXT},
    ),
    T("account.recovery_codes", "GET", "/account/recovery-codes", "signed_in"),
    T("account.regenerate_recovery_codes", "POST", "/account/recovery-codes", "signed_in", "fresh"),
    T("account.sign_out_others", "POST", "/account/sessions/sign-out-others", "signed_in"),
    T("oidc.applications", "GET", "/account/applications", "signed_in"),
    T(
        "oidc.revoke_application",
        "POST",
        "/account/applications/<client_id>/revoke",
        "signed_in",
        args={"client_id": lambda w: w.client_ids},
    ),
    # SMS delivery reports from providers
    T(
        "sms_reports.receive",
        "GET",
        "/sms/dlr/<token>",
        fields=REPORT_FIELDS,
        args={"token": lambda w: w.report_tokens},
        examples=30,
    ),
    T(
        "sms_reports.receive",
        "POST",
        "/sms/dlr/<token>",
        fields=REPORT_FIELDS,
        args={"token": lambda w: w.report_tokens},
        examples=30,
    ),
    # probes of load balancers and orchestrators
    T("health.healthz", "GET", "/healthz"),
    T("health.readyz", "GET", "/readyz"),
    T("metrics.scrape", "GET", "/metrics"),
    # the language switch in every page's footer, and the brand's stylesheet
    T(
        "i18n.choose",
        "POST",
        "/language",
        "anonymous",
        "signed_in",
        fields={"lang": ("nl", "en", "xx", "NL", "nl-BE"), "next": NEXT},
    ),
    T("branding.stylesheet", "GET", "/brand.css", fields={"v": ("1", "x")}),
    # static files
    T(
        "static",
        "GET",
        "/static/<path:filename>",
        args={"filename": ("poort.css", "../pyproject.toml", "..%2f..%2fetc/passwd")},
    ),
)

#: Admin pages and forms fuzzed, as an admin, by test_fuzz_admin_forms.
ADMIN_TARGETS: tuple[Target, ...] = (
    T(
        "admin.audit_log",
        "GET",
        "/admin/audit",
        fields={
            "action": ("login.failure",),
            "actor": ("root",),
            "page": ("2", "-1", "0", "1e9", "99999999999999999999999"),
        },
    ),
    T("admin.users", "GET", "/admin/users", fields={"q": ("alice",), "page": ("2", "x")}),
    T(
        "admin.sms_log",
        "GET",
        "/admin/sms-log",
        fields={
            "from": ("2026-01-01", "0001-01-01", "9999-12-31", "2026-02-30"),
            "to": ("2026-01-01", "9999-12-31", "0001-01-01"),
            "verifier": ("console",),
            "status": ("accepted", "x"),
            "purpose": ("login",),
            "recipient": PHONES,
            "rh": ("0" * 64,),
            "page": ("2", "x"),
        },
    ),
    T(
        "admin.sms_log_csv",
        "GET",
        "/admin/sms-log.csv",
        fields={
            "from": ("0001-01-01", "9999-12-31"),
            "to": ("9999-12-31", "0001-01-01"),
            "recipient": PHONES,
        },
    ),
    T(
        "admin.authenticator_new",
        "POST",
        "/admin/authenticators/new",
        fields={
            "method": ("sms", "password", "totp", "nope"),
            "name": ("sms2", "SMS 2"),
            "title": ("Text",),
            "verifier": ("console",),
            "countries": ("BE, DE", "XX"),
            "digits": ("6", "7"),
        },
    ),
    T(
        "admin.client_new",
        "POST",
        "/admin/clients/new",
        fields={
            "name": ("App",),
            "client_type": ("public", "confidential"),
            "redirect_uris": (REDIRECT, "http://x", "javascript:alert(1)\nhttps://a.example/"),
            "post_logout_redirect_uris": (LOGOUT,),
            "scopes": ("openid", "email"),
            "logo_url": ("https://a.example/l.png", "data:x"),
            "first_party": ("on",),
            "require_pkce": ("on",),
        },
    ),
    T(
        "admin.policy_save",
        "POST",
        "/admin/policy",
        fields={"second_factor_policy": ("optional", "off", "nope")},
    ),
    T(
        "admin.sms_template_edit",
        "POST",
        "/admin/sms-templates/<purpose>/<language>",
        fields={"template": ("Your code is {code}.", "{code", "{code} {nope}", "{0.__class__}")},
        args={"purpose": ("login", "nope"), "language": ("en", "nl", "xx")},
    ),
    T(
        "admin.sms_template_budget",
        "POST",
        "/admin/sms-templates/budget",
        fields={"budget": ("1", "0", "-1", "1e9", "x")},
    ),
    T(
        "admin.verifier_new",
        "POST",
        "/admin/verifiers/new",
        fields={
            "provider": ("console", "spryng", "nope"),
            "name": ("v2",),
            "title": ("V",),
            "sender": ("Poort", "+31612345678", "a" * 12),
            "price_per_segment": ("0.07", "-1", "1e400", "NaN", "Infinity"),
            "currency": ("EUR", "\u20ac"),
            "fallback": ("console", "nope"),
            "options-endpoint": ("https://127.0.0.1:9",),
            "options-username": ("u",),
            "options-password": ("p",),
        },
    ),
    T(
        "admin.verifier_test",
        "POST",
        "/admin/verifiers/<name>/test",
        fields=PHONE,
        args={"name": ("console", "nope")},
    ),
    T(
        "admin.verifier_confirm",
        "POST",
        "/admin/verifiers/<name>/confirm",
        fields={"challenge": ("x",), "code": CODES},
        args={"name": ("console", "nope")},
    ),
    T(
        "admin.user_set_active",
        "POST",
        "/admin/users/<int:user_id>/active",
        fields={"active": ("0", "1")},
        args={"user_id": lambda w: (str(w.alice_id), "999999")},
    ),
    T(
        "admin.limit_save",
        "POST",
        "/admin/limits",
        fields={
            "number_per_hour": ("5", "0", "-1", "1e3", "99999999999999999999"),
            "number_per_day": ("10", "1"),
            "failures_before_wait": ("10",),
            "failures_before_recovery": ("100", "5"),
            "global_per_hour": ("100",),
            "global_per_day": ("10",),
        },
    ),
    T(
        "admin.limit_budget",
        "POST",
        "/admin/limits/budget",
        fields={
            "verifier": ("console", "nope", ""),
            "per_hour": ("5", "-1", "x"),
            "per_day": ("10", "99999999999999999999"),
            "cost_per_hour": ("0.5", "1e400", "NaN", "-0"),
            "cost_per_day": ("1", "Infinity"),
        },
    ),
    T("admin.limit_reset", "POST", "/admin/limits/reset", fields={"verifier": ("console", "")}),
    T(
        "admin.limit_destinations",
        "POST",
        "/admin/limits/destinations",
        fields={"countries": ("NL, BE", "XX", "nl;de", "*", "NL\nBE"), "allow_voip": ("1", "0")},
    ),
    T(
        "admin.branding_save",
        "POST",
        "/admin/branding",
        fields={
            "name": ("Poort", "P\u00f6\u00f6rt"),
            "logo_url": ("https://a.example/l.png", "javascript:alert(1)", "data:image/svg+xml,x"),
            "colour": ("#0055aa", "red", "#fff;}body{x:y", "rgb(1,2,3)", "#FFF"),
        },
    ),
)

#: Rules not fuzzed here, each with the reason.
SKIPPED: dict[tuple[str, str], str] = {
    # Admin only, behind the admin guard (tests/admin/test_guard.py); their forms share the
    # validation of the admin forms fuzzed in test_fuzz_admin_forms.
    **{
        (endpoint, method): "admin only"
        for endpoint, method in (
            ("admin.dashboard", "GET"),
            ("admin.plugins", "GET"),
            ("admin.policy", "GET"),
            ("admin.authenticators", "GET"),
            ("admin.authenticator_new", "GET"),
            ("admin.authenticator_edit", "GET"),
            ("admin.authenticator_edit", "POST"),
            ("admin.authenticator_delete", "POST"),
            ("admin.authenticator_set_enabled", "POST"),
            ("admin.authenticator_move", "POST"),
            ("admin.clients", "GET"),
            ("admin.client_new", "GET"),
            ("admin.client_edit", "GET"),
            ("admin.client_edit", "POST"),
            ("admin.client_delete", "POST"),
            ("admin.client_set_enabled", "POST"),
            ("admin.client_reset_secret", "POST"),
            ("admin.sms_templates", "GET"),
            ("admin.sms_template_edit", "GET"),
            ("admin.sms_template_reset", "POST"),
            ("admin.user_detail", "GET"),
            ("admin.user_set_admin", "POST"),
            ("admin.user_revoke_sessions", "POST"),
            ("admin.user_unlock", "POST"),
            ("admin.verifiers", "GET"),
            ("admin.verifier_new", "GET"),
            ("admin.verifier_edit", "GET"),
            ("admin.verifier_edit", "POST"),
            ("admin.verifier_confirm", "GET"),
            ("admin.verifier_set_default", "POST"),
            ("admin.verifier_delete", "POST"),
            ("admin.verifier_set_enabled", "POST"),
            ("admin.verifier_test", "GET"),
            ("admin.limits", "GET"),
            ("admin.branding", "GET"),
            ("admin.branding_reset", "POST"),
            ("admin.limit_lift", "POST"),
        )
    },
}


def _surface(app: Flask) -> set[tuple[str, str, str]]:
    """Every (endpoint, method, rule) of the app, HEAD and OPTIONS aside."""
    return {
        (rule.endpoint, method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }


def test_every_endpoint_is_fuzzed_or_skipped(world):
    surface = _surface(world.app)
    covered = {(t.endpoint, t.method, t.rule) for t in TARGETS + ADMIN_TARGETS}
    skipped = {(e, m, r) for e, m, r in surface if (e, m) in SKIPPED}

    assert surface - covered - skipped == set(), (
        "new endpoints: add them to TARGETS (or ADMIN_TARGETS), or to SKIPPED with a reason"
    )
    assert covered - surface == set(), "targets for rules that no longer exist"
    assert covered & skipped == set(), "both fuzzed and skipped"
    assert {(e, m) for e, m, _ in skipped} == set(SKIPPED), "skipped rules that do not exist"


# -- fuzzing ----------------------------------------------------------------------------------


def _path(rule: str, args: dict[str, str]) -> str:
    return re.sub(r"<(?:[a-z]+:)?(\w+)>", lambda m: args[m.group(1)], rule)


def _arg_values(plausible: Sequence[str]) -> st.SearchStrategy[str]:
    """A path segment: mostly a plausible one, else a fuzzed one (percent-encoded)."""
    quoted = malformed().map(lambda s: quote(s, safe="")[:4000] or "%20")
    if not plausible:
        return quoted
    return st.one_of(st.sampled_from(list(plausible)), st.sampled_from(list(plausible)), quoted)


def paths(target: Target, w: World) -> st.SearchStrategy[str]:
    plausible = target.args_for(w)
    names = re.findall(r"<(?:[a-z]+:)?(\w+)>", target.rule)
    args = st.fixed_dictionaries({name: _arg_values(plausible.get(name, ())) for name in names})
    return args.map(lambda values: _path(target.rule, values))


def requests(target: Target, w: World, states: Sequence[str]) -> st.SearchStrategy[Any]:
    """(state, path, probe) for *target*; built once per test, drawn for every example."""
    probe = probes(
        target.fields_for(w),
        form=target.method == "POST",
        client_ids=w.client_ids,
        base=target.base_for(w),
    )
    return st.tuples(st.sampled_from(list(states)), paths(target, w), probe)


def _fuzz_once(w: World, target: Target, state: str, path: str, probe: Probe) -> None:
    w.clock.advance(seconds=2)  # past the resend wait (1 s here) of an earlier example's code
    client, token = w.in_state(state)
    response = send(client, target.method, path, probe, token)
    try:
        assert_clear(response, f"{target.method} {path} as {state}: {probe.describe()}")
    finally:
        response.close()


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.id)
def test_fuzz(target: Target, world: World):
    @settings(FUZZ, max_examples=target.examples)
    @given(request=requests(target, world, target.states))
    def run(request: tuple[str, str, Probe]) -> None:
        _fuzz_once(world, target, *request)

    run()


def test_fuzz_admin_forms(app: Flask, clock: Any):
    world = _world(app, clock)  # its own app: the forms change settings every target uses
    choices = st.one_of(
        [requests(t, world, ("admin",)).map(lambda r, t=t: (t, r)) for t in ADMIN_TARGETS]
    )

    @settings(FUZZ, max_examples=60)
    @given(choice=choices)
    def run(choice: tuple[Target, tuple[str, str, Probe]]) -> None:
        target, request = choice
        _fuzz_once(world, target, *request)

    run()


# -- NUL, where PostgreSQL would refuse it -----------------------------------------------------


def _nul_probes(target: Target, w: World) -> Iterator[tuple[str, Probe]]:
    """The target's plausible request with a NUL in each field, in the query and in Basic."""
    base = dict(target.base_for(w))
    names = sorted(set(target.fields_for(w)) | set(base)) or ["x"]
    form = target.method == "POST"
    for name in names:
        pairs = [*({**base, name: "ab\x00cd"}).items()]
        if form:
            yield f"form {name}", Probe(body="form", pairs=pairs)
        else:
            yield f"query {name}", Probe(body="none", query=_urlencode_nul(pairs))
    yield "query", Probe(body="form" if form else "none", pairs=[*base.items()], query=b"q=%00")
    basic = "Basic " + base64.b64encode(b"ab%00cd:secret").decode()
    yield "basic", Probe(body="form" if form else "none", headers=[("Authorization", basic)])


def _urlencode_nul(pairs: Sequence[tuple[str, str]]) -> bytes:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs).encode()


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.id)
def test_a_nul_in_any_field_is_refused_with_a_message(target: Target, world: World):
    """Every field of every public target, the query string and Basic credentials, with a
    NUL: never a 500 (on PostgreSQL it was one wherever the value reached a query)."""
    state = target.states[0]
    path = _path(target.rule, {k: v[0] for k, v in target.args_for(world).items()})
    for what, probe in _nul_probes(target, world):
        world.clock.advance(seconds=2)
        client, token = world.in_state(state)
        response = send(client, target.method, path, probe, token)
        try:
            assert_clear(response, f"{target.method} {path} as {state}, NUL in the {what}")
            assert response.status_code in (400, 401, 404), f"{what}: {response.status_code}"
        finally:
            response.close()


def test_the_fuzzer_runs_on_this_runs_database(world: World, postgres_url: str | None):
    """With DATABASE_URL set to PostgreSQL, the fuzz runs there, not on a SQLite file."""
    with world.app.app_context():
        dialect = db.engine.dialect.name
    assert dialect == ("postgresql" if postgres_url else "sqlite")


# -- methods nobody allowed --------------------------------------------------------------------


def test_methods_a_path_does_not_allow_get_405_with_a_message(world):
    client = world.browser()
    adapter = world.app.url_map.bind("localhost")
    for rule in world.app.url_map.iter_rules():
        path = _path(rule.rule, dict.fromkeys(rule.arguments, "x"))
        allowed = set(adapter.allowed_methods(path))
        for method in ("GET", "POST", "PUT", "DELETE"):
            if method in allowed:
                continue
            response = client.open(path, method=method)
            assert response.status_code in (404, 405), f"{method} {path}"
            assert_clear(response, f"{method} {path}")
