"""The SMS command line: ``poort verifier ...``, ``poort sms test``, ``poort rotate-secret-key``.

Most tests drive the ``idp`` command group of a test app (fake providers, movable clock); the
last ones run the real ``poort`` entry point against an instance made by ``poort init``.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

import idp
import idp.cli.secret_keys
from idp.cli import main
from idp.errors import ConfigError
from idp.extensions import db
from idp.models import (
    AuditEvent,
    Authenticator,
    Challenge,
    Credential,
    SigningKey,
    SmsLogEntry,
    User,
    Verifier,
)
from idp.options import SEALED, open_options
from idp.plugins import Registry
from idp.security.secret_box import SecretBox, new_key, read_keys
from tests.database import is_postgres, throwaway_postgres
from tests.verification.providers import SENT, fake_registry

PHONE = "+31612345678"
STRONG = "correct horse battery staple"
OUTER_DATABASE_URL = os.environ.get("DATABASE_URL")


@pytest.fixture(autouse=True)
def _clear_sent() -> Iterator[None]:
    SENT.clear()
    yield
    SENT.clear()


@pytest.fixture
def registry() -> Registry:
    return fake_registry()


class Idp:
    """``flask idp ...`` against the test app."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return self.app.test_cli_runner().invoke(args=["idp", *args], input=input)

    def ok(self, *args: str, input: str | None = None) -> str:
        result = self(*args, input=input)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
        assert result.exit_code == 0, result.output
        return result.output

    def fails(self, *args: str, input: str | None = None) -> str:
        result = self(*args, input=input)
        assert result.exit_code != 0, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
        assert "Traceback" not in result.output
        return result.output

    def verifier(self, name: str) -> Verifier | None:
        with self.app.app_context():
            row = db.session.scalar(select(Verifier).where(Verifier.name == name))
            if row is not None:
                db.session.expunge(row)
            return row

    def audit(self) -> list[tuple[str, str | None, str | None]]:
        with self.app.app_context():
            events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
            return [(e.action, e.target, e.actor) for e in events]

    def audit_json(self) -> str:
        with self.app.app_context():
            events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
            return json.dumps([[e.before, e.after] for e in events])


@pytest.fixture
def idp_cli(app: Flask) -> Idp:
    return Idp(app)


@pytest.fixture
def admin_user(make_user: Callable[..., User]) -> User:
    return make_user(username="root", is_admin=True)


@pytest.fixture
def fixed_code(monkeypatch: pytest.MonkeyPatch) -> str:
    """Every code is 123456 (codes come from secrets.randbelow)."""
    monkeypatch.setattr(secrets, "randbelow", lambda n: 123456)
    return "123456"


def add(idp_cli: Idp, name: str, *extra: str) -> str:
    return idp_cli.ok("verifier", "add", name, "--provider", "fake", "--sender", "Poort", *extra)


def confirmed(idp_cli: Idp, name: str, *extra: str, enable: bool = True) -> None:
    """Add a verifier, confirm it with a test code, and enable it."""
    add(idp_cli, name, *extra)
    with idp_cli.app.app_context():
        row = db.session.scalar(select(Verifier).where(Verifier.name == name))
        row.confirmed_at = idp_cli.app.extensions["idp"].clock()
        row.enabled = enable
        db.session.commit()


# -- verifier add ---------------------------------------------------------------------------


def test_add_creates_a_disabled_verifier_and_audits_it(idp_cli):
    out = add(
        idp_cli,
        "Spryng-NL",
        "--title",
        "Spryng NL",
        "--price",
        "0.056",
        "--currency",
        "eur",
        "--option",
        "outcome=ok",
        "--option",
        "api_key=sk_live_SENTINEL",
    )

    assert "Created verifier spryng-nl (fake), disabled." in out
    assert "poort verifier test spryng-nl NUMBER" in out
    row = idp_cli.verifier("spryng-nl")
    assert (row.title, row.sender, str(row.price_per_segment), row.currency) == (
        "Spryng NL",
        "Poort",
        "0.0560",
        "EUR",
    )
    assert (row.enabled, row.confirmed_at, row.is_default) == (False, None, False)
    assert set(row.options["api_key"]) == {SEALED}
    assert "SENTINEL" not in json.dumps(row.options)
    assert idp_cli.audit() == [("verifier.create", "verifier:spryng-nl", "cli")]
    assert "SENTINEL" not in idp_cli.audit_json()
    assert "SENTINEL" not in out


