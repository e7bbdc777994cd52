"""``poort verifier ...`` against the test app (fake providers, movable clock), and the whole
SMS command line end to end through the real ``poort`` entry point."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

import idp
from idp.extensions import db
from idp.models import AuditEvent, Challenge, Verifier
from idp.options import SEALED, open_options
from idp.plugins import Registry
from idp.security.secret_box import read_keys
from tests.cli.support import PHONE, STRONG, Idp, add, confirmed
from tests.verification.providers import SENT, fake_registry


@pytest.fixture
def registry() -> Registry:
    """Password login, the console provider and both fakes."""
    return fake_registry()


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


# -- the real `poort` entry point ---------------------------------------------------------------


def test_the_poort_command_end_to_end_with_the_console_provider(cli, tmp_path, fixed_code):
    poort = cli

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
