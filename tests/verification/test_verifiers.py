"""Verifiers: validation on save, secrets at rest, the default flag, fallbacks, confirmation."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from idp.errors import InvalidInput, NotFound
from idp.extensions import db
from idp.models import Challenge, User, Verifier
from idp.options import SEALED, OptionsInvalid
from idp.verification import confirmation, verifiers
from idp.verification.challenges import Outcome
from tests.verification.providers import SENT

PHONE = "+31612345678"


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield


def fields(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": "spryng-nl",
        "provider": "fake",
        "sender": "Poort",
        "price_per_segment": "0.056",
        "currency": "EUR",
    }
    values.update(overrides)
    return values


def save(options: dict[str, Any] | None = None, row: Verifier | None = None, **overrides: Any):
    result = verifiers.save(row, fields(**overrides), options or {})
    db.session.commit()
    return result


def refused(field: str, options: dict[str, Any] | None = None, **overrides: Any) -> str:
    with pytest.raises(InvalidInput) as caught:
        save(options, **overrides)
    db.session.rollback()
    assert caught.value.field == field, caught.value.message
    return caught.value.message


# -- saving ---------------------------------------------------------------------------------


def test_a_new_verifier_is_disabled_unconfirmed_and_needs_a_test(ctx):
    row, needs_test = save(title="Spryng NL", price_per_segment="0,056", currency="eur")

    assert needs_test
    assert (row.name, row.title, row.provider, row.sender) == (
        "spryng-nl",
        "Spryng NL",
        "fake",
        "Poort",
    )
    assert str(row.price_per_segment) == "0.0560"
    assert row.currency == "EUR"
    assert (row.enabled, row.is_default, row.confirmed_at, row.fallback) == (
        False,
        False,
        None,
        None,
    )
    assert row.options == {"outcome": "ok", "message_id": None}


def test_the_title_defaults_to_the_providers(ctx):
    row, _ = save()

    assert row.title == "Fake gateway"


@pytest.mark.parametrize("name", ["", "Has Space", "-leading", "ümlaut", "x" * 41, "under_score"])
def test_names_are_slugs(ctx, name):
    assert "lower-case letters" in refused("name", name=name)


def test_names_are_lower_cased(ctx):
    row, _ = save(name="Spryng-NL")

    assert row.name == "spryng-nl"


def test_a_duplicate_name_is_refused(ctx):
    save()

    assert "exists already" in refused("name")


def test_an_unknown_provider_is_refused(ctx):
    assert refused("provider", provider="nexmo-classic") == (
        "No SMS provider called 'nexmo-classic' is installed."
    )


@pytest.mark.parametrize(
    ("sender", "words"),
    [
        ("", "Enter a sender"),
        ("PoortIdentity", "has 13"),
        ("Poort!", "A-Z"),
        ("1" * 17, "16 digits"),
    ],
)
def test_sender_rules(ctx, sender, words):
    assert words in refused("sender", sender=sender)


@pytest.mark.parametrize(
    ("price", "words"),
    [("-0.01", "negative"), ("cheap", "such as 0.056"), ("100.01", "typo"), ("1e3", "typo")],
)
def test_price_rules(ctx, price, words):
    assert words in refused("price_per_segment", price_per_segment=price)


@pytest.mark.parametrize("price", ["NaN", "Infinity", "-Infinity"])
def test_a_price_that_is_not_a_number_is_refused(ctx, price):
    assert "such as 0.056" in refused("price_per_segment", price_per_segment=price)


def test_a_price_of_100_and_of_nothing_are_accepted(ctx):
    expensive, _ = save(price_per_segment="100")
    free, _ = save(name="free", price_per_segment="")

    assert (str(expensive.price_per_segment), str(free.price_per_segment)) == ("100.0000", "0.0000")


@pytest.mark.parametrize("currency", ["EURO", "E", "€", "12A"])
def test_currency_rules(ctx, currency):
    assert "three-letter" in refused("currency", currency=currency)


def test_bad_provider_options_name_the_field(ctx):
    with pytest.raises(OptionsInvalid) as caught:
        save({"outcome": "sometimes", "colour": "blue"})

    assert set(caught.value.errors) == {"outcome", "colour"}
    assert db.session.scalars(select(Verifier)).all() == []


# -- fallbacks ------------------------------------------------------------------------------


def test_an_unknown_fallback_is_refused(ctx):
    assert refused("fallback", fallback="nowhere") == "There is no verifier called 'nowhere'."


def test_a_fallback_is_saved(ctx):
    backup, _ = save(name="backup")
    main, _ = save(name="main", fallback="backup")

    assert main.fallback is backup


def test_a_verifier_cannot_fall_back_to_itself(ctx):
    row, _ = save(name="a")

    with pytest.raises(InvalidInput) as caught:
        save(row=row, name="a", fallback="a")

    assert caught.value.field == "fallback"
    assert "cycle" in caught.value.message


def test_a_two_step_cycle_is_refused(ctx):
    a, _ = save(name="a")
    save(name="b", fallback="a")

    with pytest.raises(InvalidInput) as caught:
        save(row=a, name="a", fallback="b")

    assert caught.value.field == "fallback"
    assert "'b' falls back (directly or not) to this verifier" in caught.value.message


def test_a_longer_cycle_is_refused(ctx):
    a, _ = save(name="a")
    save(name="b", fallback="a")
    save(name="c", fallback="b")

    with pytest.raises(InvalidInput, match="cycle"):
        save(row=a, name="a", fallback="c")


# -- secrets --------------------------------------------------------------------------------


def test_secrets_are_sealed_at_rest_and_public_views_say_set(ctx):
    row, _ = save({"api_key": "sk_live_SENTINEL"})

    raw = db.session.execute(select(Verifier.__table__.c.options)).scalar_one()
    assert "SENTINEL" not in json.dumps(raw)
    assert set(raw["api_key"]) == {SEALED}
    assert verifiers.public_view(row)["options"]["api_key"] == "set"
    assert "SENTINEL" not in json.dumps(verifiers.public_view(row))


def test_a_blank_secret_keeps_the_stored_one_and_needs_no_new_test(ctx):
    row, _ = save({"api_key": "sk_live_SENTINEL"})
    row.confirmed_at = row.created_at
    sealed = row.options["api_key"]

    row, needs_test = save({"api_key": ""}, row=row)

    assert not needs_test
    assert row.options["api_key"] == sealed
    assert row.confirmed_at is not None


# -- needs_test --------------------------------------------------------------------------------


def confirmed_and_enabled(row: Verifier) -> Verifier:
    row.confirmed_at = row.created_at
    verifiers.set_enabled(row, True)
    db.session.commit()
    return row


@pytest.mark.parametrize(
    ("options", "changes"),
    [
        ({"outcome": "temporary"}, {}),
        ({"api_key": "another"}, {}),
        ({}, {"sender": "Other"}),
    ],
)
def test_changing_options_or_sender_needs_a_new_test(ctx, options, changes):
    row = confirmed_and_enabled(save()[0])

    row, needs_test = save(options, row=row, **changes)

    assert needs_test
    assert (row.enabled, row.confirmed_at, row.confirmed_by) == (False, None, None)


def test_changing_title_price_or_fallback_needs_no_new_test(ctx):
    save(name="backup")
    row = confirmed_and_enabled(save()[0])

    row, needs_test = save(row=row, title="New title", price_per_segment="0.07", fallback="backup")

    assert not needs_test
    assert row.enabled
    assert row.confirmed_at is not None


# -- enable, default, delete ------------------------------------------------------------------


def test_enabling_is_refused_until_confirmed(ctx):
    row, _ = save()

    with pytest.raises(InvalidInput) as caught:
        verifiers.set_enabled(row, True)

    assert caught.value.field == "enabled"
    assert "Send a test code" in caught.value.message
    assert not row.enabled


def test_enabling_a_verifier_whose_provider_is_gone_is_refused(ctx):
    row, _ = save()
    row.confirmed_at = row.created_at
    row.provider = "uninstalled"

    with pytest.raises(InvalidInput, match="not loaded"):
        verifiers.set_enabled(row, True)


def test_disabling_is_always_allowed(ctx):
    row = confirmed_and_enabled(save()[0])

    verifiers.set_enabled(row, False)

    assert not row.enabled


def test_at_most_one_verifier_is_default(ctx):
    a, _ = save(name="a")
    b, _ = save(name="b")

    verifiers.set_default(a)
    db.session.commit()
    verifiers.set_default(b)
    db.session.commit()

    assert [v.name for v in db.session.scalars(select(Verifier).where(Verifier.is_default))] == [
        "b"
    ]
    verifiers.set_default(None)
    db.session.commit()
    assert db.session.scalars(select(Verifier).where(Verifier.is_default)).all() == []


def test_the_database_refuses_two_defaults_written_directly(ctx):
    a, _ = save(name="a")
    save(name="b")
    verifiers.set_default(a)
    db.session.commit()

    with pytest.raises(IntegrityError):
        db.session.execute(update(Verifier).where(Verifier.name == "b").values(is_default=True))
        db.session.flush()
    db.session.rollback()

    with pytest.raises(IntegrityError):
        db.session.execute(
            insert(Verifier).values(
                name="c", title="C", provider="fake", options={}, sender="Poort", is_default=True
            )
        )
    db.session.rollback()


def test_delete_clears_fallback_references(ctx):
    save(name="backup")
    save(name="main", fallback="backup")
    save(name="other", fallback="backup")

    verifiers.delete(verifiers.get("backup"))
    db.session.commit()
    db.session.expire_all()

    assert verifiers.get("main").fallback is None
    assert verifiers.get("other").fallback_id is None
    with pytest.raises(NotFound):
        verifiers.get("backup")


# -- confirmation: a test code to the admin's phone --------------------------------------------


@pytest.fixture
def admin_user(make_user: Callable[..., User]) -> User:
    return make_user(username="root", is_admin=True)


def outbox(app: Flask) -> list[dict[str, Any]]:
    path = Path(app.instance_path) / "sms-outbox.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def send_test(app: Flask, row: Verifier, admin: User) -> tuple[Challenge, str]:
    with app.test_request_context("/admin/verifiers", base_url="https://id.example.org"):
        challenge = confirmation.send_test_code(row, "06 12345678", admin)
    last_line = outbox(app)[-1]["text"].splitlines()[-1]
    match = re.fullmatch(r"@id\.example\.org #(\d{6})", last_line)
    assert match, last_line
    return challenge, match.group(1)


def test_a_test_code_goes_through_the_console_outbox_and_confirms(app, ctx, admin_user):
    row, _ = save(provider="console")

    challenge, code = send_test(app, row, admin_user)
    result = confirmation.confirm(row, challenge.public_id, code, admin_user)
    db.session.commit()

    assert result.ok
    [message] = outbox(app)
    assert (message["to"], message["from"], message["purpose"]) == (PHONE, "Poort", "admin_test")
    assert "test code" in message["text"]
    assert row.confirmed_at is not None
    assert row.confirmed_by == admin_user.id
    assert challenge.delivery == "sent"
    verifiers.set_enabled(row, True)  # now allowed


def test_a_wrong_test_code_does_not_confirm(app, ctx, admin_user):
    row, _ = save(provider="console")
    challenge, code = send_test(app, row, admin_user)

    result = confirmation.confirm(
        row, challenge.public_id, f"{(int(code) + 1) % 10**6:06d}", admin_user
    )

    assert result.outcome is Outcome.WRONG
    assert row.confirmed_at is None


def test_a_code_from_before_an_options_change_is_refused(app, ctx, admin_user):
    row, _ = save(provider="console")
    challenge, code = send_test(app, row, admin_user)
    row, needs_test = save({"outbox": "other-outbox.jsonl"}, row=row, provider="console")
    assert needs_test

    with pytest.raises(InvalidInput) as caught:
        confirmation.confirm(row, challenge.public_id, code, admin_user)

    assert "before the verifier's settings changed" in caught.value.message
    db.session.expire_all()
    assert verifiers.get("spryng-nl").confirmed_at is None


def test_a_code_for_another_verifier_is_refused(app, ctx, admin_user, clock):
    first, _ = save(name="first", provider="console")
    second, _ = save(name="second", provider="console")
    challenge, code = send_test(app, first, admin_user)

    # Test codes are bound to their verifier: for another one the code is simply unknown.
    result = confirmation.confirm(second, challenge.public_id, code, admin_user)

    assert result.outcome is Outcome.UNKNOWN
    assert second.confirmed_at is None


def test_two_verifiers_can_be_tested_one_after_the_other(app, ctx, admin_user):
    first, _ = save(name="first", provider="console")
    second, _ = save(name="second", provider="console")
    first_challenge, first_code = send_test(app, first, admin_user)
    second_challenge, second_code = send_test(app, second, admin_user)

    assert confirmation.confirm(first, first_challenge.public_id, first_code, admin_user).ok
    assert confirmation.confirm(second, second_challenge.public_id, second_code, admin_user).ok


def test_a_code_for_another_admin_is_refused(app, ctx, admin_user, make_user):
    other = make_user(username="other", is_admin=True)
    row, _ = save(provider="console")
    challenge, code = send_test(app, row, admin_user)

    result = confirmation.confirm(row, challenge.public_id, code, other)

    assert result.outcome is Outcome.UNKNOWN
    assert row.confirmed_at is None


def test_a_test_code_uses_this_verifier_alone(ctx, admin_user):
    row, _ = save(name="main", options={"outcome": "temporary"})
    backup, _ = save(name="backup")
    confirmed_and_enabled(backup)
    row, _ = save(row=row, name="main", options={"outcome": "temporary"}, fallback="backup")

    from idp.sms import SmsNotSent

    with pytest.raises(SmsNotSent):
        confirmation.send_test_code(row, PHONE, admin_user)

    assert [s.provider for s in SENT] == ["fake"]
    challenge = db.session.scalars(select(Challenge)).one()
    assert challenge.delivery == "failed"


def test_a_test_code_to_a_bad_number_is_refused(ctx, admin_user):
    row, _ = save()

    with pytest.raises(InvalidInput) as caught:
        confirmation.send_test_code(row, "12", admin_user)

    assert caught.value.field == "phone"
    assert SENT == []