def test_add_prompts_for_secrets_without_echo(idp_cli):
    out = idp_cli.ok(
        "verifier",
        "add",
        "mb",
        "--provider",
        "fake",
        "--sender",
        "Poort",
        "--secret",
        "api_key",
        input="sk_live_SENTINEL\n",
    )

    assert "SENTINEL" not in out
    with idp_cli.app.app_context():
        row = db.session.scalar(select(Verifier))
        opened = open_options(row.options, idp_cli.app.extensions["idp"].secret_box)
    assert opened["api_key"] == "sk_live_SENTINEL"


def test_add_with_a_fallback(idp_cli):
    add(idp_cli, "backup")
    add(idp_cli, "main", "--fallback", "backup")

    with idp_cli.app.app_context():
        row = db.session.scalar(select(Verifier).where(Verifier.name == "main"))
        assert row.fallback.name == "backup"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--provider", "nexmo"], "provider: No SMS provider called 'nexmo' is installed."),
        (["--sender", "PoortIdentity"], "sender: An alphanumeric sender has at most 11"),
        (["--sender", "Poort!"], "sender: An alphanumeric sender may only use"),
        (["--price", "-1"], "price_per_segment: The price cannot be negative."),
        (["--price", "cheap"], "price_per_segment: Enter a price such as 0.056."),
        (["--price", "250"], "price_per_segment: A price above 100"),
        (["--currency", "EURO"], "currency: Use a three-letter currency code"),
        (["--fallback", "nowhere"], "fallback: There is no verifier called 'nowhere'."),
        (["--option", "outcome=sometimes"], "invalid options: outcome:"),
        (["--option", "colour=blue"], "invalid options: colour: Unknown option"),
        (["--option", "no-equals-sign"], "is not KEY=VALUE"),
    ],
)
def test_add_refuses_bad_input_naming_the_field(idp_cli, args, message):
    base = {"--provider": "fake", "--sender": "Poort"}
    for flag in args[::2]:
        base.pop(flag, None)
    flat = [item for pair in base.items() for item in pair]

    out = idp_cli.fails("verifier", "add", "bad", *flat, *args)

    assert message in out
    assert idp_cli.verifier("bad") is None
    assert idp_cli.audit() == []


def test_add_refuses_a_bad_name_and_a_duplicate(idp_cli):
    assert "name: Use 1 to 40 lower-case" in idp_cli.fails(
        "verifier", "add", "no spaces", "--provider", "fake", "--sender", "Poort"
    )
    add(idp_cli, "taken")
    assert "name: A verifier called 'taken' exists already." in idp_cli.fails(
        "verifier", "add", "taken", "--provider", "fake", "--sender", "Poort"
    )


def test_add_needs_provider_and_sender(idp_cli):
    assert "Missing option '--provider'" in idp_cli.fails("verifier", "add", "x", "--sender", "P")
    assert "Missing option '--sender'" in idp_cli.fails("verifier", "add", "x", "--provider", "f")


# -- verifier list --------------------------------------------------------------------------


def test_list_when_empty_says_how_to_add_and_why_sms_is_unavailable(idp_cli):
    out = idp_cli.ok("verifier", "list")

    assert "No verifiers. Add one with `poort verifier add" in out
    assert "cannot send SMS: No verifier is named, no enabled verifier is marked default" in out


def test_list_shows_state_fallback_and_what_resolve_picks(idp_cli):
    confirmed(idp_cli, "backup", "--price", "0.07")
    confirmed(idp_cli, "main", "--fallback", "backup", "--price", "0.056")
    add(idp_cli, "fresh")
    idp_cli.ok("verifier", "default", "main")

    out = idp_cli.ok("verifier", "list")

    lines = out.splitlines()
    [main_line] = [line for line in lines if line.startswith("main ")]
    [fresh_line] = [line for line in lines if line.startswith("fresh ")]
    assert "enabled, confirmed, default" in main_line
    assert "fallback backup" in main_line
    assert "0.0560 EUR/segment" in main_line
    assert "disabled, not confirmed" in fresh_line
    assert lines[-1] == (
        "Authenticators that name no verifier send through main -> backup (main is marked default)."
    )


def test_list_explains_a_disabled_default(idp_cli):
    confirmed(idp_cli, "main")
    idp_cli.ok("verifier", "default", "main")
    idp_cli.ok("verifier", "disable", "main")

    out = idp_cli.ok("verifier", "list")

    assert (
        "cannot send SMS: the default main is disabled, and poort.toml has no [sms] table." in out
    )


def test_list_explains_the_file_channel(app_config, request):
    app_config["sms"] = {"provider": "console", "sender": "OpenWave"}
    idp_cli = Idp(request.getfixturevalue("app"))

    out = idp_cli.ok("verifier", "list")

    assert (
        "send through the [sms] table of poort.toml (provider console), "
        "because no verifier is marked default." in out
    )


def test_list_flags_a_provider_that_is_not_loaded(idp_cli):
    add(idp_cli, "orphan")
    with idp_cli.app.app_context():
        db.session.scalar(select(Verifier)).provider = "uninstalled"
        db.session.commit()

    assert "provider not loaded" in idp_cli.ok("verifier", "list")


# -- verifier test --------------------------------------------------------------------------


def test_test_sends_a_code_and_confirms_with_the_typed_code(idp_cli, admin_user, fixed_code):
    add(idp_cli, "main")

    out = idp_cli.ok("verifier", "test", "main", "06 12345678", input=f"{fixed_code}\n")

    assert "Sent a test code to +31*******78 through main, for root." in out
    assert "main is confirmed; enable it with `poort verifier enable main`." in out
    [sent] = SENT
    assert (sent.message.recipient, sent.message.purpose, sent.message.code) == (
        PHONE,
        "admin_test",
        fixed_code,
    )
    row = idp_cli.verifier("main")
    assert row.confirmed_at is not None
    assert row.confirmed_by == admin_user.id
    assert not row.enabled
    assert idp_cli.audit() == [
        ("verifier.create", "verifier:main", "cli"),
        ("verifier.confirm", "verifier:main", "cli"),
    ]
    assert fixed_code not in idp_cli.audit_json()


def test_test_reprompts_after_a_wrong_or_malformed_code(idp_cli, admin_user, fixed_code):
    add(idp_cli, "main")

    out = idp_cli.ok("verifier", "test", "main", PHONE, input=f"000000\nabc\n{fixed_code}\n")

    assert "That code is not right. Check the text message and try again. 4 attempts left" in out
    assert "Enter the digits of the code from the text message." in out
    assert "main is confirmed" in out


def test_test_gives_up_after_five_wrong_codes(idp_cli, admin_user, fixed_code):
    add(idp_cli, "main")

    out = idp_cli.fails("verifier", "test", "main", PHONE, input="000000\n" * 5 + fixed_code + "\n")

    assert "Too many wrong codes. Ask for a new one." in out
    assert idp_cli.verifier("main").confirmed_at is None


def test_test_without_input_aborts_unconfirmed(idp_cli, admin_user):
    add(idp_cli, "main")

    idp_cli.fails("verifier", "test", "main", PHONE, input="")

    assert idp_cli.verifier("main").confirmed_at is None


def test_test_picks_the_named_admin(idp_cli, admin_user, make_user, fixed_code):
    other = make_user(username="second", is_admin=True)
    add(idp_cli, "main")

    out = idp_cli.ok("verifier", "test", "main", PHONE, "--admin", "Second", input="123456\n")

    assert "for second" in out
    assert idp_cli.verifier("main").confirmed_by == other.id


def test_test_needs_an_admin(idp_cli, make_user):
    make_user(username="plain")
    add(idp_cli, "main")

    assert "No admin exists yet; create one with `poort create-admin`." in idp_cli.fails(
        "verifier", "test", "main", PHONE
    )
    assert "No active admin called 'plain'." in idp_cli.fails(
        "verifier", "test", "main", PHONE, "--admin", "plain"
    )
    assert SENT == []


def test_test_refuses_a_bad_number_and_an_unknown_verifier(idp_cli, admin_user):
    add(idp_cli, "main")

    assert "phone: " in idp_cli.fails("verifier", "test", "main", "12")
    assert "There is no verifier called 'nope'. See `poort verifier list`." in idp_cli.fails(
        "verifier", "test", "nope", PHONE
    )
    assert SENT == []


def test_test_uses_the_verifier_alone_and_reports_its_failure(idp_cli, admin_user):
    confirmed(idp_cli, "backup")
    add(idp_cli, "main", "--fallback", "backup", "--option", "outcome=configuration")

    out = idp_cli.fails("verifier", "test", "main", PHONE)

    assert (
        "1. main (fake): failed, sms_configuration 203: Fake gateway: insufficient credits" in out
    )
    assert "The test code was not sent:" in out
    assert len(SENT) == 1


def test_a_second_test_within_the_cooldown_is_refused(idp_cli, admin_user, clock, fixed_code):
    add(idp_cli, "main")
    idp_cli.fails("verifier", "test", "main", PHONE, input="")

    out = idp_cli.fails("verifier", "test", "main", PHONE)

    assert "Please wait 60 s before asking for a new code." in out
    clock.advance(seconds=60)
    assert "main is confirmed" in idp_cli.ok("verifier", "test", "main", PHONE, input="123456\n")


# -- verifier enable / disable ----------------------------------------------------------------


def test_enable_is_refused_until_confirmed(idp_cli):
    add(idp_cli, "main")

    out = idp_cli.fails("verifier", "enable", "main")

    assert "main stays disabled: Send a test code through this verifier" in out
    assert "Use `poort verifier test main NUMBER`." in out
    assert not idp_cli.verifier("main").enabled
    assert [a for a, _, _ in idp_cli.audit()] == ["verifier.create"]


def test_enable_and_disable_a_confirmed_verifier(idp_cli):
    confirmed(idp_cli, "main", enable=False)

    assert "main is enabled." in idp_cli.ok("verifier", "enable", "main")
    assert idp_cli.verifier("main").enabled
    assert "main is enabled." in idp_cli.ok("verifier", "enable", "main")  # no change, no event
    assert "main is disabled." in idp_cli.ok("verifier", "disable", "main")
    assert not idp_cli.verifier("main").enabled
    assert [a for a, _, _ in idp_cli.audit()] == [
        "verifier.create",
        "verifier.enable",
        "verifier.disable",
    ]


def test_enable_an_unknown_verifier(idp_cli):
    assert "There is no verifier called 'x'." in idp_cli.fails("verifier", "enable", "x")
    assert "There is no verifier called 'x'." in idp_cli.fails("verifier", "disable", "x")


# -- verifier default ------------------------------------------------------------------------


def test_default_marks_one_and_clear_unmarks(idp_cli):
    confirmed(idp_cli, "a")
    confirmed(idp_cli, "b")

    assert "a is the default verifier." in idp_cli.ok("verifier", "default", "a")
    out = idp_cli.ok("verifier", "default", "b")
    assert "send through b (b is marked default)" in out
    assert (idp_cli.verifier("a").is_default, idp_cli.verifier("b").is_default) == (False, True)
    assert "No verifier is marked default." in idp_cli.ok("verifier", "default", "--clear")
    assert not idp_cli.verifier("b").is_default
    events = [(a, t) for a, t, _ in idp_cli.audit() if a == "verifier.default"]
    assert events == [
        ("verifier.default", "verifier:a"),
        ("verifier.default", "verifier:b"),
        ("verifier.default", "verifier:b"),
    ]


def test_default_warns_when_the_verifier_is_disabled(idp_cli):
    add(idp_cli, "fresh")

    out = idp_cli.ok("verifier", "default", "fresh")

    assert "Note: fresh is disabled, so it serves no codes until it is enabled." in out


@pytest.mark.parametrize("args", [[], ["a", "--clear"]])
def test_default_needs_a_name_or_clear(idp_cli, args):
    add(idp_cli, "a")

    assert "Give either a verifier NAME or --clear." in idp_cli.fails("verifier", "default", *args)


def test_default_of_an_unknown_verifier(idp_cli):
    assert "There is no verifier called 'x'." in idp_cli.fails("verifier", "default", "x")


# -- verifier delete --------------------------------------------------------------------------


def test_delete_clears_fallbacks_and_audits(idp_cli):
    confirmed(idp_cli, "backup")
    confirmed(idp_cli, "main", "--fallback", "backup")

    out = idp_cli.ok("verifier", "delete", "backup", "--yes")

    assert "Deleted verifier backup." in out
    assert "main no longer falls back to backup." in out
    assert idp_cli.verifier("backup") is None
    assert idp_cli.verifier("main").fallback_id is None
    assert ("verifier.delete", "verifier:backup", "cli") in idp_cli.audit()


def test_delete_warns_about_authenticators_naming_it(idp_cli, make_authenticator):
    add(idp_cli, "main")
    make_authenticator("sms-login", method="password", options={"verifier": "main"})

    out = idp_cli.ok("verifier", "delete", "main", "--yes")

    assert "Warning: authenticator sms-login names main and cannot send SMS now." in out


def test_delete_asks_first(idp_cli):
    add(idp_cli, "main")

    idp_cli.fails("verifier", "delete", "main", input="n\n")

    assert idp_cli.verifier("main") is not None
    assert "Deleted" in idp_cli.ok("verifier", "delete", "main", input="y\n")


def test_delete_an_unknown_verifier(idp_cli):
    assert "There is no verifier called 'x'." in idp_cli.fails("verifier", "delete", "x", "--yes")


# -- sms test --------------------------------------------------------------------------------


def test_sms_test_reports_verifier_message_id_segments_and_cost(idp_cli):
    confirmed(idp_cli, "main", "--price", "0.056", "--option", "message_id=mb-42")

    out = idp_cli.ok("sms", "test", "main", "0612345678")

    assert "1. main (fake): accepted, message id mb-42" in out
    assert (
        "Sent to +31*******78 through main (fake) after 1 attempt(s): message id mb-42, "
        "1 segment(s) GSM-7, cost 0.0560 EUR." in out
    )
    [sent] = SENT
    assert sent.message.recipient == PHONE
    assert sent.message.code is None


def test_sms_test_with_a_long_unicode_text(idp_cli):
    confirmed(idp_cli, "main", "--price", "0.10")

    out = idp_cli.ok("sms", "test", "main", PHONE, "--text", "Привет " * 20)

    assert "3 segment(s) UCS-2, cost 0.3000 EUR." in out
    assert SENT[0].message.text == "Привет " * 20


def test_sms_test_fails_over_and_shows_every_attempt(idp_cli):
    confirmed(idp_cli, "backup", "--price", "0.07")
    confirmed(idp_cli, "main", "--fallback", "backup", "--option", "outcome=temporary")

    out = idp_cli.ok("sms", "test", "main", PHONE)

    assert "1. main (fake): failed, sms_temporary 800: Fake gateway: technical error" in out
    assert "2. backup (fake): accepted, message id fake-2" in out
    assert "through backup (fake) after 2 attempt(s)" in out
    assert "cost 0.0700 EUR" in out


def test_sms_test_when_everything_fails(idp_cli):
    confirmed(idp_cli, "backup", "--option", "outcome=bug")
    confirmed(idp_cli, "main", "--fallback", "backup", "--option", "outcome=temporary")

    out = idp_cli.fails("sms", "test", "main", PHONE)

    assert "1. main (fake): failed, sms_temporary 800" in out
    assert "2. backup (fake): failed, provider_bug: ZeroDivisionError" in out
    assert "Not sent to +31*******78: No verifier could send the message (2 tried)." in out
    with idp_cli.app.app_context():
        assert len(db.session.scalars(select(SmsLogEntry)).all()) == 2


def test_sms_test_stops_at_a_refused_number(idp_cli):
    confirmed(idp_cli, "backup")
    confirmed(idp_cli, "main", "--fallback", "backup", "--option", "outcome=recipient")

    out = idp_cli.fails("sms", "test", "main", PHONE)

    assert "Not sent to +31*******78: Fake gateway: invalid number" in out
    assert len(SENT) == 1


@pytest.mark.parametrize(
    ("verifier", "message"),
    [
        ("nope", "Not sent: The verifier 'nope' does not exist."),
        ("fresh", "Not sent: The verifier 'fresh' is not enabled."),
    ],
)
def test_sms_test_through_an_unusable_verifier(idp_cli, verifier, message):
    add(idp_cli, "fresh")

    assert message in idp_cli.fails("sms", "test", verifier, PHONE)
    assert SENT == []


def test_sms_test_refuses_a_bad_number(idp_cli):
    confirmed(idp_cli, "main")

    assert "phone: A phone number has only digits" in idp_cli.fails("sms", "test", "main", "abc")


# -- rotate-secret-key -------------------------------------------------------------------------

SECRETS = {
    "verifier": "sk_verifier_SENTINEL",
    "authenticator": "authn_SENTINEL",
    "credential": "JBSWY3DPEHPK3PXP",
    "signing": "-----BEGIN PRIVATE KEY-----SENTINEL",
}


@pytest.fixture
def old_key() -> str:
    return new_key()


@pytest.fixture
def keyed_app(app_config: dict[str, Any], request: pytest.FixtureRequest, old_key: str) -> Flask:
    """An app whose secret box reads instance/secret.keys (not the configuration)."""
    del app_config["secret_keys"]
    instance = Path(app_config["instance_path"])
    instance.mkdir(parents=True, exist_ok=True)
    (instance / "secret.keys").write_text(old_key + "\n", encoding="utf-8")
    app: Flask = request.getfixturevalue("app")
    return app


def seed_secrets(app: Flask, make_user: Callable[..., User]) -> None:
    """One sealed secret in every table that keeps them."""
    user = make_user()
    idp_cli = Idp(app)
    add(idp_cli, "main", "--option", f"api_key={SECRETS['verifier']}")
    with app.app_context():
        box = app.extensions["idp"].secret_box
        db.session.add_all(
            [
                Authenticator(
                    name="sms",
                    method="password",
                    title="SMS",
                    position=1,
                    enabled=False,
                    options={"nested": {"token": {SEALED: box.seal(SECRETS["authenticator"])}}},
                ),
                Credential(user_id=user.id, method="totp", secret=box.seal(SECRETS["credential"])),
                Credential(user_id=user.id, method="none", secret=None),
                SigningKey(
                    kid="k1",
                    alg="RS256",
                    private_key=box.seal(SECRETS["signing"]),
                    public_jwk={"kty": "RSA"},
                ),
            ]
        )
        db.session.commit()


def stored_tokens(app: Flask) -> dict[str, str]:
    with app.app_context():
        verifier = db.session.scalar(select(Verifier))
        authenticator = db.session.scalar(select(Authenticator))
        credential = db.session.scalar(select(Credential).where(Credential.method == "totp"))
        signing = db.session.scalar(select(SigningKey))
        return {
            "verifier": verifier.options["api_key"][SEALED],
            "authenticator": authenticator.options["nested"]["token"][SEALED],
            "credential": credential.secret,
            "signing": signing.private_key,
        }


def opened(tokens: dict[str, str], keys: list[str]) -> dict[str, str]:
    box = SecretBox(keys)
    return {name: box.open(token) for name, token in tokens.items()}


def test_rotate_writes_the_new_key_first_and_reencrypts_everything(keyed_app, make_user, old_key):
    seed_secrets(keyed_app, make_user)
    before = stored_tokens(keyed_app)
    instance = Path(keyed_app.instance_path)

    out = Idp(keyed_app).ok("rotate-secret-key")

    keys = read_keys(instance)
    assert len(keys) == 2
    assert keys[1] == old_key and keys[0] != old_key
    assert stat.S_IMODE((instance / "secret.keys").stat().st_mode) == 0o600
    assert "Re-encrypted 4 secret(s) under the newest key." in out
    assert "poort rotate-secret-key --reencrypt-only --drop-old" in out
    after = stored_tokens(keyed_app)
    assert all(after[name] != before[name] for name in after)
    assert opened(after, keys[:1]) == SECRETS  # the new key alone opens every secret
    assert opened(before, keys) == SECRETS  # and old tokens still open during the rotation
    assert not any(old_key in line or keys[0] in line for line in out.splitlines())
    with keyed_app.app_context():
        # The running app uses the new keys at once.
        box = keyed_app.extensions["idp"].secret_box
        assert box.open(after["verifier"]) == SECRETS["verifier"]
        [event] = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "secrets.rotate")
        ).all()
        assert (event.actor, event.after) == (
            "cli",
            {"reencrypted": 4, "new_key": True, "keys": 2},
        )
        assert old_key not in json.dumps(event.after)


def test_rotate_with_drop_old_leaves_only_the_new_key(keyed_app, make_user, old_key):
    seed_secrets(keyed_app, make_user)
    instance = Path(keyed_app.instance_path)

    out = Idp(keyed_app).ok("rotate-secret-key", "--drop-old")

    keys = read_keys(instance)
    assert len(keys) == 1 and keys[0] != old_key
    assert "Dropped 1 old key(s)" in out
    tokens = stored_tokens(keyed_app)
    assert opened(tokens, keys) == SECRETS
    for token in tokens.values():
        with pytest.raises(ConfigError):
            SecretBox([old_key]).open(token)
    with keyed_app.app_context():
        actions = [e.action for e in db.session.scalars(select(AuditEvent))]
    assert actions[-2:] == ["secrets.rotate", "secrets.drop_old_keys"]


def test_reencrypt_only_then_drop_old_retires_the_old_key(keyed_app, make_user, old_key):
    seed_secrets(keyed_app, make_user)
    idp_cli = Idp(keyed_app)
    idp_cli.ok("rotate-secret-key")
    newest = read_keys(Path(keyed_app.instance_path))[0]

    out = idp_cli.ok("rotate-secret-key", "--reencrypt-only", "--drop-old")

    assert read_keys(Path(keyed_app.instance_path)) == [newest]
    assert "Dropped 1 old key(s)" in out
    assert opened(stored_tokens(keyed_app), [newest]) == SECRETS


def test_a_secret_no_key_opens_stops_the_rotation_with_nothing_changed(
    keyed_app, make_user, old_key
):
    seed_secrets(keyed_app, make_user)
    with keyed_app.app_context():
        stray = db.session.scalar(select(Credential).where(Credential.method == "none"))
        stray.secret = SecretBox([new_key()]).seal("sealed with a lost key")
        db.session.commit()
    before = stored_tokens(keyed_app)
    key_file = Path(keyed_app.instance_path) / "secret.keys"
    file_before = key_file.read_text()

    out = Idp(keyed_app).fails("rotate-secret-key", "--drop-old")

    assert "Nothing was rotated: The secret of credential" in out
    assert "cannot be decrypted" in out
    assert key_file.read_text() == file_before
    assert stored_tokens(keyed_app) == before
    assert [a for a, _, _ in Idp(keyed_app).audit()] == ["verifier.create"]


def test_a_key_file_that_cannot_be_written_rolls_the_database_back(
    keyed_app, make_user, monkeypatch
):
    seed_secrets(keyed_app, make_user)
    before = stored_tokens(keyed_app)
    key_file = Path(keyed_app.instance_path) / "secret.keys"
    file_before = key_file.read_text()

    def disk_full(path: Path, keys: list[str]) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(idp.cli.secret_keys, "_write_keys", disk_full)

    out = Idp(keyed_app).fails("rotate-secret-key")

    assert "Nothing was rotated:" in out
    assert "No space left on device" in out
    assert stored_tokens(keyed_app) == before
    assert key_file.read_text() == file_before
    assert opened(before, read_keys(key_file.parent)) == SECRETS


def test_a_failed_commit_restores_the_key_file(keyed_app, make_user, monkeypatch, old_key):
    seed_secrets(keyed_app, make_user)
    before = stored_tokens(keyed_app)
    key_file = Path(keyed_app.instance_path) / "secret.keys"

    def connection_lost(self: Session) -> None:
        raise OperationalError("COMMIT", {}, Exception("server closed the connection"))

    with monkeypatch.context() as patch:
        patch.setattr(Session, "commit", connection_lost)
        result = Idp(keyed_app)("rotate-secret-key")

    assert isinstance(result.exception, OperationalError)
    assert read_keys(key_file.parent) == [old_key]
    assert stored_tokens(keyed_app) == before


def test_rotate_without_any_key_says_so(app_config, request):
    del app_config["secret_keys"]
    app_config["dev"] = True
    app = request.getfixturevalue("app")

    out = Idp(app).fails("rotate-secret-key")

    assert "no key to rotate" in out
    assert "poort init" in out


def test_keys_from_the_environment_are_printed_not_written(app, make_user, monkeypatch, fernet_key):
    seed_secrets(app, make_user)
    before = stored_tokens(app)
    monkeypatch.setenv("IDP_SECRET_KEYS", fernet_key)

    out = Idp(app).ok("rotate-secret-key")

    [line] = [line.strip() for line in out.splitlines() if "IDP_SECRET_KEYS=" in line]
    new, old = line.removeprefix("IDP_SECRET_KEYS=").split(",")
    assert old == fernet_key
    Fernet(new.encode())  # a valid key
    assert "Nothing was changed yet." in out
    assert not (Path(app.instance_path) / "secret.keys").exists()
    assert stored_tokens(app) == before
    assert "--drop-old needs the secrets re-encrypted" in Idp(app).fails(
        "rotate-secret-key", "--drop-old"
    )


def test_keys_from_the_environment_reencrypt_only_then_print_the_short_list(
    app_config, registry, clock, app, make_user, monkeypatch, fernet_key
):
    seed_secrets(app, make_user)
    new = new_key()
    monkeypatch.setenv("IDP_SECRET_KEYS", f"{new},{fernet_key}")
    restarted = idp.create_app(
        {**app_config, "secret_keys": [new, fernet_key]}, registry=registry, clock=clock
    )
    try:
        out = Idp(restarted).ok("rotate-secret-key", "--reencrypt-only", "--drop-old")
    finally:
        with restarted.app_context():
            db.session.remove()
            db.engine.dispose()

    assert f"IDP_SECRET_KEYS={new}\n" in out
    assert opened(stored_tokens(app), [new]) == SECRETS
    assert not (Path(app.instance_path) / "secret.keys").exists()


# -- the real `poort` entry point ---------------------------------------------------------------


@pytest.fixture
def poort(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Result]]:
    """``poort ...`` on a fresh instance folder (and a database nobody else uses)."""
    monkeypatch.setenv("IDP_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("IDP_PASSWORD_HASH_PROFILE", "cheapest")
    monkeypatch.setenv("IDP_ISSUER", "https://id.example.org")
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "")
    apps: list[Flask] = []
    real_create_app = idp.create_app

    def recording_create_app(*args: Any, **kwargs: Any) -> Flask:
        app = real_create_app(*args, **kwargs)
        apps.append(app)
        return app

    monkeypatch.setattr(idp, "create_app", recording_create_app)

    def run(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(main, list(args), input=input)

    if is_postgres(OUTER_DATABASE_URL):
        assert OUTER_DATABASE_URL is not None
        with throwaway_postgres(OUTER_DATABASE_URL) as url:
            monkeypatch.setenv("IDP_DATABASE_URL", url)
            yield run
            for app in apps:
                with app.app_context():
                    db.engine.dispose()
    else:
        yield run
        for app in apps:
            with app.app_context():
                db.engine.dispose()


def test_the_poort_command_end_to_end_with_the_console_provider(poort, tmp_path, fixed_code):
    def ok(*args: str, input: str | None = None) -> str:
        result = poort(*args, input=input)
        assert result.exit_code == 0, (result.output, result.exc_info)
        return result.output

    instance = tmp_path / "instance"
    ok("init", "--admin-username", "root", "--admin-password", STRONG)
    ok("verifier", "add", "demo", "--provider", "console", "--sender", "Poort", "--price", "0.05")
    assert "stays disabled" in poort("verifier", "enable", "demo").output

    out = ok("verifier", "test", "demo", "06-12345678", input=f"{fixed_code}\n")
    assert "demo is confirmed" in out
    outbox = [json.loads(line) for line in (instance / "sms-outbox.jsonl").read_text().splitlines()]
    assert outbox[-1]["to"] == PHONE
    assert fixed_code in outbox[-1]["text"]

    ok("verifier", "enable", "demo")
    out = ok("verifier", "default", "demo")
    assert "send through demo (demo is marked default)" in out
    out = ok("sms", "test", "demo", "+31612345678")
    assert "through demo (console) after 1 attempt(s)" in out
    assert "cost 0.0500 EUR" in out
    assert "demo " in ok("verifier", "list")

    old = read_keys(instance)
    out = ok("rotate-secret-key", "--drop-old")
    assert "Dropped 1 old key(s)" in out
    assert read_keys(instance) != old and len(read_keys(instance)) == 1
    assert "through demo" in ok("sms", "test", "demo", PHONE)  # a fresh app reads the new key

    ok("verifier", "delete", "demo", "--yes")
    assert "No verifiers." in ok("verifier", "list")
    with idp.create_app().app_context():
        actions = [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
        challenge_rows = db.session.scalars(select(Challenge)).all()
    assert actions == [
        "user.create_admin",
        "verifier.create",
        "verifier.confirm",
        "verifier.enable",
        "verifier.default",
        "secrets.rotate",
        "secrets.drop_old_keys",
        "verifier.delete",
    ]
    assert all(fixed_code not in (c.code_hmac or "") for c in challenge_rows)
